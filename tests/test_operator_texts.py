"""What operators read (issue 23): German detail texts, evidence as text rather than a Python
structure, a security.txt fix said once. Against local servers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from checks import availability, security
from checks.availability import AvailabilitySettings
from checks.context import CheckContext
from checks.result import CheckResult, Reason, State, Target
from tests.helpers import KINDS
from tests.sites import Page, site


def test_availability_details_are_german():
    routes = {"/kaputt": Page(status=500, body=b"Fehler"), "/gut": Page(body=b"Hallo")}
    with site(routes) as port:
        base = f"http://127.0.0.1:{port}"
        down = availability.run(Target("s", base + "/kaputt"), AvailabilitySettings(retries=0), CheckContext())
        missing = availability.run(Target("s", base + "/gut"),
                                   AvailabilitySettings(retries=0, body_must_contain=["Antrag"]), CheckContext())
    assert down.evidence["detail"] == "Status 500 nicht zugelassen (valid_status_codes)"
    assert missing.evidence["detail"] == "Suchwort nicht gefunden: 'Antrag'"


def test_a_finding_shows_its_evidence_as_text_and_a_security_txt_fix_once():
    result = CheckResult("s", "https://s.example/", "security", State.DOWN, Reason.NONCOMPLIANT,
                         datetime(2026, 6, 1, tzinfo=UTC), 1.0, {"score": 50.0}, {"grade": "D", "findings": [
                             {"area": "headers", "test": "server", "id": "server-version", "severity": "notice",
                              "title": "Server-Software", "message": "Server-Software mit Versionsnummer in Headern.",
                              "fix": "Versionsnummer entfernen.", "evidence": [{"server": "BaseHTTP/0.6 Python/3.11.7"}]}]})
    out = io.StringIO()
    KINDS["security"].show([result], Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "server: BaseHTTP/0.6 Python/3.11.7" in text and "[{'" not in text

    stxt = security.security_txt.analyse("https://s.example/.well-known/security.txt", 404, None, b"")
    message, _sep, fix = stxt.findings[0].message.partition(" Abhilfe: ")
    assert fix  # the analyser names its own fix ...
    routes = {"/": Page(body=b"<!doctype html><html lang=de><title>x</title></html>")}
    with site(routes) as port:
        url = f"http://127.0.0.1:{port}/"
        result = security.run(Target("s", url), security.SecuritySettings(tls=False), CheckContext())
    found = [f for f in result.to_dict()["evidence"]["findings"] if f["test"] == "security-txt"]
    assert found and all("Abhilfe" not in f["message"] and f["fix"] not in f["message"] for f in found)  # said once
    assert message.startswith("Keine security.txt unter")
