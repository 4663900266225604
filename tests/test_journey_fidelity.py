"""Journeys that tell the truth (issue 35), on a form unlike the project's own test app:
a wrong value never passes, a blocked submission names the fields that block it, and a
list a script fills later is waited for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks import journey as journey_check
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.journey import JourneySettings
from checks.result import Reason, State, Target
from tests import form_app
from tests.helpers import KINDS

pytestmark = pytest.mark.slow
NAME = "Erika Mustermann"
PASSWORD = "Park-Ausweis-2026!"


@pytest.fixture(scope="module")
def app():
    with form_app.serve() as url:
        yield url


@pytest.fixture(scope="module")
def pool():
    pool = BrowserPool(BrowserSettings(hosts={form_app.TRACKER: "127.0.0.1"}), 1)  # the tracker: this app
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("form-config")
    (base / "daten.yaml").write_text(f"name: {NAME}\ngeburtsdatum: '1980-05-17'\ndatum_de: 17.05.1980\n"
                                     "benutzer: erika\n", encoding="utf-8")
    (base / "passwort.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    (base / "nachweis.pdf").write_bytes(b"%PDF-1.4\n% Nachweis\n")
    return base


def walk(pool, app, files, journey_steps, **extra):
    raw = {"journeys": [{"name": "parkausweis", "title": "Bewohnerparkausweis", "steps": journey_steps}],
           "data_file": "daten.yaml", "step_timeout": "8s", "timeout": "90s", **extra}
    settings = JourneySettings.model_validate(raw).bind_paths(files)
    key = settings.keys([app + "/"])[0]
    return journey_check.run(Target("parkausweis", key), settings, CheckContext(browser=pool))


def steps_of(result) -> dict[str, dict]:
    return {s["name"]: s for s in result.evidence["steps"]}


def test_the_good_form_passes_with_every_value_verified(pool, app, files):
    result = walk(pool, app, files, form_app.steps("gut"))
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert steps_of(result)["zusammenfassung"]["url"].split("?")[0].endswith("/f/gut/zusammenfassung")
    query = steps_of(result)["zusammenfassung"]["url"]
    assert "gemeinde=homburg" in query and "nachweis=nachweis.pdf" in query  # what the form really sent
    assert "geb=[Testdatum]" in query  # test data is scrubbed from the evidence, the date too
    assert NAME not in json.dumps(result.to_dict()) and "Erika" not in json.dumps(result.to_dict())


def test_a_date_in_another_format_fails_with_expected_and_found(pool, app, files):
    """The browser refuses '17.05.1980' for <input type=date> (it takes ISO): the step fails,
    naming the format, instead of passing with nonsense in the field."""
    result = walk(pool, app, files, form_app.steps("gut", date="17.05.1980"))
    assert (result.state, result.reason) == (State.DOWN, Reason.VALUE_MISMATCH), result.evidence
    step = steps_of(result)["geburtsdatum"]
    assert step["state"] == "fail" and step["reason"] == "value_mismatch"
    assert step["found"] == "Feld ist leer (Feldtyp date: Wert im ISO-Format angeben, z. B. 2001-12-24)"
    assert result.evidence["failed_step"] == "geburtsdatum"


def test_a_field_that_cuts_the_value_fails_without_showing_the_test_data(pool, app, files):
    result = walk(pool, app, files, form_app.steps("kurz"))
    assert (result.state, result.reason) == (State.DOWN, Reason.VALUE_MISMATCH), result.evidence
    step = steps_of(result)["name"]
    assert step["reason"] == "value_mismatch"
    assert step["expected"].startswith("„Name“ = „") and step["found"].startswith("Feld enthält „")
    assert NAME not in json.dumps(result.to_dict())


def test_a_new_required_field_is_reported_on_the_submitting_step_with_its_label(pool, app, files):
    result = walk(pool, app, files, form_app.steps("pflicht"))
    assert (result.state, result.reason) == (State.DOWN, Reason.FORM_INVALID), result.evidence
    assert result.evidence["failed_step"] == "weiter"
    step = steps_of(result)["weiter"]
    assert step["found"].startswith("Formular nicht abgeschickt: „Steuer-ID“: ")
    assert step["seconds"] < 6  # said at once, not after the 8 s wait for a navigation that never comes
    assert steps_of(result)["zusammenfassung"]["state"] == "skipped"


def test_a_submission_the_service_refuses_fails_on_the_submitting_step_with_its_words(pool, app, files):
    """The service answers the submission with the form again, the date marked invalid and an
    error summary: the click that submitted fails (not the next step's expectation), naming
    the field, its error text and the page's summary."""
    result = walk(pool, app, files, form_app.steps("server"))
    assert (result.state, result.reason) == (State.DOWN, Reason.FORM_INVALID), result.evidence
    assert result.evidence["failed_step"] == "weiter"
    step = steps_of(result)["weiter"]
    assert step["found"] == ("Formular vom Dienst zurückgewiesen: Felder: „Geburtsdatum“: Geburtsdatum vor 1990; "
                             "Hinweis der Seite: Es gibt ein Problem Das Geburtsdatum darf nicht vor 1990 liegen")
    assert step["url"].split("?")[0].endswith("/f/server/zusammenfassung")
    assert steps_of(result)["zusammenfassung"]["state"] == "skipped"


def test_a_submission_the_pages_script_stops_fails_in_place_with_the_alert(pool, app, files):
    result = walk(pool, app, files, form_app.steps("skript"))
    assert (result.state, result.reason) == (State.DOWN, Reason.FORM_INVALID), result.evidence
    step = steps_of(result)["weiter"]
    assert step["found"] == ("Eingaben auf der Seite zurückgewiesen: Felder: „Geburtsdatum“; Hinweis der Seite: "
                             "Bitte korrigieren Sie das Geburtsdatum: Antragsteller müssen nach 1990 geboren sein.")
    assert step["seconds"] < 6  # said once the click settled, not after the step's 8 s


def test_a_friendly_live_region_on_the_next_page_is_no_refusal(pool, app, files):
    result = walk(pool, app, files, form_app.steps("hinweis"))
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence


def test_behind_the_login_the_session_cookie_is_necessary_and_the_late_tracker_names_its_step(pool, app, files):
    """The new form with a login in front and a tracker on the summary page, recorded for
    DSGVO: the session cookie the login's answer set is necessary (and named), the tracker is
    attributed to the step whose page loaded it, the password is nowhere in the result."""
    result = walk(pool, app, files, form_app.steps("konto"), gdpr=True,
                  secrets={"passwort": {"file": "passwort.txt"}})
    assert (result.state, result.reason) == (State.DEGRADED, Reason.FINDINGS), result.evidence
    assert all(s["state"] == "pass" for s in result.evidence["steps"]), result.evidence["steps"]
    gdpr = result.evidence["gdpr"]
    assert list(gdpr["login_cookies"]) == ["anmeldung"]
    nonessential = gdpr["markers"]["no_nonessential_cookies"]
    assert nonessential["state"] == "pass", nonessential
    (tracker,) = gdpr["trackers"]
    assert (tracker["host"], tracker["step"]) == (form_app.TRACKER, "weiter")
    assert tracker["page"].split("?")[0].endswith("/f/konto/zusammenfassung")  # the page that loaded it
    assert gdpr["markers"]["no_trackers"]["state"] == "fail"
    text = json.dumps(result.to_dict())
    assert PASSWORD not in text and "Park-Ausweis" not in text and NAME not in text


def test_choose_waits_for_options_a_script_adds_later(pool, app, files):
    result = walk(pool, app, files, form_app.steps("spaet"))
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert steps_of(result)["gemeinde"]["seconds"] > 2  # it waited for the list
    result = walk(pool, app, files, form_app.steps("spaet"), step_timeout="2s")
    assert (result.state, result.reason) == (State.DOWN, Reason.ELEMENT_NOT_FOUND)
    assert steps_of(result)["gemeinde"]["found"] == "Auswahlmöglichkeiten: „Bitte wählen“"


@pytest.mark.parametrize("wait", [{"element": "Merzig", "role": "option"}, {"css": "#gemeinde option[value=merzig]"}])
def test_wait_for_finds_late_options_by_role_or_css(pool, app, files, wait):
    journey_steps = form_app.steps("spaet")
    journey_steps.insert(3, {"name": "liste", "wait_for": wait})
    result = walk(pool, app, files, journey_steps)
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert steps_of(result)["liste"]["state"] == "pass"


def test_paths_of_a_catalog_are_absolute_whatever_the_working_directory(tmp_path, monkeypatch):
    """`--config config/settings.yaml` from the clone (as the README shows): the upload file and
    the data file are absolute paths, so chromedriver finds them (it said "path is not absolute")."""
    from monitor.config import load_config

    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "daten.yaml").write_text("name: x\n", encoding="utf-8")
    (conf / "nachweis.pdf").write_bytes(b"%PDF-1.4\n")
    (conf / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path}/s.db"}}\n')
    (conf / "catalog.yaml").write_text("""services:
  - id: park
    name: Parkausweis
    category: efa
    operator: Stadt
    contact: ops@example.invalid
    urls: [http://127.0.0.1:9/f/gut/]
    checks:
      journey:
        data_file: daten.yaml
        journeys:
          - name: antrag
            steps:
              - {name: start, open: ./}
              - {name: name, fill: Name, value: name}
              - {name: nachweis, upload: Nachweis hochladen, file: nachweis.pdf}
              - {name: ende, stop: "Formular erreicht, nichts absenden"}
""")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("config/settings.yaml"), KINDS)
    journey = config.services["park"].checks["journey"]
    assert journey.data_file == conf.resolve() / "daten.yaml"
    upload = next(s for s in journey.journeys[0].steps if s.upload)
    assert upload.file is not None and upload.file.is_absolute() and upload.file.is_file()


