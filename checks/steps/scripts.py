"""The browser side of a journey step: finding elements the way a person (or a screen
reader) names them, reading the page's state, masking secrets before a screenshot.

Every input travels as a WebDriver script argument (JSON), never pasted into the source.
"""

# Shared helpers: normalised text, a (close) approximation of the accessible name
# (aria-labelledby, aria-label, <label>, button value, alt, text, title, placeholder) and
# of the implicit ARIA role, visibility.
_HELPERS = r"""
const norm = s => String(s || '').replace(/\s+/g, ' ').trim().toLowerCase();
const textOf = el => {
  let t = el.innerText !== undefined ? el.innerText : el.textContent;
  for (const img of el.querySelectorAll ? el.querySelectorAll('img[alt]') : []) t += ' ' + img.alt;
  return t || '';
};
const byIds = (el, attr) => (el.getAttribute(attr) || '').split(/\s+/).filter(Boolean)
  .map(id => { const e = document.getElementById(id); return e ? textOf(e) : ''; }).join(' ');
const roleOf = el => {
  const explicit = (el.getAttribute('role') || '').split(/\s+/)[0];
  if (explicit) return explicit;
  const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || 'text').toLowerCase();
  if (tag === 'a' && el.hasAttribute('href')) return 'link';
  if (tag === 'button' || tag === 'summary') return 'button';
  if (tag === 'input') {
    if (['submit', 'button', 'reset', 'image'].includes(type)) return 'button';
    if (type === 'checkbox') return 'checkbox';
    if (type === 'radio') return 'radio';
    if (type === 'file') return 'file';
    return 'textbox';
  }
  if (tag === 'select') return 'combobox';
  if (tag === 'textarea') return 'textbox';
  if (tag === 'option') return 'option';
  return '';
};
const nameOf = el => {
  let n = byIds(el, 'aria-labelledby');
  if (norm(n)) return n;
  n = el.getAttribute('aria-label');
  if (norm(n)) return n;
  const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
  if (el.labels && el.labels.length) {
    n = Array.from(el.labels).map(l => l.innerText || l.textContent).join(' ');
    if (norm(n)) return n;
  }
  if (tag === 'input' && ['submit', 'button', 'reset'].includes(type)) return el.value || (type === 'submit' ? 'Senden' : '');
  if (tag === 'input' && type === 'image') return el.alt || el.value || '';
  if (['button', 'a', 'summary', 'option'].includes(tag) || el.getAttribute('role')) {
    n = textOf(el);
    if (norm(n)) return n;
  }
  return el.getAttribute('title') || el.getAttribute('placeholder') || '';
};
const visible = el => {
  if (!el.isConnected) return false;
  if (el.tagName === 'OPTION') { const sel = el.closest('select, datalist'); return !!sel && sel.tagName === 'SELECT' && visible(sel); }
  const s = getComputedStyle(el);
  if (s.visibility === 'hidden' || s.display === 'none') return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 || r.height > 0;
};
"""

_KINDS = r"""
const SELECTORS = {
  click: 'button, a[href], input[type=submit], input[type=button], input[type=reset], input[type=image], summary, ' +
         '[role=button], [role=link], [role=tab], [role=menuitem], [role=option], [role=checkbox], [role=radio], [role=switch]',
  fill: 'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image])' +
        ':not([type=checkbox]):not([type=radio]):not([type=file]), textarea, [role=textbox], [contenteditable=true]',
  choose: 'select',
  tick: 'input[type=checkbox], input[type=radio], [role=checkbox], [role=radio], [role=switch]',
  upload: 'input[type=file]',
  element: '*',
};
// A checkbox or file field hidden behind a styled label still counts: its label is visible.
const shown = el => visible(el) || (el.labels && Array.from(el.labels).some(visible));
"""

