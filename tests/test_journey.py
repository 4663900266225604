"""Antragsstrecken against a local multi-step application, in a real Chromium."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from checks import journey as journey_check
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.journey import JourneySettings
from checks.result import Reason, State, Target
from tests import journey_app
from tests.journey_app import PASSWORD, TRACKER, steps

FIRST_NAME = "Mirabella-Testperson"  # test data: must not appear in the evidence


@pytest.fixture(scope="module")
def app():
    with journey_app.serve() as served:
        yield served


@pytest.fixture(scope="module")
def pool(app):
    port = app.url.rsplit(":", 1)[1]
    pool = BrowserPool(BrowserSettings(arguments=[f"--host-resolver-rules=MAP {TRACKER} 127.0.0.1:{port}"]), 2)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("journey-config")
    (base / "testdaten.yaml").write_text(f"vorname: {FIRST_NAME}\nnachname: Mustermann\nstrasse: Musterweg 1\n"
                                         "benutzer: erika\n", encoding="utf-8")
    (base / "nachweis.pdf").write_bytes(b"%PDF-1.4\n% Testnachweis\n")
    (base / "passwort.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    return base


def settings(files: Path, journey_steps: list[dict], **extra) -> JourneySettings:
    journey = {"name": "wohngeld", "title": "Wohngeld beantragen", "steps": journey_steps}
    journey.update(extra.pop("journey", {}))
    # 20 s a step: a loaded machine (test workers and browsers on two cores) never fails a healthy step
    raw = {"journeys": [journey], "data_file": "testdaten.yaml", "step_timeout": "20s", "timeout": "170s",
           "secrets": {"passwort": {"file": "passwort.txt"}}, **extra}
    return JourneySettings.model_validate(raw).bind_paths(files)


def walk(pool, app, s: JourneySettings):
    key = s.keys([app.url + "/"])[0]
    return journey_check.run(Target("wohngeld", key), s, CheckContext(browser=pool))


def by_name(result) -> dict[str, dict]:
    return {s["name"]: s for s in result.evidence["steps"]}


def test_good_journey_passes_every_step_and_submits_nothing(pool, app, files):
    before = len(app.submissions)
    result = walk(pool, app, settings(files, steps("gut")))
    steps_run = by_name(result)
    assert result.state == State.UP, result.evidence
    assert result.reason == Reason.OK
    assert all(s["state"] == "pass" for s in steps_run.values())
    assert steps_run["zusammenfassung"]["url"].endswith("/v/gut/zusammenfassung")
    assert result.url == app.url + "/#wohngeld"  # the service's URL and the journey's name: its series
    assert steps_run["start"]["url"].endswith("/v/gut/")  # the journey's own start page, relative to it
    assert result.measurements["success"] == 1.0 and result.measurements["steps_passed"] == len(steps_run)
    assert all(s["seconds"] > 0 for n, s in steps_run.items() if n != "ende")
    assert ("POST", "/v/gut/nachweis") in app.requests  # the upload step's form was sent, the last one not
    assert len(app.submissions) == before
    assert FIRST_NAME not in json.dumps(result.to_dict())


@pytest.mark.parametrize(("variant", "step", "reason", "found"), [
    ("fehler500", "weiter-person", Reason.HTTP_STATUS, "HTTP-Status 500"),
    ("umbenannt", "weiter-adresse", Reason.ELEMENT_NOT_FOUND, "„Fortfahren“"),
    ("haengt", "weiter-adresse", Reason.STEP_TIMEOUT, "lud noch"),
])
def test_a_broken_step_gives_its_reason_what_was_found_and_a_small_screenshot(pool, app, files, variant, step, reason,
                                                                                found):
    result = walk(pool, app, settings(files, steps(variant), **({"step_timeout": "8s"} if variant == "haengt" else {})))
    assert result.state == State.DOWN, result.evidence.get("detail")
    assert result.reason == reason, result.evidence.get("steps")  # which step failed, what it found
    assert result.evidence["failed_step"] == step
    failed = by_name(result)[step]
    assert failed["state"] == "fail" and failed["reason"] == reason.value
    assert found in failed["found"], failed
    assert failed["expected"]
    shot = failed["screenshot"]
    assert 0 < shot["bytes"] <= 150_000
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"])))
    assert image.format == "JPEG" and image.size == (shot["width"], shot["height"])
    after = list(result.evidence["steps"][list(by_name(result)).index(step) + 1:])
    assert after and all(s["state"] == "skipped" for s in after)
    assert result.measurements["success"] == 0.0
    assert FIRST_NAME not in json.dumps(result.to_dict())


def test_a_barrier_only_on_step_two_is_found_on_that_step(pool, app, files):
    result = walk(pool, app, settings(files, steps("barriere"), accessibility=True))
    assert result.state == State.DEGRADED and result.reason == Reason.FINDINGS, result.evidence["detail"]
    scanned = {s["name"]: s["accessibility"] for s in result.evidence["steps"] if "accessibility" in s}
    # each page under the step whose page it is (an open step's own page; a clicked-to page
    # under the first step on it), the click that opened it named: start, person, adresse,
    # nachweis, zusammenfassung
    assert set(scanned) == {"start", "vorname", "strasse", "nachweis", "zusammenfassung"}
    assert {n: a.get("opened_by") for n, a in scanned.items()} == {
        "start": None, "vorname": "starten", "strasse": "weiter-person", "nachweis": "weiter-adresse",
        "zusammenfassung": "weiter-nachweis"}
    with_barriers = {n for n, a in scanned.items() if a["violations_total"]}
    assert with_barriers == {"vorname"}  # the personal data page, where the first name is filled in
    assert scanned["vorname"]["page"].endswith("/v/barriere/person")
    rules = {v["rule"] for v in scanned["vorname"]["violations"]}
    assert {"image-alt", "label"} <= rules
    assert result.measurements["barriers_critical"] >= 2
    clean = walk(pool, app, settings(files, steps("gut"), accessibility=True))
    assert clean.state == State.UP and clean.measurements["barriers_critical"] == 0


def test_a_tracker_loaded_only_on_step_four_is_attributed_to_it(pool, app, files):
    result = walk(pool, app, settings(files, steps("tracker"), gdpr=True))
    gdpr = result.evidence["gdpr"]
    assert [(t["host"], t["step"]) for t in gdpr["trackers"]] == [(TRACKER, "weiter-adresse")]
    assert gdpr["trackers"][0]["page"].endswith("/v/tracker/nachweis")  # the page that loaded it, not the start page
    assert gdpr["markers"]["no_trackers"]["state"] == "fail"
    assert result.state == State.DEGRADED and result.measurements["trackers"] == 1
    assert all(s["state"] == "pass" for s in result.evidence["steps"])
    clean = walk(pool, app, settings(files, steps("gut"), gdpr=True))
    assert not clean.evidence["gdpr"]["trackers"] and clean.evidence["gdpr"]["markers"]["no_trackers"]["state"] == "pass"


def test_a_journey_misconfigured_to_submit_is_stopped_by_the_browser(pool, app, files):
    before = len(app.submissions)
    result = walk(pool, app, settings(files, steps("gut", submit=True)))
    failed = by_name(result)["absenden"]
    assert failed["state"] == "fail" and failed["reason"] == Reason.BLOCKED_REQUEST.value
    assert any(u.endswith("/v/gut/absenden") for u in failed["blocked"])
    assert result.reason == Reason.BLOCKED_REQUEST and result.measurements["blocked_requests"] >= 1
    assert len(app.submissions) == before
    # on a test system the last step may submit: the catalog says so explicitly
    walked = walk(pool, app, settings(files, steps("gut", submit=True), journey={"test_system": True}))
    assert walked.state == State.UP and len(app.submissions) == before + 1
    app.submissions.pop()


def test_never_request_patterns_are_blocked_from_the_first_step(pool, app, files):
    asked = app.requests.count(("GET", "/v/gut/person"))
    result = walk(pool, app, settings(files, steps("gut"), journey={"never_request": ["*/v/gut/person*"]}))
    assert result.evidence["failed_step"] == "starten"  # the link to the blocked page
    failed = by_name(result)["starten"]
    assert failed["reason"] == Reason.BLOCKED_REQUEST.value and failed["blocked"][0].endswith("/v/gut/person")
    assert app.requests.count(("GET", "/v/gut/person")) == asked  # the server never heard of it


def test_a_login_wall_stops_a_journey_without_login_and_a_login_gets_through(pool, app, files, monkeypatch):
    wall = [dict(s, open="/v/login/") if s["name"] == "start" else s for s in steps("gut")]
    result = walk(pool, app, settings(files, wall))
    assert result.evidence["failed_step"] == "startseite"
    failed = by_name(result)["startseite"]
    assert failed["reason"] == Reason.EXPECTATION_FAILED.value
    assert "Anmelden mit dem Servicekonto" in failed["found"] and "Wohngeld beantragen" in failed["expected"]
    monkeypatch.setenv("EGOV_TEST_JOURNEY_PW", PASSWORD)
    logged_in = walk(pool, app, settings(files, steps("login"), secrets={"passwort": {"env": "EGOV_TEST_JOURNEY_PW"}}))
    assert logged_in.state == State.UP, logged_in.evidence["detail"]
    assert PASSWORD not in json.dumps(logged_in.to_dict())


def test_a_failure_screenshot_paints_over_passwords_and_test_data(pool, app, files):
    journey_steps = [{"name": "start", "open": "/v/login/anmelden"},
                     {"name": "benutzer", "fill": "Benutzername", "value": "vorname"},
                     {"name": "passwort", "fill": "Passwort", "value": "passwort"},
                     {"name": "weiter", "expect": {"text": "gibt es hier nicht"}, "timeout": "1s"},
                     {"name": "ende", "stop": True}]
    result = walk(pool, app, settings(files, journey_steps))
    shot = by_name(result)["weiter"]["screenshot"]
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L")
    scale = shot["width"] / 1280  # the test browser's window width
    with pool.session(deadline=30) as session:  # the same page, the same layout: where the fields are
        session.driver.get(app.url + "/v/login/anmelden")
        rects = session.driver.execute_script(
            "return ['u', 'p'].map(id => { const r = document.getElementById(id).getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom]; });")
    for left, top, right, bottom in rects:
        box = image.crop((int(left * scale) + 2, int(top * scale) + 2, int(right * scale) - 2, int(bottom * scale) - 2))
        assert box.size[0] > 0 and box.size[1] > 0
        assert box.getextrema()[1] < 60, "a field with a value is painted over"
    label = image.crop((0, 0, shot["width"], int(rects[0][1] * scale) - 4))
    assert label.getextrema()[1] > 200  # the rest of the page is still readable (not all black)


LOGIN = [{"name": "konto", "open": "/v/login/konto"},
         {"name": "benutzer", "fill": "Benutzername", "value": "benutzer"},
         {"name": "passwort", "fill": "Passwort", "value": "passwort"},
         {"name": "anmelden", "click": "Anmelden"},
         {"name": "angemeldet", "expect": {"text": "Wohngeld beantragen", "no_error": True}},
         {"name": "ende", "stop": True}]


def _login_prefix(files, app, password_file="passwort.txt"):
    journey = {"name": "login", "steps": LOGIN}
    s = JourneySettings.model_validate({"journeys": [journey], "data_file": "testdaten.yaml",
                                        "secrets": {"passwort": {"file": password_file}}}).bind_paths(files)
    return s.journey_prefix("login", app.url + "/")


def test_after_journey_scans_the_pages_behind_a_login(pool, app, files):
    from checks import accessibility, gdpr
    from checks.accessibility import AccessibilitySettings
    from checks.gdpr import GdprSettings

    konto = app.url + "/v/login/konto"
    target = Target("konto", konto, (konto,))
    ctx = CheckContext(browser=pool)
    outside = accessibility.run(target, AccessibilitySettings(markers=[]), ctx)
    inside = accessibility.run(target, AccessibilitySettings(markers=[], login=_login_prefix(files, app)), ctx)
    assert outside.evidence["pages"][0]["final_url"].endswith("/v/login/anmelden")
    assert "image-alt" not in {v["rule"] for v in outside.evidence["pages"][0]["violations"]}
    assert inside.evidence["pages"][0]["final_url"] == konto
    assert "image-alt" in {v["rule"] for v in inside.evidence["pages"][0]["violations"]}

    recorded = gdpr.run(target, GdprSettings(markers=["no_trackers"], login=_login_prefix(files, app)), ctx)
    assert recorded.evidence["markers"]["no_trackers"]["state"] == "fail"
    assert recorded.evidence["pages"][0]["final_url"] == konto
    assert TRACKER in json.dumps(recorded.to_dict()["evidence"]["markers"]["no_trackers"])
    assert PASSWORD not in json.dumps(inside.to_dict()) + json.dumps(recorded.to_dict())


def test_a_failed_login_is_said_and_no_page_counts_as_scanned(pool, app, files, tmp_path):
    from checks import accessibility
    from checks.accessibility import AccessibilitySettings

    wrong = files / "falsch.txt"
    wrong.write_text("nicht-das-passwort\n", encoding="utf-8")
    konto = app.url + "/v/login/konto"
    result = accessibility.run(Target("konto", konto, (konto,)),
                               AccessibilitySettings(markers=[], login=_login_prefix(files, app, "falsch.txt")),
                               CheckContext(browser=pool))
    assert result.state == State.UNKNOWN and result.reason == Reason.EXPECTATION_FAILED
    assert "Anmeldung (Strecke login) gescheitert an Schritt angemeldet" in result.evidence["detail"]
    assert "Benutzername oder Passwort falsch" in result.evidence["detail"]


def test_a_secret_missing_where_the_journey_runs_is_said_not_guessed(pool, app, files, monkeypatch):
    monkeypatch.delenv("EGOV_TEST_JOURNEY_PW", raising=False)
    result = walk(pool, app, settings(files, steps("login"), secrets={"passwort": {"env": "EGOV_TEST_JOURNEY_PW"}}))
    assert result.state == State.UNKNOWN and result.reason == Reason.INTERNAL_ERROR
    assert "EGOV_TEST_JOURNEY_PW" in result.evidence["detail"] and "nicht gesetzt" in result.evidence["detail"]


def test_a_single_page_form_is_followed_in_place_without_waiting_for_a_navigation(pool, app, files):
    journey_steps = [{"name": "start", "open": "/v/spa/"},
                     {"name": "vorname", "fill": "Vorname", "value": "vorname"},
                     {"name": "weiter", "click": "Weiter"},
                     {"name": "anschrift", "expect": {"text": "Schritt 2: Anschrift"}},
                     {"name": "ende", "stop": True}]
    posts = sum(1 for m, _p in app.requests if m == "POST")
    # a step limit below the wait for a real navigation: the prevented submission is seen as such
    result = walk(pool, app, settings(files, journey_steps, step_timeout="5s"))
    assert result.state == State.UP, result.evidence
    assert sum(1 for m, _p in app.requests if m == "POST") == posts


def test_the_session_cookie_of_the_journeys_own_login_is_necessary_and_others_can_be_declared(pool, app, files,
                                                                                              monkeypatch):
    """DSGVO along a journey with a login: the first-party cookie the login response sets is
    the session the citizen asked for (TDDDG § 25 (2) Nr. 2), not a non-essential cookie."""
    result = walk(pool, app, settings(files, steps("login"), gdpr=True))
    gdpr = result.evidence["gdpr"]
    assert list(gdpr["login_cookies"]) == ["sitzung"]
    assert _nonessential(result) == {"vorname"}  # the app keeps the first name in a cookie: that one stays a finding
    assert result.measurements["nonessential_cookies"] == 1
    # were the login not recognised, the cookie would count as non-essential; declared by name, it is necessary
    monkeypatch.setattr(journey_check, "_login_steps", lambda journey, secrets: set())
    unrecognised = walk(pool, app, settings(files, steps("login"), gdpr=True))
    assert _nonessential(unrecognised) == {"vorname", "sitzung"}
    declared = walk(pool, app, settings(files, steps("login"), gdpr=True, necessary_names=["sitz*", "vorn?me"]))
    assert "gdpr" in declared.evidence, declared.evidence.get("detail")
    assert declared.evidence["gdpr"]["markers"]["no_nonessential_cookies"]["state"] == "pass"


def test_the_dsgvo_check_behind_a_login_counts_the_logins_session_cookie_as_necessary(pool, app, files):
    """`after_journey` in the DSGVO kind: the first-party cookie the login's response set is the
    session the citizen asked for; the check names it and does not flag it (issue 35)."""
    from checks import gdpr
    from checks.gdpr import GdprSettings

    konto = app.url + "/v/login/konto"
    recorded = gdpr.run(Target("konto", konto, (konto,)),
                        GdprSettings(markers=["no_nonessential_cookies"], login=_login_prefix(files, app)),
                        CheckContext(browser=pool))
    assert recorded.evidence["pages"][0]["final_url"] == konto
    assert list(recorded.evidence["login_cookies"]) == ["sitzung"]
    marker = recorded.evidence["markers"]["no_nonessential_cookies"]
    assert "sitzung" not in {c["name"] for c in marker.get("evidence") or ()}, marker
    assert marker["state"] == "pass", marker


def _nonessential(result) -> set[str]:
    marker = result.evidence["gdpr"]["markers"]["no_nonessential_cookies"]
    return {c["name"] for c in marker.get("evidence") or ()}
