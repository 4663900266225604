"""Finding chat widgets in a page and reading what a visitor perceives of them.

Widgets are found by the vendor list (`config/ai.yaml`: CSS selectors; the recording adds
requests to vendors' hosts) and by generic signals any web chat shows: a floating (fixed)
container, an iframe or a custom element whose id, class, tag, title or accessible name says
chat, bot, assistant, messenger or KI; each with the signal that matched and a confidence.

What counts as disclosure is what a visitor perceives: visible text and accessible names
(aria-label, alt) of the widget's own subtree, through open shadow roots and into its frames
(same- and cross-origin, through WebDriver's frame switching), never attributes a visitor
cannot see (an iframe's `title`) and never the rest of the page. After opening, only text
that is new in the widget's subtree or in nodes the page added since the click is read.

Late widgets: an init script notes every timer a page sets (setTimeout up to WATCH_SECONDS
after load); the scan waits for those that are due within the window and looks again, so a
widget injected 3 s after load is found, and a page without pending timers costs nothing.
"""

from __future__ import annotations

import re
import time
from typing import Any

from checks import browser as browser_pool
from checks.page import fold

WATCH_SECONDS = 10.0  # after load, how long timers are waited for that may still inject a widget
MAX_WIDGETS = 10

# Markup that names a chat (ids, classes, tags, iframe titles, accessible names).
_CHAT_MARK = r"chat|chatbot|\bbot\b|[-_]bot\b|\bbot[-_]|assist|messenger|webchat|livechat|\bki[-_ ]|\bai[-_ ]?(?:chat|assist)"
# Words that say the widget is a bot or assistant (an AI system), in its markup.
_AI_MARK = r"bot\b|bot[-_]|chatbot|assist|\bki\b|\bki[-_]|\bai\b|\bai[-_]|gpt|llm|virtual[-_ ]?agent"

# Human staffing, in what a visitor reads (folded: umlauts spelled out).
HUMAN = re.compile(
    r"unser(?:em|en)?\s+(?:team|service-?team|kundenservice|mitarbeiter)|mitarbeiter(?:in|innen)?\s+(?:ist|sind)\s+online|"
    r"\b(?:ist|sind)\s+(?:jetzt\s+)?online\b|live-?chat|chatten sie mit (?:uns|unserem|einem|einer)|"
    r"persoenlich(?:e|en)?\s+(?:beratung|ansprechpartner)|\b(?:frau|herr)\s+[a-z]{2,}|berater(?:in)?\s+(?:ist|sind)|"
    r"chat with (?:our|a|an) (?:team|agent|advisor|human)|talk to (?:a|our) (?:human|team|agent)|agents? (?:is|are) online")

_HELPERS = r"""
const shown = el => {
  const s = getComputedStyle(el);
  return s.display !== 'none' && s.visibility !== 'hidden' && s.visibility !== 'collapse' && Number(s.opacity) !== 0;
};
const parentOf = e => e.parentElement || (e.getRootNode && e.getRootNode() instanceof ShadowRoot ? e.getRootNode().host : null);
const floating = el => {
  for (let e = el, i = 0; e && e.nodeType === 1 && i < 40; e = parentOf(e), i++) {
    const p = getComputedStyle(e).position;
    if (p === 'fixed' || p === 'sticky') return e;
  }
  return null;
};
// What a visitor perceives: visible text, aria-label, alt and placeholder, through open shadow
// roots; never title attributes, scripts, or hidden elements.
const said = root => {
  const out = [];
  const walk = (node, depth) => {
    if (depth > 80 || out.length > 500) return;
    if (node.nodeType === 3) { const t = node.nodeValue.replace(/\s+/g, ' ').trim(); if (t) out.push(t); return; }
    if (node.nodeType === 1) {
      const tag = node.tagName;
      if (['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'IFRAME'].includes(tag)) return;
      if (!shown(node)) return;
      const label = node.getAttribute('aria-label'); if (label) out.push(label);
      if (tag === 'IMG' && node.alt) out.push(node.alt);
      if ((tag === 'INPUT' || tag === 'TEXTAREA') && node.placeholder) out.push(node.placeholder);
      if (node.shadowRoot) walk(node.shadowRoot, depth + 1);
    } else if (node.nodeType !== 11) return;
    for (const c of node.childNodes) walk(c, depth + 1);
  };
  walk(root, 0);
  return out.join(' ').replace(/\s+/g, ' ').trim().slice(0, 3000);
};
const framesIn = root => {
  const out = [];
  const walk = (node, depth) => {
    if (depth > 40 || out.length > 5) return;
    if (node.nodeType === 1 && node.tagName === 'IFRAME') { if (shown(node)) out.push(node); return; }
    if (node.nodeType === 1 && node.shadowRoot) walk(node.shadowRoot, depth + 1);
    for (const c of node.children || []) walk(c, depth + 1);
  };
  walk(root, 0);
  return out;
};
const launcherIn = root => {
  if (root.matches && root.matches('button, [role=button], a[href], summary')) return root;
  const walk = (node, depth) => {
    if (depth > 40) return null;
    for (const c of (node.shadowRoot ? [node.shadowRoot] : []).concat(Array.from(node.children || []))) {
      if (c.nodeType === 1 && c.matches('button, [role=button], a[href], summary') && shown(c)) return c;
      const hit = walk(c, depth + 1); if (hit) return hit;
    }
    return null;
  };
  return walk(root, 0);
};
"""