# arguments: kind, name, role, css -> {element, candidates}
LOCATE = _HELPERS + _KINDS + r"""
const [kind, name, role, css] = arguments;
const want = norm(name);
const pool = Array.from(document.querySelectorAll(SELECTORS[kind] || '*')).filter(shown)
  .filter(el => !role || roleOf(el) === role);
let found = null;
if (want) {
  const named = pool.map(el => [el, norm(nameOf(el))]).filter(([el, n]) => n);
  for (const test of [n => n === want, n => n.startsWith(want), n => n.includes(want)]) {
    const hit = named.find(([el, n]) => test(n));
    if (hit) { found = hit[0]; break; }
  }
}
if (!found && css) {
  try { found = Array.from(document.querySelectorAll(css)).find(shown) || null; } catch (e) { found = null; }
}
const candidates = kind === 'element' ? [] :
  pool.slice(0, 200).map(el => nameOf(el).replace(/\s+/g, ' ').trim().slice(0, 80)).filter(x => x).slice(0, 12);
return {element: found, candidates: candidates};
"""

# arguments: select element, option text -> option element or null
OPTION = r"""
const norm = s => String(s || '').replace(/\s+/g, ' ').trim().toLowerCase();
const [select, text] = arguments;
const options = Array.from(select.options || []);
const want = norm(text);
return options.find(o => norm(o.text) === want) || options.find(o => norm(o.text).startsWith(want)) || null;
"""

# The page's state: its document (timeOrigin changes with every new document), address,
# HTTP status of the document, whether it finished loading.
STATE = r"""
let status = 0;
try { const nav = performance.getEntriesByType('navigation')[0]; status = (nav && nav.responseStatus) || 0; } catch (e) {}
return {doc: String(performance.timeOrigin), url: String(location.href).slice(0, 2048), status: status,
        ready: document.readyState, title: (document.title || '').slice(0, 200)};
"""

# arguments: expectation {text, url, element, role, css, no_error} -> {ok, found}
EXPECT = _HELPERS + _KINDS + r"""
const exp = arguments[0];
const missing = [];
const body = document.body ? (document.body.innerText || '') : '';
if (exp.text && !norm(body).includes(norm(exp.text))) missing.push('text');
if (exp.url) { let ok = false; try { ok = new RegExp(exp.url).test(location.href); } catch (e) {} if (!ok) missing.push('url'); }
if (exp.element) {
  const want = norm(exp.element);
  const hit = Array.from(document.querySelectorAll('*')).filter(visible)
    .filter(el => !exp.role || roleOf(el) === exp.role).some(el => norm(nameOf(el)).includes(want));
  if (!hit) missing.push('element');
}
if (exp.css) { let hit = false; try { hit = Array.from(document.querySelectorAll(exp.css)).some(visible); } catch (e) {} if (!hit) missing.push('css'); }
const alerts = Array.from(document.querySelectorAll('[role=alert], [aria-live=assertive]')).filter(visible)
  .map(el => (el.innerText || '').replace(/\s+/g, ' ').trim()).filter(x => x);
const invalid = Array.from(document.querySelectorAll('[aria-invalid=true]')).filter(visible).map(nameOf)
  .map(x => x.replace(/\s+/g, ' ').trim()).filter(x => x);
let status = 0;
try { const nav = performance.getEntriesByType('navigation')[0]; status = (nav && nav.responseStatus) || 0; } catch (e) {}
if (exp.no_error && (alerts.length || invalid.length || status >= 400)) missing.push('no_error');
const h1 = document.querySelector('h1');
return {ok: missing.length === 0, missing: missing, title: (document.title || '').slice(0, 200),
        heading: h1 ? (h1.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 200) : '',
        url: String(location.href).slice(0, 2048), alerts: alerts.slice(0, 5).map(a => a.slice(0, 200)),
        invalid: invalid.slice(0, 5).map(a => a.slice(0, 100)), status: status};
"""

# Form targets on the page (actions and formactions, absolute): blocked on the last step.
FORM_TARGETS = r"""
const abs = v => { try { const u = new URL(v || '', document.baseURI); u.hash = ''; return String(u); } catch (e) { return ''; } };
const out = new Set();
for (const f of document.querySelectorAll('form')) out.add(abs(f.getAttribute('action') || location.href));
for (const b of document.querySelectorAll('[formaction]')) out.add(abs(b.getAttribute('formaction')));
return Array.from(out).filter(x => x).slice(0, 100);
"""

