"""Runs a journey's steps in one browser session, each under its own time limit.

The session is a recording one (`BrowserPool.session(fresh=True)`): an empty profile and
the DevTools network log, which shows what each step made the browser request. Safety
lives in the browser itself (`guard.RequestGuard`): the journey's `never_request`
patterns are blocked from the first step on, and on the last step before the stop point
every form target of the page is blocked too, unless the journey runs against a test
system. An attempt to reach a blocked address fails the step with `blocked_request`.

Values typed into fields come from `values` (test data and secrets); they never leave
this module: the evidence is scrubbed of them and a failure screenshot paints over
password fields and any field or text showing one.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urljoin

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
)
from selenium.webdriver.remote.file_detector import UselessFileDetector
from selenium.webdriver.remote.webelement import WebElement

from checks import browser as browser_pool
from checks.page import ERROR_CODE, failure_reason
from checks.result import Reason
from checks.steps import scripts
from checks.steps.guard import GuardUnavailable, RequestGuard
from checks.steps.model import DataError, Expect, Journey, Prefix, Step, load_values

POLL = 0.1  # seconds between two looks at the page while a step waits
# After a click, how long a page may take to start a navigation before the click counts as
# one that changed the page in place: short for a button of a script (a single-page
# application), long for a link or a form's submit button (a busy machine may take seconds
# to send the form); never longer than the step's own limit.
CLICK_GRACE = 1.0
NAVIGATION_GRACE = 8.0
SCREENSHOT_TRIES = ((55, 0.5), (40, 0.4), (30, 0.3), (25, 0.2))  # JPEG quality and scale, until it fits
MAX_FAILED_REQUESTS = 10  # of a failed step, in its evidence (with the total)
MASK_MIN = 3  # values shorter than this are not scrubbed from text (they would blank out everything)


_ISO_EXAMPLES = {"date": "2001-12-24", "time": "14:30", "datetime-local": "2001-12-24T14:30", "month": "2001-12",
                 "week": "2001-W52", "number": "42.5", "range": "7", "color": "#1a2b3c"}


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def _unmasked(text: str) -> str:
    """A value without what input masks add (spaces, dots, dashes, slashes, brackets)."""
    return "".join(ch for ch in text if ch.isalnum()).casefold()


class StepFailed(Exception):
    """A step did not do what it should: a reason from the fixed set, and what was expected and found."""

    def __init__(self, reason: Reason, expected: str, found: str) -> None:
        super().__init__(found)
        self.reason, self.expected, self.found = reason, expected, found


@dataclasses.dataclass(slots=True)
class StepOutcome:
    """One step as it ran: its state (pass, fail, or not run), time, and what shows it."""

    name: str
    action: str
    description: str
    state: str = "skipped"  # pass, fail, skipped (after a failed step, or beyond the stop point)
    seconds: float = 0.0
    reason: str = ""
    url: str = ""
    expected: str = ""
    found: str = ""
    navigated: bool = False
    blocked: list[str] = dataclasses.field(default_factory=list)
    screenshot: dict[str, Any] | None = None
    log: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # DevTools events of the step (not stored)
    base_service: str | None = None  # the catalog's base service the step exercises (its settings)
    failed_requests: list[str] = dataclasses.field(default_factory=list)  # a failed step's requests that failed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "action": self.action, "description": self.description,
                               "state": self.state, "seconds": round(self.seconds, 3)}
        if self.state != "skipped":
            out["url"] = self.url
        if self.reason:
            out["reason"] = self.reason
        if self.expected or self.found:
            out.update(expected=self.expected, found=self.found)
        if self.blocked:
            out["blocked"] = self.blocked[:20]
            out["blocked_total"] = len(self.blocked)
        if self.screenshot is not None:
            out["screenshot"] = self.screenshot
        if self.base_service is not None:
            out["base_service"] = self.base_service
        if self.failed_requests:
            out["failed_requests"] = self.failed_requests[:MAX_FAILED_REQUESTS]
            out["failed_requests_total"] = len(self.failed_requests)
        return out


def failed_requests(log: list[dict[str, Any]]) -> list[str]:
    """The URLs of a step's requests that got no answer or a server error (5xx), in order:
    where a failed step's trouble came from (a login host, a payment host)."""
    urls: dict[str, str] = {}
    out: list[str] = []
    for method, params in browser_pool.network_events(log):
        rid = str(params.get("requestId"))
        if method == "Network.requestWillBeSent":
            url = str((params.get("request") or {}).get("url") or "")
            if url.startswith(("http:", "https:")):
                urls[rid] = url
        elif method == "Network.responseReceived":
            if int((params.get("response") or {}).get("status") or 0) >= 500 and rid in urls:
                out.append(urls[rid])
        elif (method == "Network.loadingFailed" and rid in urls and not params.get("canceled")
              and not params.get("blockedReason")):  # what the journey's guard blocked is not the service's
            out.append(urls[rid])
    return list(dict.fromkeys(out))