def test_an_upload_file_gone_since_validation_is_unknown_naming_the_path(pool, app, files, tmp_path):
    gone = tmp_path / "weg.pdf"
    gone.write_bytes(b"%PDF-1.4\n")
    journey_steps = form_app.steps("gut")
    next(s for s in journey_steps if s.get("upload"))["file"] = str(gone)
    raw = {"journeys": [{"name": "parkausweis", "steps": journey_steps}], "data_file": "daten.yaml", "step_timeout": "8s"}
    settings = JourneySettings.model_validate(raw).bind_paths(files)
    gone.unlink()  # removed after the configuration was read
    result = journey_check.run(Target("parkausweis", settings.keys([app + "/"])[0]), settings, CheckContext(browser=pool))
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.INTERNAL_ERROR), result.evidence
    step = steps_of(result)["nachweis"]
    assert step["expected"] == f"Testdatei {gone}" and step["found"] == "Datei fehlt oder ist nicht lesbar"
    assert step["seconds"] < 2  # said at once, not after a timeout


@pytest.mark.alone
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_sigterm_during_a_long_journey_ends_within_5_s_recorded_as_cut_short(app, tmp_path):
    """A journey waiting for an option that never comes (60 s step limit): SIGTERM ends the
    daemon within 5 s, the run is stored as unknown/monitor_stopped, no traceback is logged."""
    import textwrap
    import time

    from tests.daemon import DaemonProcess, write_daemon_config
    from tests.test_daemon import sample, store_of

    (tmp_path / "daten.yaml").write_text("name: Erika\n", encoding="utf-8")
    service = textwrap.dedent(f"""\
      - id: park
        name: Parkausweis
        category: efa
        operator: Stadt
        contact: ops@example.invalid
        urls: ["{app}/f/gut/"]
        checks:
          journey:
            interval: 5m
            jitter: 0s  # at once: the default (10 % of 5 min) could delay the first run past the wait below
            step_timeout: 60s
            timeout: 170s
            data_file: daten.yaml
            journeys:
              - name: antrag
                steps:
                  - {{name: start, open: ./}}
                  - {{name: name, fill: Name, value: name}}
                  - {{name: gemeinde, choose: Gemeinde, option: Gibt es nicht}}
                  - {{name: ende, stop: "nie erreicht"}}
    """)
    daemon = DaemonProcess(write_daemon_config(tmp_path, service))
    daemon.wait_ready()
    daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "egov_checks_in_flight") == 1, timeout=120,
                    what="the journey under way")
    time.sleep(2)  # inside the step that waits for the option
    t0 = time.monotonic()
    assert daemon.stop(timeout=60) == 0
    took = time.monotonic() - t0
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
    results = [r for _, r in store_of(daemon.settings).results("park")]
    assert [(r.state, r.reason) for r in results] == [(State.UNKNOWN, Reason.MONITOR_STOPPED)]
    assert "Traceback" not in daemon.log()
