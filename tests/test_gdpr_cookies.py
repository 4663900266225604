"""Cookie attempts in a real Chromium: third parties that set cookies the browser refuses
count as much as those it stores (§ 25 TDDDG: the attempt to store), and the evidence says
which were refused and why. Local estate only: fake third-party names mapped to local TLS
servers by the browser's host rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checks import gdpr
from checks.browser import BrowserPool
from checks.context import CheckContext
from checks.gdpr import GdprSettings
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