class Scrubber:
    """Replaces every configured value in text that leaves the engine."""

    def __init__(self, values: Mapping[str, str]) -> None:
        plain = {v for v in values.values() if len(v) >= MASK_MIN}
        self.values = sorted(plain, key=len, reverse=True)  # as typed: what a screenshot's mask looks for
        # as they appear in addresses too (a GET form, a query string)
        self._forms = sorted(plain | {quote(v) for v in plain} | {quote_plus(v) for v in plain}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self._forms:
            if v in text:
                text = text.replace(v, "[Testdatum]")
        return text


def _element_name(step: Step) -> tuple[str, str]:
    action = step.action
    return action, str(getattr(step, action))


class JourneyRun:
    """One run of a journey in a session. `run` never raises for what the page does; only
    the pool's own errors (watchdog, crash) leave it, after the outcomes so far are kept."""

    def __init__(self, session: browser_pool.BrowserSession, journey: Journey, values: Mapping[str, str], *,
                 step_timeout: float, base_url: str = "",
                 max_screenshot_bytes: int = 150_000, screenshots: bool = True) -> None:
        self.session = session
        self.driver = session.driver
        self.journey = journey
        self.values = dict(values)
        self.scrub = Scrubber(values)
        self.step_timeout = step_timeout
        self.base_url = base_url
        self.max_screenshot = max_screenshot_bytes
        self.screenshots = screenshots
        self.outcomes = [StepOutcome(s.name, s.action, self.scrub(s.describe()), base_service=s.base_service)
                         for s in journey.steps]
        self.guard: RequestGuard | None = None
        self._step_log: list[dict[str, Any]] = []  # DevTools events of the running step
        self._submitting = False  # the running step's click submitted a form
        self._refusals_before = 0  # invalid fields and error summaries the page showed before that click
        self._main_frame = ""
        self._in_step = False  # a step's action and waits run: a timed-out read is the step's timeout
        self._blocked: list[str] = list(journey.never_request)

    # ----------------------------------------------------------- set-up

    def _block(self, patterns: list[str]) -> None:
        self._blocked = list(dict.fromkeys(patterns))
        if self.guard is not None:
            self.guard.block(self._blocked)

    def release(self) -> None:
        """After a login prefix: only `never_request` stays blocked for the pages that follow."""
        self._block(list(self.journey.never_request))

    def start(self) -> None:
        """Attach the request guard (raises GuardUnavailable when the browser offers no DevTools
        connection and the journey needs one: anything blocked, or not a test system)."""
        try:
            self.guard = RequestGuard(self.session)
            self.session.closers.append(self.guard.close)  # it lives as long as the browser
        except GuardUnavailable:
            if self._blocked or not self.journey.test_system:
                raise
        self._block(self._blocked)
        self._main_frame = str(((self.session.cdp("Page.getFrameTree").get("frameTree") or {}).get("frame") or {})
                               .get("id") or "")
        self.session.performance_log()  # what the browser did before the journey is not the journey's

    # ----------------------------------------------------------- the steps

    def run(self, after_step: Callable[[Step, StepOutcome], None] | None = None) -> list[StepOutcome]:
        """Every step in order until one fails or the stop point is reached."""
        self.start()
        steps = self.journey.steps
        for i, step in enumerate(steps):
            outcome = self.outcomes[i]
            if step.action == "stop":
                outcome.state = "pass"
                outcome.url = self.scrub(str(self.driver.execute_script(scripts.STATE).get("url") or ""))
                break
            if i == len(steps) - 2 and not self.journey.test_system:
                # the last step before the stop point: nothing this page could submit leaves the browser
                targets = [str(t) for t in self.driver.execute_script(scripts.FORM_TARGETS) or []]
                self._block(self._blocked + [t.split("?")[0] + "*" for t in targets])
            self._one(step, outcome)
            if outcome.state != "pass":
                break
            if after_step is not None:
                after_step(step, outcome)
        return self.outcomes

    def _one(self, step: Step, outcome: StepOutcome) -> None:
        limit = step.timeout or self.step_timeout
        self.session.set_timeouts(page_load=limit, script=limit)
        t0 = time.monotonic()
        deadline = t0 + limit
        self._step_log = []
        blocked_before = self.guard.count() if self.guard is not None else 0
        before = self._state()
        self._in_step = True
        try:
            self._submitting, self._refusals_before = False, 0
            likely = self._act(step, deadline)
            if step.action == "click":
                self._await_navigation(str(before.get("doc")), deadline, limit, blocked_before, likely)
                self._after_click(str(before.get("doc")))
            self._settle(deadline, limit)
        except StepFailed as exc:
            outcome.state, outcome.reason = "fail", exc.reason.value
            outcome.expected, outcome.found = self.scrub(exc.expected), self.scrub(exc.found)
        except browser_pool.TimeoutException:
            outcome.state, outcome.reason = "fail", Reason.STEP_TIMEOUT.value
            outcome.expected = f"Schritt fertig innerhalb von {limit:g} s"
            outcome.found = "Seite lud noch (Zeitgrenze des Schritts)"
            self._stop_loading()
        except (ElementNotInteractableException, ElementClickInterceptedException, StaleElementReferenceException) as exc:
            outcome.state, outcome.reason = "fail", Reason.ELEMENT_NOT_FOUND.value
            outcome.expected = step.describe()
            outcome.found = "Element nicht bedienbar: " + browser_pool._short(exc)[:200]
        finally:
            self._in_step = False
        outcome.seconds = time.monotonic() - t0
        outcome.log = self._log()
        outcome.blocked = ([self.scrub(a["url"]) for a in self.guard.since(blocked_before)]
                           if self.guard is not None else [])
        after = self._state()
        outcome.url = self.scrub(after.get("url", ""))
        outcome.navigated = after.get("doc") != before.get("doc")
        if outcome.blocked and outcome.reason != Reason.ELEMENT_NOT_FOUND.value:
            outcome.state, outcome.reason = "fail", Reason.BLOCKED_REQUEST.value
            outcome.expected = "keine Anfrage an gesperrte Adressen (never_request, Absenden am letzten Schritt)"
            outcome.found = "vom Browser gesperrt: " + ", ".join(outcome.blocked[:3])
        elif outcome.state != "fail":
            self._judge_page(step, outcome, after)
        if outcome.state == "fail":
            outcome.failed_requests = [self.scrub(u.split("#")[0])[:300] for u in failed_requests(outcome.log)]
        if outcome.state == "fail" and self.screenshots:
            outcome.screenshot = self._screenshot()

    def _judge_page(self, step: Step, outcome: StepOutcome, after: dict[str, Any]) -> None:
        url = str(after.get("url") or "")
        if url.startswith("chrome-error:"):
            code = str(self._quiet(ERROR_CODE) or "Netzwerkfehler")
            outcome.state, outcome.reason = "fail", failure_reason("load_failed", code).value
            outcome.expected, outcome.found = "Seite geladen", f"Seite nicht geladen: {code}"
        elif (outcome.navigated or step.action == "open") and int(after.get("status") or 0) >= 400:
            outcome.state, outcome.reason = "fail", Reason.HTTP_STATUS.value
            outcome.expected = "Seite ohne Fehlerstatus"
            outcome.found = f"HTTP-Status {after['status']} ({self.scrub(str(after.get('title') or ''))})"
        else:
            outcome.state = "pass"

    def _act(self, step: Step, deadline: float) -> bool:
        """Do the step's action; True when it was a click that will most likely navigate."""
        action = step.action
        if action == "open":
            self.driver.get(urljoin(self.base_url, step.open or ""))
        elif action in ("expect", "wait_for"):
            exp = step.expect if action == "expect" else step.wait_for
            assert exp is not None
            self._until(exp, deadline, Reason.EXPECTATION_FAILED if action == "expect" else Reason.STEP_TIMEOUT)
        else:
            element = self._find(step, deadline)
            if action == "click":
                return self._click(element)
            if action == "fill":
                value = self.values[str(step.value)]
                kind = self.driver.execute_script(scripts.FIELD_VALUE, element) or {}
                if kind.get("type") in scripts.TYPED_INPUTS:  # the ISO value, whatever the browser's locale
                    self.driver.execute_script(scripts.SET_VALUE, element, value)
                else:
                    element.clear()
                    element.send_keys(value)
                self._verify(step, element, value)
            elif action == "choose":
                option = self._option(step, element, deadline)
                option.click()
                self._verify(step, element, str(self.driver.execute_script(
                    "return arguments[0].text.replace(/\\s+/g, ' ').trim();", option)))
            elif action == "tick":
                if not element.is_selected():
                    self._click(element)
                self._verify(step, element, "true")
            elif action == "upload":
                path = Path(step.file or "")  # absolute: the settings bound it to config/
                if not path.is_file():
                    raise StepFailed(Reason.INTERNAL_ERROR, f"Testdatei {path}", "Datei fehlt oder ist nicht lesbar")
                if self.session.local:  # chromedriver reads the file itself; a Grid gets it uploaded (se/file)
                    with self.driver.file_detector_context(UselessFileDetector):
                        element.send_keys(str(path))
                else:
                    element.send_keys(str(path))
                self._verify(step, element, path.name)
        return False

    def _option(self, step: Step, element: WebElement, deadline: float) -> WebElement:
        """The option of a selection list, waiting for options a script adds later (within the step)."""
        while True:
            option = self.driver.execute_script(scripts.OPTION, element, step.option)
            if isinstance(option, WebElement):
                return option
            if time.monotonic() + POLL >= deadline:
                names = self.driver.execute_script("return Array.from(arguments[0].options).map(o => o.text).slice(0, 12);",
                                                   element) or []
                raise StepFailed(Reason.ELEMENT_NOT_FOUND, f"Auswahl „{step.option}“ in „{step.choose}“",
                                 "Auswahlmöglichkeiten: " + (", ".join(f"„{n}“" for n in names) or "keine"))
            time.sleep(POLL)

    def _verify(self, step: Step, element: WebElement, expected: str) -> None:
        """Read back what the field holds: a step never passes on a value it did not verify."""
        got = self.driver.execute_script(scripts.FIELD_VALUE, element) or {}
        found, kind = str(got.get("value", "")), got.get("kind")
        if kind == "checked":
            if found != "true":
                raise StepFailed(Reason.VALUE_MISMATCH, f"„{step.tick}“ angekreuzt", "nicht angekreuzt")
            return
        if kind == "file":
            if expected not in [n.strip() for n in found.split(",")]:
                raise StepFailed(Reason.VALUE_MISMATCH, f"Datei „{expected}“ in „{step.upload}“",
                                 f"Feld enthält: {found or 'keine Datei'}")
            return
        if kind == "select":
            if _plain(found) != _plain(expected):
                raise StepFailed(Reason.VALUE_MISMATCH, f"„{expected}“ in „{step.choose}“ gewählt",
                                 f"gewählt: „{found}“" if found else "nichts gewählt")
            return
        if found == expected or _unmasked(found) == _unmasked(expected):  # an input mask's spaces and dashes
            return
        if got.get("password"):
            raise StepFailed(Reason.VALUE_MISMATCH, f"„{step.fill}“ enthält den Wert aus {step.value}",
                             f"Feld enthält einen anderen Wert ({len(found)} statt {len(expected)} Zeichen; geheim)")
        hint = ""
        if got.get("type") in scripts.TYPED_INPUTS:
            hint = f" (Feldtyp {got.get('type')}: Wert im ISO-Format angeben, z. B. {_ISO_EXAMPLES.get(str(got.get('type')), '')})"
        raise StepFailed(Reason.VALUE_MISMATCH, f"„{step.fill}“ = „{expected}“",
                         f"Feld enthält „{found}“" + hint if found else "Feld ist leer" + hint)

    def _after_click(self, before: str) -> None:
        """After a click, in one look at the page: if it tried to submit a form and the
        browser's constraint validation blocked it (the page did not change document), fail
        with the fields that block it; if it submitted a form and the page that followed (the
        service's answer, or the same page changed by its script) marks fields invalid or shows
        an error summary it did not show before, the submission was refused: fail this step,
        the one that submitted, with the fields and the page's own words."""
        same_page = self._state_in_step().get("doc") == before
        if not same_page and not self._submitting:
            return
        seen = self._quiet(scripts.AFTER_CLICK, self._submitting) or {}
        invalid = seen.get("invalid") or []
        if same_page and invalid:
            blocking = "; ".join(f"„{f.get('name')}“: {f.get('message') or 'ungültig'}" for f in invalid[:8])
            more = f" (und {len(invalid) - 8} weitere)" if len(invalid) > 8 else ""
            summary = f"; Hinweis der Seite: {seen['alerts'][0]}" if seen.get("alerts") else ""
            raise StepFailed(Reason.FORM_INVALID, "Formular abgeschickt",
                             f"Formular nicht abgeschickt: {blocking}{more}{summary}")
        fields, summaries = seen.get("fields") or [], seen.get("summaries") or []
        if not fields and not summaries:
            return
        if same_page and len(fields) + len(summaries) <= self._refusals_before:
            return  # the marks were there before the click: nothing new was refused
        named = "; ".join(f"„{f.get('name')}“" + (f": {f['message']}" if f.get("message") else "") for f in fields[:8])
        more = f" (und {len(fields) - 8} weitere)" if len(fields) > 8 else ""
        said = f"Hinweis der Seite: {summaries[0]}" if summaries else ""
        where = "Eingaben auf der Seite zurückgewiesen" if same_page else "Formular vom Dienst zurückgewiesen"
        parts = [p for p in (f"Felder: {named}{more}" if named else "", said) if p]
        raise StepFailed(Reason.FORM_INVALID, "Formular angenommen", f"{where}: " + "; ".join(parts))

    def _click(self, element: WebElement) -> bool:
        """Click it (its label, for a styled checkbox); whether the click will most likely navigate."""
        ahead = self.driver.execute_script(scripts.BEFORE_CLICK, element) or {}
        likely = bool(ahead.get("likely"))
        self._submitting, self._refusals_before = bool(ahead.get("submits")), int(ahead.get("refusals") or 0)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        try:
            element.click()
        except (ElementNotInteractableException, ElementClickInterceptedException):
            labels = self.driver.execute_script("return arguments[0].labels ? Array.from(arguments[0].labels) : [];",
                                                element) or []
            if not labels:
                raise
            labels[0].click()  # a styled checkbox: its label is what a person clicks
        return likely

    def _find(self, step: Step, deadline: float) -> WebElement:
        """The element a step acts on, by accessible name or label (role narrows), CSS only as a fallback.
        Waits for it until the step's deadline (pages that build their form after load)."""
        action, name = _element_name(step)
        while True:
            hit = self.driver.execute_script(scripts.LOCATE, action, name, step.role, step.css) or {}
            element = hit.get("element")
            if isinstance(element, WebElement):
                return element
            if time.monotonic() + POLL >= deadline:
                what = {"click": "Bedienelemente", "fill": "Eingabefelder", "choose": "Auswahllisten",
                        "tick": "Ankreuzfelder", "upload": "Dateifelder"}.get(action, "Elemente")
                names = [str(n) for n in hit.get("candidates") or []]
                found = (f"{what} auf der Seite: " + ", ".join(f"„{n}“" for n in names)) if names else f"keine {what} auf der Seite"
                raise StepFailed(Reason.ELEMENT_NOT_FOUND, step.describe(), found)
            time.sleep(POLL)

    def _until(self, exp: Expect, deadline: float, reason: Reason) -> None:
        wanted = exp.model_dump(exclude_none=True)
        while True:
            got = self.driver.execute_script(scripts.EXPECT, wanted) or {}
            if got.get("ok"):
                return
            if time.monotonic() + POLL >= deadline:
                raise StepFailed(reason, exp.describe(), _found(got))
            time.sleep(POLL)

    def _await_navigation(self, before: str, deadline: float, limit: float, blocked_before: int,
                          likely: bool) -> None:
        """After a click: if the top document starts navigating (a Document request of the main
        frame in the network log), wait for the new document; if nothing starts within the
        grace (NAVIGATION_GRACE for a link or a submit button, else CLICK_GRACE), the click
        changed the page in place."""
        if likely and self._state_in_step().get("doc") == before:
            seen = self._quiet(scripts.READ_DEFAULT)  # the page prevented it: handled in place
            likely = not (isinstance(seen, dict) and seen.get("go") is False)
        grace = time.monotonic() + (NAVIGATION_GRACE if likely else CLICK_GRACE)
        while True:
            started, failed = self._navigation_in(self._poll_log())
            blocked = self.guard is not None and self.guard.count() > blocked_before
            if self._state_in_step().get("doc") != before or failed or blocked:
                return
            if not started and likely and self._quiet("return (window.__egovInvalid || []).length;"):
                return  # the browser's validation refused the submission: nothing will navigate
            if not started and time.monotonic() >= grace:
                return
            if time.monotonic() + POLL >= deadline:
                raise browser_pool.TimeoutException(f"navigation not done after {limit:g}s")
            time.sleep(POLL / 2)

    def _navigation_in(self, entries: list[dict[str, Any]]) -> tuple[bool, bool]:
        """Whether the step's log shows a navigation of the top document, and whether it failed."""
        started = failed = False
        ids: set[str] = set()
        for entry in entries:
            raw = entry.get("message") or ""
            if '"Document"' not in raw and "loadingFailed" not in raw:
                continue
            try:
                msg = json.loads(raw)["message"]
            except (ValueError, KeyError, TypeError):
                continue
            params = msg.get("params") or {}
            if (msg.get("method") == "Network.requestWillBeSent" and params.get("type") == "Document"
                    and (not self._main_frame or params.get("frameId") == self._main_frame)):
                started = True
                ids.add(str(params.get("requestId")))
            elif msg.get("method") == "Network.loadingFailed" and str(params.get("requestId")) in ids:
                failed = True
        return started, failed

    def _settle(self, deadline: float, limit: float) -> None:
        """Wait until the document the step led to finished loading (within the step's limit)."""
        while True:
            state = self._state_in_step()
            if state.get("ready") == "complete" or str(state.get("url", "")).startswith("chrome-error:"):
                return
            if time.monotonic() + POLL >= deadline:
                raise browser_pool.TimeoutException(f"document not complete after {limit:g}s")
            time.sleep(POLL)

    # ----------------------------------------------------------- reading the browser

    def _state(self) -> dict[str, Any]:
        try:
            return dict(self.driver.execute_script(scripts.STATE) or {})
        except browser_pool.TimeoutException:
            self._stop_loading()
            return dict(self.driver.execute_script(scripts.STATE) or {})

    def _state_in_step(self) -> dict[str, Any]:
        """`_state` while a step waits for its page: a read that times out (the browser still
        loading at the step's limit, on a busy machine before our own deadline check) is the
        step's timeout. Stopping the load and reading again made the cut-off page look complete
        and passed the step (a hanging page then failed the next step as element not found)."""
        try:
            return dict(self.driver.execute_script(scripts.STATE) or {})
        except browser_pool.TimeoutException:
            self._stop_loading()
            raise

    def _quiet(self, script: str, *args: Any) -> Any:
        """A script whose failure the step can do without (None then). A timeout is not such a
        failure while the step runs: chromedriver stops the page's load when a command times out,
        so the cut-off page would look complete and pass the step: it is the step's timeout."""
        try:
            return self.driver.execute_script(script, *args)
        except browser_pool.TimeoutException:
            if self._in_step:
                raise
            return None
        except browser_pool.WebDriverException:
            return None

    def _stop_loading(self) -> None:
        with contextlib.suppress(browser_pool.WebDriverException):
            self.driver.execute_script("window.stop();")

    def _poll_log(self) -> list[dict[str, Any]]:
        """The running step's DevTools events so far (read on, kept for the step)."""
        try:
            self._step_log.extend(self.session.performance_log())
        except browser_pool.WebDriverException:
            pass  # a remote end without the performance log: blocked attempts show as error pages only
        return self._step_log

    def _log(self) -> list[dict[str, Any]]:
        entries = list(self._poll_log())
        self._step_log = []
        return entries

    def _screenshot(self) -> dict[str, Any]:
        """A small JPEG of the viewport, secrets painted over; bounded by `max_screenshot` bytes."""
        try:
            self.driver.execute_script(scripts.MASK, self.scrub.values)
            width, height = self.driver.execute_script(scripts.VIEWPORT) or (1280, 1024)
            for quality, scale in SCREENSHOT_TRIES:
                shot = self.session.cdp("Page.captureScreenshot", format="jpeg", quality=quality,
                                        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": scale})
                data = str(shot.get("data") or "")
                size = len(base64.b64decode(data)) if data else 0
                if 0 < size <= self.max_screenshot:
                    return {"format": "jpeg", "data": data, "bytes": size, "width": math.ceil(width * scale),
                            "height": math.ceil(height * scale)}
            return {"omitted": f"Bildschirmfoto größer als {self.max_screenshot} Bytes auch in kleinster Stufe"}
        except browser_pool.PAGE_ERRORS as exc:
            return {"omitted": "Bildschirmfoto nicht möglich: " + browser_pool._short(exc)[:200]}


def _found(got: dict[str, Any]) -> str:
    """German: what the page showed instead."""
    parts = []
    missing = set(got.get("missing") or [])
    if got.get("heading"):
        parts.append(f"Überschrift „{got['heading']}“")
    elif got.get("title"):
        parts.append(f"Titel „{got['title']}“")
    if "url" in missing or not parts:
        parts.append(f"Adresse {got.get('url', '')}")
    if got.get("alerts"):
        parts.append("Fehlermeldung: " + "; ".join(f"„{a}“" for a in got["alerts"]))
    if got.get("invalid"):
        parts.append("ungültige Felder: " + ", ".join(f"„{a}“" for a in got["invalid"]))
    if int(got.get("status") or 0) >= 400:
        parts.append(f"HTTP-Status {got['status']}")
    return "; ".join(parts)


def after_login[T](pool: browser_pool.BrowserPool, prefix: Prefix, urls: list[str], *, page_timeout: float,
                wait: float, start: Callable[[browser_pool.BrowserSession], Callable[[str], T]],
                failed: Callable[[str, str, str], T], done: str = "geprüft",
                login_log: list[dict[str, Any]] | None = None) -> list[T]:
    """Another check's pages behind a login (`after_journey`): the login journey in one fresh
    browser, then each page in that session. `start(session)` prepares the session and gives the
    visit of one URL; `failed(url, error, reason)` stands for a page not read (login failed,
    data missing, the session's time limit or a crash); one result per URL, in order.
    `login_log`, when given, receives the login steps' DevTools events (what their responses set)."""
    budget = page_timeout * (len(urls) + 1) + prefix.step_timeout * len(prefix.journey.steps)
    pages: list[T] = []
    try:
        with pool.session(deadline=budget, wait=wait, what=urls[0], fresh=True) as session:
            visit = start(session)
            refused = log_in(session, prefix, login_log)
            if refused is not None:
                return [failed(u, *refused) for u in urls]
            for url in urls:
                pages.append(visit(url))
    except DataError as exc:
        return [failed(u, f"Anmeldung nicht möglich: {exc}", Reason.INTERNAL_ERROR.value) for u in urls]
    except browser_pool.PAGE_ERRORS as exc:
        error, reason = browser_pool.page_failure(exc, budget, done)
        pages += [failed(u, error, reason) for u in urls[len(pages):]]
    return pages


def log_in(session: browser_pool.BrowserSession, prefix: Prefix,
           log: list[dict[str, Any]] | None = None) -> tuple[str, str] | None:
    """Run a login journey in `session` before another check reads its pages. None when it
    reached its stop point; otherwise a German sentence naming the step and what went wrong,
    and the step's reason (raises DataError when its test data is not available, and the
    pool's errors)."""
    values = load_values(prefix.data_file, dict(prefix.secrets))
    run = JourneyRun(session, prefix.journey, values, step_timeout=prefix.step_timeout, base_url=prefix.base_url,
                     screenshots=False)
    try:
        outcomes = run.run()
    except GuardUnavailable as exc:
        return f"Anmeldung (Strecke {prefix.journey.name}) nicht gestartet: {exc}"[:300], Reason.INTERNAL_ERROR.value
    if log is not None:
        for o in outcomes:
            log.extend(o.log)
    failed = next((o for o in outcomes if o.state == "fail"), None)
    if failed is not None:
        return (f"Anmeldung (Strecke {prefix.journey.name}) gescheitert an Schritt {failed.name}: "
                f"{failed.found or failed.reason}")[:300], failed.reason
    run.release()
    return None