# arguments: values to hide -> number of elements masked. Password fields and any field or
# text showing a configured value are painted over before a screenshot.
MASK = r"""
const values = (arguments[0] || []).filter(v => v && v.length >= 3);
let masked = 0;
const paint = el => { for (const [k, v] of [['background', '#000'], ['color', '#000'], ['-webkit-text-fill-color', '#000'],
  ['text-shadow', 'none'], ['caret-color', '#000']]) el.style.setProperty(k, v, 'important'); masked++; };
for (const el of document.querySelectorAll('input, textarea, [contenteditable=true]')) {
  const value = 'value' in el ? String(el.value || '') : String(el.textContent || '');
  if ((el.getAttribute('type') || '').toLowerCase() === 'password' || values.some(v => value.includes(v))) paint(el);
}
if (document.body && values.length) {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const hits = [];
  while (walker.nextNode()) if (values.some(v => walker.currentNode.nodeValue.includes(v))) hits.push(walker.currentNode);
  for (const node of hits) {
    let t = node.nodeValue;
    for (const v of values) t = t.split(v).join('\u2588'.repeat(Math.min(v.length, 12)));
    node.nodeValue = t; masked++;
  }
}
return masked;
"""

VIEWPORT = "return [window.innerWidth, window.innerHeight];"

# -> what BEFORE_CLICK's listeners saw: whether the page let the click or the submission go
# ahead ({go: true}) or prevented it (handled in place); null when neither happened yet.
READ_DEFAULT = "return window.__egovNav || null;"


# arguments: element -> {kind, type, value, password}: what a field holds now, for the check
# after fill/choose/tick/upload (a step never passes on a value it did not verify).
FIELD_VALUE = r"""
const el = arguments[0];
const tag = el.tagName.toLowerCase();
const type = (el.getAttribute('type') || (tag === 'textarea' ? 'textarea' : 'text')).toLowerCase();
if (tag === 'select') {
  return {kind: 'select', type: 'select', value: Array.from(el.selectedOptions || []).map(o => o.text.replace(/\s+/g, ' ').trim()).join(', ')};
}
if (type === 'checkbox' || type === 'radio' || ['checkbox', 'radio', 'switch'].includes(el.getAttribute('role') || '')) {
  const checked = 'checked' in el ? el.checked : el.getAttribute('aria-checked') === 'true';
  return {kind: 'checked', type: type, value: checked ? 'true' : 'false'};
}
if (type === 'file') return {kind: 'file', type: type, value: Array.from(el.files || []).map(f => f.name).join(', ')};
const value = 'value' in el ? String(el.value || '') : String(el.innerText || el.textContent || '');
return {kind: 'value', type: type, value: value.slice(0, 500), password: type === 'password'};
"""

# The input types whose value a browser shows in the user's locale (a date as 17.05.1980 in
# German, 05/17/1980 in English) but holds as an ISO string: typing depends on the locale, so
# their value is set as ISO through the element's own setter, with the events typing fires.
TYPED_INPUTS = ("date", "time", "datetime-local", "month", "week", "number", "range", "color")

# arguments: element, value -> the value the element holds afterwards ('' when the browser refused it)
SET_VALUE = r"""
const [el, value] = arguments;
const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
el.focus();
Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, value);
el.dispatchEvent(new Event('input', {bubbles: true}));
el.dispatchEvent(new Event('change', {bubbles: true}));
el.blur();
return String(el.value);
"""

