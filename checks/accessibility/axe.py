"""axe-core in every frame of one page, following @axe-core/webdriverjs."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from pathlib import Path
from typing import Any

from checks import browser as browser_pool
from checks.accessibility.settings import IMPACT_WEIGHTS, MAX_TARGETS_PER_RULE, AccessibilitySettings
from checks.page import LoadedPage, open_page
from checks.settings import CheckSettings


def axe_source_path() -> Path:
    import axe_selenium_python

    return Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@functools.cache
def axe_source() -> str:
    return axe_source_path().read_text(encoding="utf-8")


@functools.cache
def _axe_init_script() -> str:
    return _INIT_SCRIPT % axe_source()


@functools.cache
def _axe_inject_script() -> str:
    return _INJECT % axe_source()


@functools.cache
def axe_version() -> str:
    match = re.search(r"axe v(\d+\.\d+\.\d+)", axe_source()[:500])
    return match.group(1) if match else "unknown"


# --------------------------------------------------------------------------- browser scripts

# Each script takes its inputs as WebDriver arguments (JSON), never by string pasting.
_INJECT = "if (typeof window.axe === 'undefined') { %s\n }; return window.axe ? window.axe.version : null;"
_INIT_SCRIPT = "(function () { if (typeof window.axe === 'undefined') { %s\n } })();"
_AXE_LOADED = "return window.axe && typeof window.axe.runPartial === 'function' ? window.axe.version : null;"
_FRAME_CONTEXTS = """
const ctx = arguments[0] || {exclude: []};
return window.axe.utils.getFrameContexts(ctx).map(fc => ({
  frameSelector: fc.frameSelector, frameContext: fc.frameContext,
  frame: window.axe.utils.shadowSelect(fc.frameSelector)}));
"""
_RUN_PARTIAL = """
const done = arguments[arguments.length - 1];
window.axe.runPartial(arguments[0] || document, arguments[1]).then(r => done(JSON.stringify(r)),
  e => done(JSON.stringify({__error: String(e && e.message || e)})));
"""
# The summary each side sends back: per rule its impact, element count and a few targets.
_SUMMARY = """
function summary(r, maxTargets) {
  return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            tags: v.tags, nodes: v.nodes.length, targets: v.nodes.slice(0, maxTargets).map(n => n.target)})),
          incomplete: r.incomplete.map(v => v.id), passes: r.passes.length, inapplicable: r.inapplicable.length};
}
"""
_FINISH = _SUMMARY + """
const done = arguments[arguments.length - 1];
const partials = JSON.parse(arguments[0]);
window.axe.finishRun(partials, arguments[1]).then(r => done(summary(r, arguments[2])),
  e => done({__error: String(e && e.message || e)}));
"""
# A page without frames: axe.run in the page gives what runPartial + finishRun would, with
# one round trip less and no partial results to ship.
_RUN_SINGLE = _SUMMARY + """
const done = arguments[arguments.length - 1];
window.axe.run(arguments[0] || document, arguments[1]).then(r => done(summary(r, arguments[2])),
  e => done({__error: String(e && e.message || e)}));
"""
# --------------------------------------------------------------------------- one page


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    impact: str
    nodes: int
    help: str
    help_url: str
    targets: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "impact": self.impact, "nodes": self.nodes, "help": self.help,
                "help_url": self.help_url, "targets": list(self.targets)}


_COUNT_NESTED = """
const count = (w, depth) => { let n = 0;
  try { for (let i = 0; i < w.frames.length && depth < 200; i++) n += 1 + count(w.frames[i], depth + 1); } catch (e) {}
  return n; };
