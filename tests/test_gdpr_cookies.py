"""Cookie attempts in a real Chromium: third parties that set cookies the browser refuses
count as much as those it stores (§ 25 TDDDG: the attempt to store), and the evidence says
which were refused and why. Local estate only: fake third-party names mapped to local TLS
servers by the browser's host rules."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from checks import gdpr
from checks.browser import BrowserPool
from checks.context import CheckContext
from checks.gdpr import GdprSettings
from checks.gdpr.recording import Recorder
from checks.result import Target
from tests.a11y_site import html
from tests.gdpr_site import browser_settings
from tests.sites import Page, site

pytestmark = pytest.mark.slow
PORTAL = "www.gemeinde-cookies.de"
WIDGET = "widget.tracker-cookies.example"


def frame_page(script: str = "") -> bytes:
    return html(f"<main><p>Widget</p>{script}</main>", title="Widget")


def portal(body: str) -> bytes:
    return html(f"<main><h1>Gemeinde</h1>{body}</main><footer><a href='/impressum'>Impressum</a> "
                "<a href='/datenschutz'>Datenschutz</a></footer>")


def frame(path: str) -> str:
    return f'<iframe src="https://{WIDGET}{path}" title="Widget"></iframe>'


FIRST = {
    "/no-samesite": Page(body=portal(frame("/no-samesite"))),
    "/none-secure": Page(body=portal(frame("/none-secure"))),
    "/none-insecure": Page(body=portal(frame("/none-insecure"))),
    "/script": Page(body=portal(frame("/script"))),
    "/redirect": Page(body=portal(f'<img src="https://{WIDGET}/pixel-redirect" alt="">')),
}
THIRD = {
    "/no-samesite": Page(body=frame_page(), headers=[("Set-Cookie", "_gid=x; Path=/")]),
    "/none-secure": Page(body=frame_page(), headers=[("Set-Cookie", "_gcl=1; Path=/; Max-Age=7776000; SameSite=None; Secure")]),
    "/none-insecure": Page(body=frame_page(), headers=[("Set-Cookie", "_fbp=2; Path=/; SameSite=None")]),
    "/script": Page(body=frame_page(
        "<script>document.cookie = 'js_lax=1; path=/';"
        "document.cookie = 'js_none=1; path=/; SameSite=None; Secure';"
        "document.cookie = 'gone=; max-age=0; path=/';</script>")),
    "/pixel-redirect": Page(302, [("Location", f"https://{WIDGET}/pixel.gif"),
                                  ("Set-Cookie", "uid=99; Path=/; Max-Age=31536000")], b""),
    "/pixel.gif": Page(body=b"GIF89a", content_type="image/gif"),
}


@pytest.fixture(scope="module")
def estate(ca) -> Iterator[tuple[BrowserPool, str]]:
    pair = ca.issue("gdpr-cookies", [PORTAL, WIDGET, "127.0.0.1"])
    with site(FIRST, tls=(pair.cert, pair.key)) as first, site(THIRD, tls=(pair.cert, pair.key)) as third:
        pool = BrowserPool(browser_settings([f"MAP {PORTAL} 127.0.0.1:{first}", f"MAP {WIDGET} 127.0.0.1:{third}"]), 2)
        try:
            yield pool, f"https://{PORTAL}"
        finally:
            pool.close()


def check(estate, path: str):
    pool, base = estate
    settings = GdprSettings(markers=["no_third_party_cookies", "no_nonessential_cookies"])
    result = gdpr.run(Target("gemeinde", base + path, (base + path,)), settings, CheckContext(browser=pool))
    marker = result.evidence["markers"]["no_third_party_cookies"]
    return result, marker, {c["name"]: c for c in marker["evidence"]}


@pytest.mark.parametrize(("path", "name", "stored", "reason"), [
    ("/no-samesite", "_gid", False, "ohne SameSite-Attribut als Lax behandelt (Drittanbieter-Kontext)"),
    ("/none-secure", "_gcl", True, None),
    ("/none-insecure", "_fbp", False, "SameSite=None ohne Secure"),
    ("/redirect", "uid", False, "ohne SameSite-Attribut als Lax behandelt (Drittanbieter-Kontext)"),
])
def test_header_cookies_count_stored_or_refused(estate, path, name, stored, reason):
    result, marker, cookies = check(estate, path)
    assert marker["state"] == "fail", marker  # the attempt alone fails the marker
    assert result.measurements["third_party_cookies"] == 1
    cookie = cookies[name]
    assert cookie["source"] == "header" and cookie["domain"] == WIDGET and cookie["stored"] is stored
    if stored:
        assert "refused" not in cookie and cookie["same_site"] == "None" and cookie["secure"] is True
        assert cookie["expires"][:2] == "20"  # an absolute date from Max-Age
    else:
        assert list(cookie["refused"]) == [reason] and cookie["reason_inferred"] is False
        assert "vom Browser abgelehnt" in marker["detail"]
        assert result.measurements["cookies_refused"] == 1
    if path == "/redirect":
        assert cookie["set_by"] == f"https://{WIDGET}/pixel-redirect"  # the hop that sent it, not the image
        assert cookie["expires"] != "Sitzung"
    else:
        assert cookie["set_by"] == f"https://{WIDGET}{path}"


def test_a_redirect_hops_cookie_is_its_own_whichever_order_devtools_reports_it(estate):
    """Chromium sends a redirect response's extra-info event (the Set-Cookie lines) before or
    after the next hop's requestWillBeSent, or even before the hop's own: the cookie belongs to
    the hop that sent it in every order (it was the image, now and then, in CI)."""
    def method(e: dict) -> str:
        return json.loads(e["message"])["message"]["method"]

    def url(e: dict) -> str:
        return str(json.loads(e["message"])["message"]["params"].get("request", {}).get("url", ""))

    def rid(e: dict) -> str:
        return str(json.loads(e["message"])["message"]["params"].get("requestId"))

    def image_loaded(log: list[dict]) -> bool:
        ids = {rid(e) for e in log if url(e).endswith("/pixel.gif")}
        return any(method(e) in ("Network.loadingFinished", "Network.loadingFailed") and rid(e) in ids for e in log)

    pool, base = estate
    with pool.session(60, fresh=True) as session:
        session.performance_log()
        session.driver.get(base + "/redirect")
        log: list[dict] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not image_loaded(log):
            log += session.performance_log()
    sent = next(rid(e) for e in log if "uid=99" in e["message"])
    # one extra-info event per response of the request, in the order of its responses
    extras = [e for e in log if method(e) == "Network.responseReceivedExtraInfo" and rid(e) == sent]
    assert len(extras) == 2 and "uid=99" in extras[0]["message"]
    rest = [e for e in log if not any(e is x for x in extras)]
    first = next(i for i, e in enumerate(rest) if url(e).endswith("/pixel-redirect"))
    nxt = next(i for i, e in enumerate(rest) if url(e).endswith("/pixel.gif"))
    orders = {"as recorded": log, "before either hop": rest[:first] + extras + rest[first:],
              "between the hops": rest[:nxt] + extras + rest[nxt:],
              "after the next hop": rest[:nxt + 1] + extras + rest[nxt + 1:], "at the end": rest + extras}
    for name, entries in orders.items():
        rec = Recorder()
        for i in range(0, len(entries), 3):  # fed in pieces, as the visit reads the log
            rec.feed(entries[i:i + 3])
        found = [(u, line) for u, line, _r in rec.header_cookies() if line.startswith("uid=")]
        assert found == [(f"https://{WIDGET}/pixel-redirect", "uid=99; Path=/; Max-Age=31536000")], name


def test_script_cookies_in_a_third_party_frame(estate):
    result, marker, cookies = check(estate, "/script")
    assert marker["state"] == "fail"
    assert set(cookies) == {"js_lax", "js_none"}  # the deletion ('gone', max-age=0) is no attempt to store
    lax, none = cookies["js_lax"], cookies["js_none"]
    assert lax["source"] == "script" and lax["stored"] is False and lax["reason_inferred"] is True
    assert list(lax["refused"]) == ["ohne SameSite=None im Drittanbieter-Kontext"] and lax["same_site"] == "nicht gesetzt"
    assert lax["set_by"] == f"Skript in https://{WIDGET}/script"
    assert none["stored"] is True and none["same_site"] == "None" and none["secure"] is True
    assert result.measurements["third_party_cookies"] == 2 and result.measurements["cookies_refused"] == 1


def test_refused_cookies_show_in_the_cli(estate, tmp_path):
    from monitor.kinds.gdpr import evidence_line as _gdpr_item

    _result, _marker, cookies = check(estate, "/no-samesite")
    line = _gdpr_item(cookies["_gid"])
    assert "versucht, vom Browser abgelehnt: ohne SameSite-Attribut als Lax behandelt" in line


def test_consent_pass_records_attempts_too(estate):
    pool, base = estate
    settings = GdprSettings(markers=["no_third_party_cookies"], consent_cookies=[{"name": "ok", "value": "1"}])
    result = gdpr.run(Target("gemeinde", base + "/none-insecure", (base + "/none-insecure",)), settings, CheckContext(browser=pool))
    after = {c["name"]: c for c in result.evidence["after_consent"]["summary"]["cookies"]}
    assert after["_fbp"]["stored"] is False and list(after["_fbp"]["refused"]) == ["SameSite=None ohne Secure"]
    assert result.measurements["after_third_party_cookies"] == 1


def test_page_seconds_exclude_the_wait_for_a_browser(estate):
    pool, base = estate
    settings = GdprSettings(markers=["no_third_party_cookies"], parallel_pages=2)
    one = BrowserPool(pool.settings, 1)
    try:  # two pages on one browser: the second waits for the first, and says so apart from its own time
        result = gdpr.run(Target("gemeinde", base + "/script", (base + "/script", base + "/no-samesite")),
                          settings, CheckContext(browser=one))
    finally:
        one.close()
    pages = result.evidence["pages"]
    assert all(p["seconds"] <= settings.timeout for p in pages)
    first, second = sorted(pages, key=lambda p: p["queue_seconds"])
    assert first["queue_seconds"] < 0.5 * second["queue_seconds"]
    assert second["queue_seconds"] >= 0.5 * first["seconds"]  # it waited about as long as the first visit took
