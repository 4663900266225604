"""What is wrong with a configuration, said so that an operator can fix it: file, line, service,
field and a German message with what would be accepted. Used by `monitor.config`."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one file."""

    file: str
    line: int | None
    service: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        svc = f" Dienst '{self.service}'" if self.service else ""
        field = f" Feld '{self.field}':" if self.field and self.field != "-" else ""
        return f"{where}:{svc}{field} {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


# --------------------------------------------------------------------------- YAML with line numbers


class _LineIndex:
    """Maps a path of keys/indexes in a YAML document to the line it stands on.

    The document's nodes (with where each stands) are composed again only when a line is
    asked for, that is when something is wrong: a valid catalog never holds them. They are
    about 40 times the file's size (a 10,000-service catalog of 2.3 MB: 85 MB of nodes
    beside 19 MB of data), and what a daemon's reload once allocated stays with the process.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    @functools.cached_property
    def root(self) -> yaml.Node | None:
        loader = _LOADER(self.text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()

    def line(self, path: tuple[Any, ...]) -> int | None:
        node = self.root
        best = node.start_mark.line + 1 if node is not None else None
        for key in path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == str(key):
                        nxt, best = v, k.start_mark.line + 1
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                best = node.start_mark.line + 1
            else:
                break
            if node is None:
                break
        return best


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
# Scalars built by SafeLoader's own functions; collections with another tag (!!set, !!omap),
# merge keys (`<<`, whose semantics have changed between PyYAML releases) and anything
# unusual are left to PyYAML itself (_Unusual).
_SCALARS = {_TAG + t: yaml.SafeLoader.yaml_constructors[_TAG + t]
            for t in ("null", "bool", "int", "float", "binary", "timestamp", "str")}


class _Unusual(Exception):
    """Something `_data_of` leaves to PyYAML's own composer and constructor."""


def _data_of(text: str) -> Any:
    """The document in `text` as SafeLoader builds it, built straight from the parser's events.

    PyYAML composes the whole node tree first (with two marks per node: about 40 times the
    file's size, 85 MB for a 10,000-service catalog) and only then builds the data. Here each
    scalar's node lives only while its value is built, so reading a large catalog (a daemon's
    reload, beside the running configuration) costs the data and not the tree as well.
    Anything beyond plain mappings, sequences, scalars, anchors and aliases, and every error,
    goes the classic way, so the data and the errors are exactly PyYAML's."""
    loader = _LOADER(text)
    try:
        try:
            return _events_to_data(loader)
        except (_Unusual, yaml.YAMLError, RecursionError):
            pass
    finally:
        loader.dispose()
    loader = _LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _events_to_data(loader: Any) -> Any:
    ev = yaml.events
    loader.get_event()  # StreamStart
    if loader.check_event(ev.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStart
    anchors: dict[str, Any] = {}
    data = _build(loader, loader.get_event(), anchors)
    loader.get_event()  # DocumentEnd
    if not loader.check_event(ev.StreamEndEvent):
        raise _Unusual("more than one document")
    return data


def _build(loader: Any, event: Any, anchors: dict[str, Any]) -> Any:
    ev = yaml.events
    if getattr(event, "anchor", None) in anchors and not isinstance(event, ev.AliasEvent):
        raise _Unusual("anchor defined twice")  # PyYAML's composer refuses it
    if isinstance(event, ev.AliasEvent):
        if event.anchor not in anchors:
            raise _Unusual("undefined alias")
        return anchors[event.anchor]
    if isinstance(event, ev.ScalarEvent):
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        build = _SCALARS.get(tag)
        if build is None:
            raise _Unusual(tag)
        value = build(loader, yaml.ScalarNode(tag, event.value, None, None, event.style))
    elif isinstance(event, ev.SequenceStartEvent):
        if event.tag not in (None, "!", _TAG + "seq"):
            raise _Unusual(event.tag)
        value = []
        if event.anchor is not None:
            anchors[event.anchor] = value
        while not loader.check_event(ev.SequenceEndEvent):
            value.append(_build(loader, loader.get_event(), anchors))
        loader.get_event()
        return value
    elif isinstance(event, ev.MappingStartEvent):
        if event.tag not in (None, "!", _TAG + "map"):
            raise _Unusual(event.tag)
        value = {}
        if event.anchor is not None:
            anchors[event.anchor] = value
        while not loader.check_event(ev.MappingEndEvent):
            key_event = loader.get_event()
            if isinstance(key_event, ev.ScalarEvent) and key_event.tag is None and key_event.value == "<<" \
                    and key_event.implicit[0]:
                raise _Unusual("merge key")
            key = _build(loader, key_event, anchors)
            try:
                hash(key)
            except TypeError:
                raise _Unusual("unhashable key") from None
            value[key] = _build(loader, loader.get_event(), anchors)
        loader.get_event()
        return value
    else:
        raise _Unusual(type(event).__name__)
    if event.anchor is not None:
        anchors[event.anchor] = value
    return value


def _read_yaml(path: Path) -> tuple[Any, _LineIndex]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), None, None, "", "Datei nicht gefunden; Pfad prüfen oder mit "
                                                                    "--config (oder $EGOV_MONITOR_CONFIG) angeben")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, None, "", f"Datei nicht lesbar: {exc}")]) from None
    try:
        data = _data_of(text)  # the data only: lines are looked up when an issue needs one (_LineIndex)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError([ConfigIssue(str(path), mark.line + 1 if mark else None, None, "",
                                       f"kein gültiges YAML: {getattr(exc, 'problem', exc)}")]) from None
    return data, _LineIndex(text)