try { return count(arguments[0].contentWindow, 0); } catch (e) { return 0; }
"""

# How deep frames are followed: documents nested deeper are not scanned and counted as cut
# (PageScan.frames_cut, in the evidence). Real pages nest two or three levels.
MAX_FRAME_DEPTH = 30


@dataclasses.dataclass(frozen=True, slots=True)
class PageScan(LoadedPage):
    """A loaded page (the browser kinds' one page record, `checks.page.LoadedPage`) with what
    axe found on it, or why it could not run."""

    violations: tuple[Violation, ...] = ()
    incomplete: tuple[str, ...] = ()
    passes: int = 0
    frames: int = 0  # documents axe ran in, the top one included
    frames_failed: int = 0
    frames_cut: int = 0  # frame documents deeper than MAX_FRAME_DEPTH, not scanned (counted, never silent)
    seconds: float = 0.0

    def penalty(self) -> int:
        return sum(IMPACT_WEIGHTS.get(v.impact, 0) for v in self.violations)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "final_url": self.final_url, "status": self.status,
                               "title": self.title, "lang": self.lang, "load_complete": self.load_complete,
                               "seconds": round(self.seconds, 3)}
        if self.dialogs:
            out["dialogs"] = list(self.dialogs)
            if self.dialogs_dropped:
                out["dialogs_dropped"] = self.dialogs_dropped
        if self.error is not None:
            out.update(error=self.error, error_reason=self.error_reason)
        else:
            out.update(violations=[v.to_dict() for v in self.violations], incomplete=list(self.incomplete),
                       passes=self.passes, frames=self.frames, frames_failed=self.frames_failed)
            if self.frames_cut:
                out["frames_cut"] = self.frames_cut
        return out


def _stringify_target(target: Any) -> str:
    """axe's node target as one string: frame levels joined by ' >>> ', shadow roots by ' >> '.

    axe gives a list with one entry per frame level; an entry inside shadow DOM is itself a
    list of selectors, one per shadow root."""
    if isinstance(target, list):
        return " >>> ".join(" >> ".join(str(s) for s in t) if isinstance(t, list) else str(t)
                            for t in target)[:600]
    return str(target)[:600]


class _AxeRun:
    """axe in the current page and all its frames, then finishRun in the session's blank window."""

    def __init__(self, session: browser_pool.BrowserSession, options: dict[str, Any]) -> None:
        self.driver = session.driver
        self.session = session
        self.options = options
        self.frames = 0
        self.frames_failed = 0
        self.frames_cut = 0  # documents below MAX_FRAME_DEPTH, left out

    def _inject(self) -> None:
        if self.driver.execute_script(_AXE_LOADED):
            return  # loaded by the session's init script
        version = self.driver.execute_script(_axe_inject_script())
        if not version:
            raise RuntimeError("axe-core ließ sich nicht laden (Content Security Policy oder Skriptfehler)")

    def _partials(self, context: Any, depth: int = 0) -> list[str | None]:
        self._inject()
        frame_contexts = self.driver.execute_script(_FRAME_CONTEXTS, context)  # must precede runPartial
        partials: list[str | None] = [self.driver.execute_async_script(_RUN_PARTIAL, context, self.options)]
        self.frames += 1
        for fc in frame_contexts or []:
            switched = False
            try:
                if fc.get("frame") is None:
                    raise RuntimeError("frame not found")
                if depth + 1 > MAX_FRAME_DEPTH:  # a documented cap, said in the evidence (frames_cut)
                    self.frames_cut += 1 + self._count_frames_below(fc["frame"])
                    partials.append(None)
                    continue
                self.driver.switch_to.frame(fc["frame"])
                switched = True
                partials.extend(self._partials(fc.get("frameContext"), depth + 1))
                self.driver.switch_to.parent_frame()
            except browser_pool.WebDriverException as exc:
                if "timeout" in str(exc).lower() or self.session.broken:
                    raise  # the session is in doubt: let the pool retire it
                if switched:
                    self.driver.switch_to.parent_frame()
                partials.append(None)  # as webdriverjs: an unreachable frame is reported, not fatal
                self.frames_failed += 1
            except RuntimeError:  # axe could not be loaded in the frame (its CSP, a script error)
                if switched:
                    self.driver.switch_to.parent_frame()
                partials.append(None)
                self.frames_failed += 1
        return partials

    def _count_frames_below(self, frame: Any) -> int:
        """Documents nested inside a frame left out (those the page lets us count: same origin)."""
        try:
            return int(self.driver.execute_script(_COUNT_NESTED, frame) or 0)
        except browser_pool.WebDriverException:
            return 0

    def run(self, frames_known_empty: bool = False, at_top: bool = False) -> dict[str, Any]:
        if not at_top:  # a journey's step may have left the session in a frame
            self.driver.switch_to.default_content()
        if not frames_known_empty:
            self._inject()
        if frames_known_empty or not self.driver.execute_script(_FRAME_CONTEXTS, None):
            self.frames = 1
            result = self.driver.execute_async_script(_RUN_SINGLE, None, self.options, MAX_TARGETS_PER_RULE)
            if not isinstance(result, dict) or "__error" in result:
                raise RuntimeError(f"axe.run: {(result or {}).get('__error', 'keine Antwort')}")
            return result
        partials = self._partials(None)
        page_handle = self.driver.current_window_handle
        blank = self.session.blank_window()
        self.driver.switch_to.window(blank)
        try:
            if not self.session.axe_in_blank:
                self._inject()
                self.session.axe_in_blank = True
            payload = "[" + ",".join(p if isinstance(p, str) and not p.startswith('{"__error"') else "null"
                                     for p in partials) + "]"
            result = self.driver.execute_async_script(_FINISH, payload, self.options, MAX_TARGETS_PER_RULE)
        finally:
            self.driver.switch_to.window(page_handle)
        if not isinstance(result, dict) or "__error" in result:
            raise RuntimeError(f"axe finishRun: {(result or {}).get('__error', 'keine Antwort')}")
        return result


def scan_page(pool: browser_pool.BrowserPool, url: str, settings: AccessibilitySettings,
              wait: float | None = None) -> PageScan:
    """Load one page and run axe in all its frames. Never raises; failures are in the PageScan."""
    started = time.monotonic()
    attempts = 2  # one retry when the session died under us (crashed or killed chromedriver)
    last: PageScan | None = None
    for _ in range(attempts):
        last = _scan_once(pool, url, settings, wait)
        if last.error_reason != "browser_crashed":
            break
    assert last is not None
    return dataclasses.replace(last, seconds=time.monotonic() - started)


def _open(session: browser_pool.BrowserSession, url: str, settings: CheckSettings) -> tuple[PageScan, bool]:
    """Load `url` in the session: a PageScan with the page's facts (or why there is nothing to
    scan), and whether axe is loaded already in a page without frames."""
    install(session)
    loaded = open_page(session, url, settings)
    return PageScan(**{f.name: getattr(loaded, f.name) for f in dataclasses.fields(LoadedPage)}), loaded.no_frames


def install(session: browser_pool.BrowserSession) -> None:
    """Have axe-core loaded in every new document of the session (saves shipping it per page)."""
    session.add_init_script("axe", _axe_init_script())


def violations_of(raw: dict[str, Any]) -> tuple[Violation, ...]:
    return tuple(
        Violation(rule=str(v["id"]), impact=str(v.get("impact") or "minor"), nodes=int(v.get("nodes") or 0),
                  help=str(v.get("help") or "")[:300], help_url=str(v.get("helpUrl") or "")[:300],
                  targets=tuple(_stringify_target(t) for t in v.get("targets") or []))
        for v in raw.get("violations") or [])


def scan_current(session: browser_pool.BrowserSession, base: PageScan, options: dict[str, Any],
                 no_frames: bool = False, at_top: bool = False) -> PageScan:
    """axe on the page the session shows now (a journey's step, a page after a login).
    `at_top`: the session is in the top document (just navigated: WebDriver's Navigate To
    selects it), which saves a round trip per page. Raises RuntimeError when axe cannot run,
    and the pool's errors."""
    axe = _AxeRun(session, options)
    raw = axe.run(frames_known_empty=no_frames, at_top=at_top)
    return dataclasses.replace(base, violations=violations_of(raw),
                               incomplete=tuple(str(i) for i in raw.get("incomplete") or []),
                               passes=int(raw.get("passes") or 0), frames=axe.frames, frames_failed=axe.frames_failed,
                               frames_cut=axe.frames_cut)


def scan_in_session(session: browser_pool.BrowserSession, url: str, settings: AccessibilitySettings) -> PageScan:
    """Load `url` in a session the caller holds (after a login) and scan it. Never raises for the
    page; the pool's errors (watchdog, crash) are the caller's."""
    started = time.monotonic()
    try:
        base, no_frames = _open(session, url, settings)
        if base.error is None:
            base = scan_current(session, base, settings.run_options(), no_frames, at_top=True)
    except RuntimeError as exc:
        base = PageScan(url=url, error=str(exc)[:300], error_reason="axe_failed")
    return dataclasses.replace(base, seconds=time.monotonic() - started)


def _scan_once(pool: browser_pool.BrowserPool, url: str, settings: AccessibilitySettings,
               wait: float | None) -> PageScan:
    budget = settings.timeout
    try:
        with pool.session(deadline=budget, wait=wait, what=url) as session:
            base, no_frames = _open(session, url, settings)
            if base.error is not None:
                return base
            return scan_current(session, base, settings.run_options(), no_frames, at_top=True)
    except RuntimeError as exc:
        return PageScan(url=url, error=str(exc)[:300], error_reason="axe_failed")
    except browser_pool.PAGE_ERRORS as exc:
        error, reason = browser_pool.page_failure(exc, budget)
        return PageScan(url=url, error=error, error_reason=reason, load_complete=reason != "timeout")
