"""KI-Verordnung: chatbot widgets disclosed or not, disclosure only after opening, the provider in
the privacy policy, an AI API contacted before consent (also a DSGVO finding), and the report's
column with "nicht betroffen". Local pages only; the vendors' hosts resolve to local servers."""

from __future__ import annotations

import subprocess
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks import ai_act, gdpr
from checks.ai_act import AiActSettings
from checks.ai_signatures import api_for, shipped, widget_for
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Reason, State, Target
from monitor import report
from monitor.config import load_config
from monitor.metrics import ResultCollector
from monitor.store import Store
from tests.a11y_site import html
from tests.helpers import KINDS
from tests.sites import Page, site

WIDGET_HOST = "widget.ki-anbieter.example"
WIDGET_JS = b"""(function () {
  const v = document.currentScript.dataset.variant;
  const box = document.createElement('div'); box.id = 'ki-widget';
  const b = document.createElement('button'); b.id = 'ki-launcher';
  b.textContent = v === 'offen' ? 'KI-Assistent: Fragen Sie unseren Chatbot' : 'Fragen? Wir helfen!';
  box.appendChild(b);
  b.addEventListener('click', function () {
    const m = document.createElement('div'); m.className = 'nachricht';
    m.textContent = v === 'nach-oeffnen' ? 'Hallo! Ich bin ein KI-System und beantworte Ihre Fragen automatisch.'
                                         : 'Hallo! Wie kann ich Ihnen helfen?';
    box.appendChild(m);
  });
  document.body.appendChild(box);
})();"""
SETTINGS = {"widgets": [{"vendor": "KI-Anbieter", "hosts": ["ki-anbieter.example"], "selectors": ["#ki-widget"],
                         "launcher": ["#ki-launcher"]}], "timeout": "20s", "settle": "0.5s"}
TZ = ZoneInfo("Europe/Berlin")


def page(variant: str | None, privacy: str = "/datenschutz-mit", extra: str = "") -> Page:
    widget = (f'<script src="http://{WIDGET_HOST}/widget.js" data-variant="{variant}"></script>' if variant else "")
    return Page(body=html(f"""<main><h1>Bürgerservice</h1><p>Willkommen.</p>{extra}</main>
<footer><a href="/impressum">Impressum</a> <a href="{privacy}">Datenschutzerklärung</a></footer>{widget}"""))


@pytest.fixture(scope="module")
def estate():
    third = {"/widget.js": Page(body=WIDGET_JS, content_type="application/javascript"),
             "/v1/chat/completions": Page(body=b"{}", content_type="application/json")}
    with site(third) as tport:
        routes = {
            "/ohne": page(None), "/offen": page("offen"), "/verdeckt": page("verdeckt", "/datenschutz-ohne"),
            "/nach-oeffnen": page("nach-oeffnen"),
            "/api": page(None, extra="<script>fetch('https://api.openai.com/v1/chat/completions', "
                                     "{method: 'POST', body: '{}'}).catch(function () {});</script>"),
            "/datenschutz-mit": Page(body=html("<main><h1>Datenschutzerklärung</h1><p>Für den Chat setzen wir den "
                                               "Dienst der KI-Anbieter GmbH ein (Art. 28 DSGVO).</p></main>")),
            "/datenschutz-ohne": Page(body=html("<main><h1>Datenschutzerklärung</h1><p>Wir verarbeiten Daten nach "
                                                "Art. 6 DSGVO.</p></main>")),
            "/impressum": Page(body=html("<main><h1>Impressum</h1></main>")),
        }
        with site(routes) as port:
            rules = f"MAP {WIDGET_HOST} 127.0.0.1:{tport}, MAP api.openai.com 127.0.0.1:{tport}"
            pool = BrowserPool(BrowserSettings(arguments=[f"--host-resolver-rules={rules}"]), 2)
            try:
                yield f"http://127.0.0.1:{port}", pool
            finally:
                pool.close()


def check(estate, path: str, **extra):
    base, pool = estate
    url = base + path
    return ai_act.run(Target("dienst", url, (url,)), AiActSettings.model_validate({**SETTINGS, **extra}),
                      CheckContext(browser=pool))


def states(result) -> dict[str, str]:
    return {k: m["state"] for k, m in result.evidence["markers"].items()}


def test_a_page_without_ai_is_not_affected_not_passed(estate):
    result = check(estate, "/ohne")
    assert result.state == State.UP and result.evidence["affected"] is False
    assert states(result) == {"no_ai_api": "pass"}  # nothing to disclose: no disclosure marker at all
    assert result.measurements["widgets"] == 0 and "nicht betroffen" in result.evidence["detail"]


def test_a_disclosed_widget_and_a_privacy_policy_naming_its_provider_pass(estate):
    result = check(estate, "/offen")
    assert states(result) == {"ai_disclosed": "pass", "ai_provider_named": "pass", "no_ai_api": "pass"}
    widget = result.evidence["widgets"][0]
    assert widget["vendor"] == "KI-Anbieter" and widget["where"] == "launcher"
    assert widget["hosts"] == (WIDGET_HOST,)  # seen in the network too
    assert result.state == State.UP