# The signs a page shows that a form was refused by the service itself (its server or its
# script): fields marked aria-invalid (with their error text) and error summaries (an
# error-summary class, or an alert whose text speaks of an error).
_REJECTED = r"""
const rejected = () => {
  const text = el => (el.innerText || '').replace(/\s+/g, ' ').trim();
  const describe = el => ((el.getAttribute('aria-errormessage') || '') + ' ' + (el.getAttribute('aria-describedby') || ''))
    .split(/\s+/).filter(x => x).map(id => document.getElementById(id)).filter(x => x && visible(x)).map(text)
    .filter(x => x).join(' ').slice(0, 200);
  const fields = Array.from(document.querySelectorAll('[aria-invalid=true]')).filter(visible)
    .map(el => ({name: nameOf(el).replace(/\s+/g, ' ').trim().slice(0, 120) || el.name || el.id || '?', message: describe(el)}));
  const SUMMARY = '.error-summary, .govuk-error-summary, [class*="error-summary"], [class*="errorSummary"], ' +
                  '[class*="fehlerliste"], [class*="fehler-zusammenfassung"], [id*="error-summary"], [id*="fehlerliste"]';
  const words = /fehler|error|ungültig|nicht korrekt|bitte (korrigieren|prüfen sie die markierten|geben|füllen|wählen)|pflichtfeld|erforderlich/i;
  const summaries = Array.from(document.querySelectorAll(SUMMARY + ', [role=alert]')).filter(visible)
    .filter(el => el.matches(SUMMARY) || words.test(text(el))).map(text).filter(x => x);
  return {fields: fields.slice(0, 20), summaries: summaries.slice(0, 3).map(x => x.slice(0, 300))};
};
"""

# arguments: the element about to be clicked -> {likely, submits, refusals}, in one round trip:
# - likely: whether the click will most likely navigate the top document (a link to another
#   document in this tab, or a form submission button);
# - submits: whether it submits its form (a submit or image button of a form), and then
#   refusals: the invalid fields and error summaries the page shows already (not new after it);
# - and the watches: whether the page lets the click or the submission it starts go ahead or
#   prevents it (a single-page application handles it in place; our own listeners run after
#   the page's, on window), and which fields the browser's constraint validation refuses.
BEFORE_CLICK = _HELPERS + _REJECTED + r"""
const el = arguments[0];
window.__egovNav = null;
window.addEventListener('click', e => { if (!window.__egovNav) window.__egovNav = {go: !e.defaultPrevented}; },
                        {once: true});
window.addEventListener('submit', e => { window.__egovNav = {go: !e.defaultPrevented, submit: true}; }, {once: true});
window.__egovInvalid = [];
if (!window.__egovInvalidWatch) {
  window.__egovInvalidWatch = true;
  document.addEventListener('invalid', e => {
    const f = e.target;
    if (window.__egovInvalid.length < 20)
      window.__egovInvalid.push({name: nameOf(f).replace(/\s+/g, ' ').trim().slice(0, 120) || f.name || f.id || '?',
                                 message: String(f.validationMessage || '').slice(0, 200)});
  }, {capture: true});
}
const likely = (() => {
  const link = el.closest('a[href], area[href]');
  if (link) {
    const href = link.getAttribute('href') || '';
    if (href.startsWith('#') || href.toLowerCase().startsWith('javascript:') || link.hasAttribute('download')) return false;
    if ((link.getAttribute('target') || '_self') !== '_self') return false;
    try { const u = new URL(link.href); return u.href.split('#')[0] !== location.href.split('#')[0]; } catch (e) { return false; }
  }
  const control = el.closest('button, input[type=submit], input[type=image]');
  if (!control || !control.form) return false;
  const type = (control.getAttribute('type') || 'submit').toLowerCase();
  return type === 'submit' || type === 'image';
})();
const submits = !!(el.form && (el.type === 'submit' || el.type === 'image'));
const seen = submits ? rejected() : {fields: [], summaries: []};
return {likely: likely, submits: submits, refusals: seen.fields.length + seen.summaries.length};
"""

# arguments: whether the click submitted a form -> after it, in one round trip: the fields the
# browser's validation refused since BEFORE_CLICK (`invalid`), the error summaries and alerts
# the page shows (`alerts`), and for a submission the signs of a refusal (`fields`, `summaries`)
AFTER_CLICK = _HELPERS + _REJECTED + r"""
const alerts = Array.from(document.querySelectorAll('[role=alert], [aria-live=assertive], .error-summary, .govuk-error-summary'))
  .filter(visible).map(el => (el.innerText || '').replace(/\s+/g, ' ').trim()).filter(x => x);
const out = {invalid: window.__egovInvalid || [], alerts: alerts.slice(0, 3).map(a => a.slice(0, 200))};
return arguments[0] ? Object.assign(out, rejected()) : out;
"""