# arguments: vendors [[vendor, selectors, launchers]], chat pattern, ai pattern -> candidates
_SCAN = _HELPERS + r"""
const [vendors, chatMark, aiMark] = arguments;
const CHAT = new RegExp(chatMark, 'i'), AI = new RegExp(aiMark, 'i');
const found = [];
const seen = new Set();
const covered = el => { for (let e = el; e; e = parentOf(e)) if (seen.has(e)) return true; return false; };
const add = (box, row) => {
  if (!box || covered(box) || found.length >= 10) return;
  seen.add(box);
  row.box = box;
  row.launcher = row.launcher || launcherIn(box) || (box.tagName === 'IFRAME' ? null : box);
  row.frames = box.tagName === 'IFRAME' ? [box] : framesIn(box);
  row.text = said(box);
  found.push(row);
};
for (const [vendor, selectors, launchers] of vendors) {
  let el = null, how = '';
  for (const s of selectors) { try { el = document.querySelector(s); } catch (e) { el = null; } if (el) { how = s; break; } }
  let launcher = null;
  for (const s of launchers) { try { launcher = document.querySelector(s); } catch (e) { launcher = null; } if (launcher) break; }
  if (!el && launcher) { el = launcher; how = 'launcher'; }
  if (!el) continue;
  add(el, {vendor: vendor, signal: 'Liste: ' + how, confidence: 'hoch', launcher: launcher, markup: ''});
}
const all = document.body ? document.body.querySelectorAll('*') : [];
for (let i = 0; i < all.length && i < 20000; i++) {
  const el = all[i];
  const tag = el.tagName.toLowerCase();
  const cls = typeof el.className === 'string' ? el.className : '';
  const marks = [el.id, cls, tag.includes('-') ? tag : '', tag === 'iframe' ? [el.title, el.name].join(' ') : '',
                 el.getAttribute('aria-label') || ''].join(' ');
  if (!CHAT.test(marks) || covered(el) || !shown(el)) continue;
  const r = el.getBoundingClientRect();
  if (r.width < 1 && r.height < 1 && !el.shadowRoot) continue;
  const fixed = floating(el);
  const strong = /chatbot|assist|messenger|webchat|livechat|bot/i.test(marks);
  const container = fixed && fixed !== document.body && fixed !== document.documentElement ? fixed : el;
  if (!fixed && !strong && !tag.includes('-') && tag !== 'iframe') continue;  // a "Chat" link in the text is no widget
  const ai = AI.test(marks);
  add(container, {vendor: '', signal: (tag === 'iframe' ? 'iframe ' : tag.includes('-') ? 'Element <' + tag + '> ' : 'Element ')
                  + (el.id ? '#' + el.id : cls ? '.' + cls.split(/\s+/)[0] : '') + (fixed ? ' (schwebend)' : ''),
                  confidence: ai ? 'mittel' : 'niedrig', markup: marks.slice(0, 200),
                  ai_markup: ai});
}
return found.map(f => ({vendor: f.vendor, signal: f.signal, confidence: f.confidence, text: f.text, box: f.box,
                        launcher: f.launcher, frames: f.frames, markup: f.markup || '', ai_markup: !!f.ai_markup,
                        iframe_src: f.frames.map(x => x.src || '').filter(x => x).slice(0, 3)}));
"""

# arguments: box -> its perceived text now (the widget's own subtree)
_SAID = _HELPERS + "return arguments[0].isConnected ? {text: said(arguments[0]), frames: framesIn(arguments[0])} : {};"
# Before a click: note the nodes the page adds from now on (a chat window appended to body).
_WATCH_ADDED = r"""
window.__egovAdded = [];
if (window.__egovAddedObserver) window.__egovAddedObserver.disconnect();
window.__egovAddedObserver = new MutationObserver(list => {
  for (const m of list) for (const n of m.addedNodes) if (n.nodeType === 1 && window.__egovAdded.length < 50) window.__egovAdded.push(n);
});
window.__egovAddedObserver.observe(document.body || document.documentElement, {childList: true, subtree: true});
"""
# arguments: box -> what the nodes added since the click (outside the box) show, and their frames
_READ_ADDED = _HELPERS + r"""
const box = arguments[0];
const added = (window.__egovAdded || []).filter(n => n.isConnected && !box.contains(n));
const top = added.filter(n => !added.some(o => o !== n && o.contains(n)));
return {text: top.map(said).join(' ').slice(0, 3000), frames: top.flatMap(n => n.tagName === 'IFRAME' ? [n] : framesIn(n)).slice(0, 5)};
"""