def _issues_from(exc: ValidationError, file: str, index: _LineIndex, prefix: tuple = (),
                 service: str | None = None, data: Any = None) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        svc = service
        if svc is None and len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int) and isinstance(data, dict):
            try:
                svc = str(data["services"][loc[1]].get("id") or f"#{loc[1] + 1}")
            except (AttributeError, IndexError, KeyError, TypeError):
                svc = f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc) or "-"
        issues.append(ConfigIssue(file, index.line(loc), svc, field, german(err)))
    return issues


def german(err: Any) -> str:
    """A pydantic error as an operator reads it: German, with what would be accepted."""
    error_type, ctx, msg = err["type"], err.get("ctx") or {}, str(err["msg"])
    if error_type == "extra_forbidden":
        return "unbekanntes Feld (Tippfehler?); erlaubte Felder stehen in config/REFERENCE.md"
    if error_type == "missing":
        return "Pflichtfeld fehlt"
    if error_type.startswith("url_"):
        why = {"relative URL without a base": "Schema fehlt", "empty host": "kein Host",
               "invalid port number": "ungültiger Port", "invalid international domain name": "ungültiger Name"}
        error = str(ctx.get("error", msg))
        return (f"keine gültige Adresse ({why.get(error, error)}); vollständig mit Schema angeben, "
                "z. B. https://dienst.example/")
    if error_type in ("literal_error", "enum"):
        # pydantic lists the choices as "'a', 'b' or 'c'"
        return "nicht erlaubt; erlaubt: " + re.sub(r" or ('[^']*')$", r" oder \1", str(ctx.get("expected", "")))
    if error_type in ("int_parsing", "int_type", "int_from_float"):
        return "erwartet eine ganze Zahl"
    if error_type in ("float_parsing", "float_type"):
        return "erwartet eine Zahl"
    if error_type in ("bool_parsing", "bool_type"):
        return "erwartet true oder false"
    if error_type in ("string_type", "str_type"):
        return "erwartet Text"
    if error_type == "list_type":
        return "erwartet eine Liste, z. B. [a, b]"
    if error_type in ("dict_type", "model_type", "model_attributes_type"):
        return "erwartet eine Zuordnung (name: wert)"
    bounds = {"greater_than": ("größer als", "gt"), "greater_than_equal": ("mindestens", "ge"),
              "less_than": ("kleiner als", "lt"), "less_than_equal": ("höchstens", "le")}
    if error_type in bounds:
        words, key = bounds[error_type]
        return f"muss {words} {ctx.get(key)} sein"
    if error_type == "string_too_short":
        return f"zu kurz: mindestens {ctx.get('min_length')} Zeichen"
    if error_type == "string_too_long":
        return f"zu lang: höchstens {ctx.get('max_length')} Zeichen"
    if error_type == "too_short":
        return f"zu wenige Einträge: mindestens {ctx.get('min_length')}"
    if error_type == "too_long":
        return f"zu viele Einträge: höchstens {ctx.get('max_length')}"
    if error_type == "string_pattern_mismatch":
        return f"passt nicht auf das Muster {ctx.get('pattern')}"
    if error_type in ("value_error", "assertion_error"):
        return msg.split(", ", 1)[1] if msg.startswith(("Value error, ", "Assertion failed, ")) else msg
    return msg
