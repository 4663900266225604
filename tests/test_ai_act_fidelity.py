"""The AI-Act check finds every assistant and reads what a visitor reads (issue 42): unlisted
assistants, human-staffed live chats, disclosure inside a cross-origin frame, a launcher whose
text changes on opening beside an unrelated mention of KI, shadow DOM, a widget injected late,
provider naming by legal entity or product, a self-hosted assistant, and the shipped defaults
(an undisclosed assistant fails and so alerts). Local pages; other origins on other ports."""

from __future__ import annotations

import pytest

from checks import ai_act
from checks.ai_act import AiActSettings
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Reason, State, Target
from tests.a11y_site import html
from tests.sites import Page, site

pytestmark = pytest.mark.slow

FOOTER = '<footer><a href="/impressum">Impressum</a> <a href="{privacy}">Datenschutzerklärung</a></footer>'
FIXED = "position:fixed;right:16px;bottom:16px;width:320px"


def page(body: str, privacy: str = "/datenschutz") -> Page:
    return Page(body=html(f"<main><h1>Bürgerservice</h1><p>Willkommen im Rathaus.</p></main>{body}"
                          + FOOTER.format(privacy=privacy)))


def routes(other: str) -> dict[str, Page]:
    return {
        # an assistant of a vendor no list knows: container #chatbot, an iframe titled "Chatbot"
        # (invisible to a visitor), a launcher "Fragen Sie Lisa", a window that says nothing of AI
        "/lisa": page(f"""<div id="chatbot" style="{FIXED}"><button id="auf">Fragen Sie Lisa</button>
<iframe title="Chatbot" src="/lisa-fenster" style="display:none" id="fenster"></iframe></div>
<script>document.getElementById('auf').onclick = () => {{ document.getElementById('fenster').style.display = 'block'; }};
</script>"""),
        "/lisa-fenster": Page(body=html("<p>Hallo, ich bin Lisa. Wie kann ich Ihnen helfen?</p>")),
        # a human-staffed live chat of a listed vendor (Userlike: staffed either way)
        "/team": page(f"""<div id="userlike" style="{FIXED}"><button>Chatten Sie mit unserem Team</button>
<p>Frau Becker ist online</p></div>"""),
        # a disclosed assistant inside a cross-origin frame
        "/fremd": page(f"""<div class="chat-widget" style="{FIXED};height:200px">
<iframe title="Chat" src="{other}/assistent" style="width:300px;height:180px"></iframe></div>"""),
        # the launcher's text changes on opening; an unrelated news item mentions KI
        "/hilfe": page(f"""<section><h2>Neuigkeiten</h2><p>Die Stadt testet KI in der Verwaltung.</p></section>
<div id="chatbot-box" style="{FIXED}"><button id="hb">Hilfe</button></div>
<script>document.getElementById('hb').onclick = function () {{ this.textContent = 'Schließen';
  const w = document.createElement('div'); w.className = 'chat-fenster'; w.textContent = 'Wie kann ich helfen?';
  document.body.appendChild(w); }};</script>"""),
        # Dialogflow Messenger: its label only inside an open shadow root
        "/schatten": page("""<df-messenger id="df"></df-messenger>
<script>const root = document.getElementById('df').attachShadow({mode: 'open'});
root.innerHTML = '<div style="position:fixed;right:10px;bottom:10px"><button>Chatbot – fragen Sie uns</button></div>';
</script>""", privacy="/datenschutz-google"),
        # a widget injected 3 s after load, by a timer (no network)
        "/spaet": page(f"""<script>setTimeout(() => {{ const d = document.createElement('div'); d.id = 'kauz-widget';
d.style.cssText = '{FIXED}'; d.innerHTML = '<button>Digitaler Assistent (KI)</button>';
document.body.appendChild(d); }}, 3000);</script>"""),
        # a self-hosted assistant: no vendor, nothing outside the site
        "/eigen": page(f"""<div id="assistent" class="ki-assistent" style="{FIXED}">
<button>KI-Assistent der Stadt</button></div>"""),
        # an undisclosed assistant of a listed vendor, shipped defaults
        "/moin": page(f"""<div id="moinai-widget" style="{FIXED}"><button id="m">Fragen?</button></div>
<script>document.getElementById('m').onclick = () => {{ const p = document.createElement('p');
p.textContent = 'Hallo! Wie kann ich helfen?'; document.getElementById('moinai-widget').appendChild(p); }};</script>"""),
        # a vendor whose product is staffed either way, saying nothing either way
        "/unklar": page(f"""<div id="userlike" style="{FIXED}"><button id="u">Fragen?</button></div>
<script>document.getElementById('u').onclick = () => {{ const p = document.createElement('p');
p.textContent = 'Wie können wir helfen?'; document.getElementById('userlike').appendChild(p); }};</script>"""),
        "/datenschutz": Page(body=html("<main><h1>Datenschutzerklärung</h1><p>Wir verarbeiten Daten nach Art. 6 "
                                       "DSGVO.</p></main>")),
        "/datenschutz-google": Page(body=html("<main><h1>Datenschutzerklärung</h1><p>Für den Chat nutzen wir "
                                              "Dialogflow, ein Dienst der Google Ireland Limited.</p></main>")),
        "/impressum": Page(body=html("<main><h1>Impressum</h1></main>")),
    }