def test_an_undisclosed_widget_fails_even_when_opened_and_the_provider_is_not_named(estate):
    result = check(estate, "/verdeckt", open_widget=True)
    assert states(result)["ai_disclosed"] == "fail" and states(result)["ai_provider_named"] == "fail"
    assert result.state == State.DOWN and result.reason == Reason.NONCOMPLIANT
    widget = result.evidence["widgets"][0]
    assert widget["opened"] and "Wie kann ich Ihnen helfen" in widget["message_text"]


def test_a_disclosure_only_in_the_first_message_counts_when_opening_is_allowed(estate):
    opened = check(estate, "/nach-oeffnen", open_widget=True)
    assert states(opened)["ai_disclosed"] == "pass" and opened.evidence["widgets"][0]["where"] == "message"
    closed = check(estate, "/nach-oeffnen", open_widget=False)
    assert states(closed)["ai_disclosed"] == "unknown"
    assert "open_widget" in closed.evidence["markers"]["ai_disclosed"]["detail"]
    assert closed.state == State.DEGRADED


def test_an_ai_api_contacted_before_consent_is_an_ai_act_and_a_dsgvo_finding(estate):
    result = check(estate, "/api")
    assert states(result)["no_ai_api"] == "fail" and result.state == State.DOWN
    assert result.evidence["apis"][0]["host"] == "api.openai.com" and result.evidence["affected"] is True
    base, pool = estate
    recorded = gdpr.run(Target("dienst", base + "/api", (base + "/api",)), gdpr.GdprSettings(markers=["no_ai_api"]),
                        CheckContext(browser=pool))
    assert recorded.evidence["markers"]["no_ai_api"]["state"] == "fail"
    assert recorded.evidence["markers"]["no_ai_api"]["evidence"][0]["vendor"] == "OpenAI"


def test_the_shipped_list_is_valid_and_matches_vendor_hosts():
    ai = shipped()
    assert len(ai.widgets) >= 10 and len(ai.apis) >= 5
    assert widget_for("code.tidio.co", ai).vendor.startswith("Tidio")
    assert api_for("my-resource.openai.azure.com", ai).vendor == "Microsoft Azure OpenAI"
    assert api_for("openai.com.evil.example", ai) is None


def test_the_report_has_a_ki_verordnung_column_with_not_affected_shown_as_such(estate, tmp_path):
    base, _pool = estate
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - {{id: ohne, name: Ohne KI, category: kommune, operator: X, contact: x@example.invalid,
             urls: ["{base}/ohne"], checks: {{ai_act: {{}}}}}}
          - {{id: verdeckt, name: Verdeckter Chatbot, category: kommune, operator: X, contact: x@example.invalid,
             urls: ["{base}/verdeckt"], checks: {{ai_act: {{}}}}}}
        """), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n',
                                            encoding="utf-8")
    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    at = datetime(2026, 6, 1, 10, tzinfo=TZ)
    store.record(check(estate, "/ohne").replace(service_id="ohne", started_at=at))
    store.record(check(estate, "/verdeckt", open_widget=True).replace(service_id="verdeckt", started_at=at))
    files = report.build(store, config, 2026, tmp_path / "out", now=datetime(2027, 1, 5, tzinfo=TZ))
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    metrics = generate_latest(registry).decode()
    store.close()
    assert 'egov_ai_marker_passed{category="kommune",marker="ai_disclosed",service="verdeckt"' in metrics
    assert "KI-Anbieter" not in metrics  # vendor names and page text stay in the evidence, never in a label
    promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    html_text = files.html.read_text(encoding="utf-8")
    assert '<th scope="col">KI-Verordnung</th>' in html_text
    assert '<span class="light light-none">nicht betroffen</span>' in html_text
    assert '<span class="light light-red">rot</span><span class="why"> KI-Widget ohne Hinweis: KI-Anbieter' in html_text
    assert '<th scope="row">Ohne KI</th><td colspan="4">nicht betroffen</td>' in html_text
    assert "Chatbots ein, die sich nicht als KI zu erkennen geben" in html_text  # a top finding
    assert files.pdf is not None and files.pdf.stat().st_size > 10_000
    # the report with its new column and section still passes our own accessibility check
    from checks.accessibility import AccessibilitySettings, scan_page

    with site({"/": Page(body=files.html.read_bytes())}) as port:
        scanned = scan_page(estate[1], f"http://127.0.0.1:{port}/", AccessibilitySettings(timeout=60))
    assert scanned.scanned and scanned.violations == (), [(v.rule, v.targets[:3]) for v in scanned.violations]


@pytest.mark.parametrize(("text", "disclosed"), [
    ("KI-Assistent: Fragen Sie mich", True), ("Unser Chatbot hilft", True), ("Ich bin ein Bot.", True),
    ("Virtueller Assistent der Stadt", True), ("Antworten mit künstlicher Intelligenz", True),
    ("AI assistant – ask me anything", True), ("Powered by artificial intelligence", True),
    ("I am a virtual assistant", True), ("Fragen? Wir helfen!", False), ("Hilfe", False), ("Kiosk-Zeiten", False),
    ("Robotik-Wettbewerb", False)])
def test_disclosure_wording_in_german_and_english(text, disclosed):
    from checks.page import fold

    assert bool(ai_act.DISCLOSURE.search(fold(text))) is disclosed