# Timers a page sets, noted from the first script on (an init script): those due within the
# watch window are waited for before the last look for widgets.
TIMER_WATCH = r"""
(() => {
  if (window.__egovTimers) return;
  const pending = new Map();
  Object.defineProperty(window, '__egovTimers', {value: pending, enumerable: false});
  const set = window.setTimeout, clear = window.clearTimeout;
  window.setTimeout = function (fn, delay, ...rest) {
    if (typeof fn !== 'function') return set.call(window, fn, delay, ...rest);
    const wait = Number(delay) || 0;
    let handle;
    handle = set.call(window, function () { pending.delete(handle); return fn.apply(this, arguments); }, delay, ...rest);
    if (wait >= 100 && pending.size < 500) pending.set(handle, performance.now() + wait);
    return handle;
  };
  window.clearTimeout = function (handle) { pending.delete(handle); return clear.call(window, handle); };
})();
"""
# argument: the window's end (ms since navigation start) -> the next pending timer due before it, or null
_NEXT_TIMER = r"""
const end = arguments[0];
let next = null;
for (const due of (window.__egovTimers || new Map()).values()) if (due <= end && due > performance.now() - 50 && (next === null || due < next)) next = due;
return next === null ? null : {due: next, now: performance.now()};
"""


def install(session: browser_pool.BrowserSession) -> None:
    """Have the timer watch in every new document of the session (before the page's scripts)."""
    session.add_init_script("ai-timers", TIMER_WATCH)


def scan(session: browser_pool.BrowserSession, vendors: list[list[Any]], watch: float, budget: float) -> list[dict[str, Any]]:
    """The chat widgets of the page the session shows, after waiting (within `budget` seconds)
    for the timers due in the first `watch` seconds after load."""
    driver = session.driver
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        nxt = driver.execute_script(_NEXT_TIMER, watch * 1000)
        if not nxt:
            break
        pause = (float(nxt["due"]) - float(nxt["now"])) / 1000 + 0.3
        time.sleep(max(0.05, min(pause, deadline - time.monotonic())))
    found = driver.execute_script(_SCAN, vendors, _CHAT_MARK, _AI_MARK) or []
    for item in found:
        texts = [str(item.get("text") or "")]
        texts += [frame_text(session, f) for f in item.get("frames") or []]
        item["text"] = " ".join(t for t in texts if t).strip()
    return found[:MAX_WIDGETS]


def frame_text(session: browser_pool.BrowserSession, frame: Any) -> str:
    """What a frame shows (same- or cross-origin), through WebDriver's frame switching."""
    driver = session.driver
    try:
        driver.switch_to.frame(frame)
        return str(driver.execute_script(_HELPERS + "return document.body ? said(document.body) : '';") or "")[:3000]
    except browser_pool.WebDriverException:
        return ""
    finally:
        driver.switch_to.default_content()


def open_and_read(session: browser_pool.BrowserSession, item: dict[str, Any], wait: float,
                  disclosed: re.Pattern[str]) -> tuple[bool, str]:
    """Click the widget's launcher and read what is new in the widget (its subtree, its frames,
    nodes the page added since the click): (clicked, new text)."""
    driver = session.driver
    launcher, box = item.get("launcher"), item.get("box")
    if launcher is None or box is None:
        return False, ""
    before = str((driver.execute_script(_SAID, box) or {}).get("text") or "")
    frames_before = {_key(f): frame_text(session, f) for f in item.get("frames") or []}
    driver.execute_script(_WATCH_ADDED)
    try:
        launcher.click()
    except browser_pool.WebDriverException:
        try:
            driver.execute_script("arguments[0].click();", launcher)
        except browser_pool.WebDriverException:
            return False, ""
    deadline = time.monotonic() + wait
    text = ""
    while True:
        inside = driver.execute_script(_SAID, box) or {}
        now = str(inside.get("text") or "")
        added = driver.execute_script(_READ_ADDED, box) or {}
        parts = [_new(before, now), str(added.get("text") or "")]
        for f in inside.get("frames") or []:  # the widget's frames now (one shown only when opened, too)
            parts.append(_new(frames_before.get(_key(f), ""), frame_text(session, f)))
        for f in added.get("frames") or []:
            parts.append(frame_text(session, f))
        text = re.sub(r"\s+", " ", " ".join(p for p in parts if p)).strip()
        if disclosed.search(fold(text)) or time.monotonic() >= deadline:
            return True, text
        time.sleep(0.2)


def _key(element: Any) -> str:
    return str(getattr(element, "id", "") or id(element))


def _new(before: str, after: str) -> str:
    """The text of `after` that `before` did not have (a label that changed, a message added)."""
    if not before:
        return after
    if after.startswith(before):
        return after[len(before):]
    old = set(re.findall(r"\w+", before.lower()))
    words = after.split()
    return " ".join(w for w in words if re.sub(r"\W", "", w.lower()) not in old)
