"""What is wrong with a configuration, said so that an operator can fix it: file, line, service,
field and a German message with what would be accepted. Used by `monitor.config`."""

from __future__ import annotations

import dataclasses
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
    """Maps a path of keys/indexes in a YAML document to the line it stands on."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.root = node

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


def _read_yaml(path: Path) -> tuple[Any, _LineIndex]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), None, None, "", "Datei nicht gefunden; Pfad prüfen oder mit "
                                                                    "--config (oder $EGOV_MONITOR_CONFIG) angeben")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, None, "", f"Datei nicht lesbar: {exc}")]) from None
    try:
        # one parse (libyaml's where built in): the nodes give line numbers, the data is built from them
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError([ConfigIssue(str(path), mark.line + 1 if mark else None, None, "",
                                       f"kein gültiges YAML: {getattr(exc, 'problem', exc)}")]) from None
    return data, _LineIndex(node)


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