@pytest.fixture(scope="module")
def estate():
    third = {"/assistent": Page(body=html("<p>KI-Assistent: Ich beantworte Ihre Fragen automatisch.</p>"))}
    with site(third) as oport:
        with site(routes(f"http://127.0.0.1:{oport}")) as port:
            pool = BrowserPool(BrowserSettings(), 2)
            try:
                yield f"http://127.0.0.1:{port}", pool
            finally:
                pool.close()


def check(estate, path: str, **extra):
    base, pool = estate
    url = base + path
    settings = AiActSettings.model_validate({"timeout": "30s", "settle": "0.5s", **extra})
    return ai_act.run(Target("dienst", url, (url,)), settings, CheckContext(browser=pool))


def markers(result) -> dict[str, str]:
    return {k: m["state"] for k, m in result.evidence["markers"].items()}


def test_an_unlisted_assistant_is_found_and_its_invisible_title_is_no_disclosure(estate):
    result = check(estate, "/lisa")
    assert result.evidence["affected"] is True
    assert markers(result)["ai_disclosed"] == "fail", result.evidence
    widget = result.evidence["widgets"][0]
    assert widget["vendor"] == "unbekannter Anbieter" and widget["signal"].startswith("Element #chatbot")
    assert widget["confidence"] == "mittel" and widget["opened"] is True
    assert "Fragen Sie Lisa" in widget["launcher_text"] and "Chatbot" not in widget["launcher_text"]
    assert "ich bin Lisa" in widget["message_text"]
    assert (result.state, result.reason) == (State.DOWN, Reason.NONCOMPLIANT)


def test_a_human_staffed_live_chat_is_no_ai_system_and_raises_nothing(estate):
    result = check(estate, "/team")
    assert "ai_disclosed" not in markers(result) and result.state == State.UP, result.evidence
    assert result.evidence["affected"] is False and result.measurements["widgets"] == 0
    chat = result.evidence["human_chats"][0]
    assert chat["vendor"] == "Userlike" and "kein KI-System" in chat["detail"]


def test_a_disclosure_inside_a_cross_origin_frame_counts(estate):
    result = check(estate, "/fremd")
    assert markers(result)["ai_disclosed"] == "pass", result.evidence
    widget = result.evidence["widgets"][0]
    assert widget["where"] == "launcher" and "KI-Assistent" in widget["launcher_text"]


def test_a_changing_launcher_beside_an_unrelated_mention_of_ki_fails(estate):
    result = check(estate, "/hilfe")
    assert markers(result)["ai_disclosed"] == "fail", result.evidence
    widget = result.evidence["widgets"][0]
    assert "KI in der Verwaltung" not in widget.get("message_text", "") + widget["launcher_text"]
    assert "Wie kann ich helfen" in widget["message_text"]


def test_shadow_dom_is_read_and_the_provider_counts_by_product_and_legal_entity(estate):
    result = check(estate, "/schatten")
    assert markers(result) == {"ai_disclosed": "pass", "ai_provider_named": "pass", "no_ai_api": "pass"}, \
        result.evidence
    assert result.evidence["widgets"][0]["vendor"] == "Google Dialogflow Messenger"
    named = result.evidence["markers"]["ai_provider_named"]["evidence"][0]
    assert named["as"] in ("dialogflow", "google ireland limited")


def test_a_widget_injected_three_seconds_after_load_is_found_with_the_default_settle(estate):
    result = check(estate, "/spaet", settle="1.5s")
    assert result.evidence["affected"] is True, result.evidence
    assert result.evidence["widgets"][0]["vendor"] == "Kauz"
    assert markers(result)["ai_disclosed"] == "pass"


def test_a_self_hosted_assistant_needs_no_provider_in_the_privacy_policy(estate):
    result = check(estate, "/eigen")
    assert markers(result)["ai_disclosed"] == "pass", result.evidence
    assert markers(result)["ai_provider_named"] == "pass"
    assert "nicht erforderlich" in result.evidence["markers"]["ai_provider_named"]["detail"]


def test_an_undisclosed_assistant_fails_with_the_shipped_defaults(estate):
    assert AiActSettings().open_widget is True
    result = check(estate, "/moin")
    assert markers(result)["ai_disclosed"] == "fail", result.evidence
    assert result.measurements["marker_ai_disclosed"] == 0.0  # egov_ai_marker_passed 0: EgovAiWidgetUndisclosed


def test_a_page_without_any_chat_costs_no_watch_time(estate):
    import time

    t0 = time.monotonic()
    result = check(estate, "/datenschutz")
    assert result.evidence["affected"] is False
    assert time.monotonic() - t0 < 10  # no timers pending: the 10 s watch window is not waited out


def test_when_the_tool_cannot_tell_people_from_an_ai_it_says_so_and_does_not_fail(estate):
    result = check(estate, "/unklar")
    assert markers(result)["ai_disclosed"] == "unknown", result.evidence
    assert "nicht erkennbar, ob Menschen oder eine KI antworten" in result.evidence["markers"]["ai_disclosed"]["detail"]
    assert result.state != State.DOWN and "marker_ai_disclosed" not in result.measurements  # no alert


def test_a_chat_configured_as_human_staffed_is_never_judged(estate):
    result = check(estate, "/moin", human_chats=["moin.ai"])
    assert "ai_disclosed" not in markers(result) and result.evidence["human_chats"][0]["vendor"] == "moin.ai"
    by_css = check(estate, "/lisa", human_chats=["#chatbot"])
    assert "ai_disclosed" not in markers(by_css) and by_css.state == State.UP
