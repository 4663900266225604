"""Reading YAML for the configuration: exactly PyYAML's SafeLoader data and errors, without
PyYAML's node tree (a daemon's reload of a large catalog beside the running one)."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import pytest
import yaml

from monitor.config_issues import ConfigError, _data_of, _read_yaml

ROOT = Path(__file__).resolve().parent.parent
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def classic(text: str):
    return yaml.load(text, Loader=LOADER)


def typed(value, path=()):
    """`value` with every type spelled out (1 == 1.0 == True in Python); a container inside
    itself as how many levels up it is."""
    if isinstance(value, dict | list) and id(value) in path:
        return ("up", len(path) - path.index(id(value)))
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v, path + (id(value),))) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v, path + (id(value),)) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def shared(value, seen=None) -> list[int]:
    """Which containers are the same object (an alias): their positions in a walk."""
    seen = {} if seen is None else seen
    out = []
    if isinstance(value, dict | list):
        if id(value) in seen:
            return [seen[id(value)]]
        out.append(seen.setdefault(id(value), len(seen)))
        for item in value.values() if isinstance(value, dict) else value:
            out += shared(item, seen)
    return out


CASES = [
    "", "# nur ein Kommentar\n", "---\n", "~", "a: 1\n", "- 1\n- 2\n",
    "ints: [1, -0, 0x1F, 0o17, 017, 1_000, 0b101, 1:30, +5]\n",
    "floats: [1.5, -.inf, .Inf, .nan, 6.02e+23, 1_0.5, 1:30.5, 1e3, .5]\n",
    "bools: [yes, No, on, OFF, true, False, y, n]\nnulls: [~, null, Null, ]\nempty:\n",
    "dates: [2026-12-06, 2026-12-06T03:04:05Z, 2026-12-06 03:04:05.5 +01:00, 2026-12-06t03:04:05-05:30]\n",
    "strs: ['1', \"0x10\", !!str 123, !!str yes, ! 12, \"\\u00e4\\t\", 'it''s', \"Stra\\u00dfe\"]\n",
    "typed: [!!int '7', !!float '2', !!bool 'yes', !!null '', !!timestamp '2026-01-01']\n",
    "bin: !!binary aGFsbG8=\n",
    "block: |\n  zwei\n  Zeilen\nfold: >-\n  eins\n  zwei\n\nkeep: |+\n  x\n\n",
    "services:\n  - id: a\n    urls: &urls [\"https://a.example/\"]\n    checks: &checks\n      availability: {interval: 60s}\n"
    "  - id: b\n    urls: *urls\n    checks: *checks\n",
    "x: &x 5\ny: *x\nz: &s hallo\nw: [*s, *x]\n",
    "a: &a [1, &b {c: *b}]\n",  # an alias inside its own anchor (as PyYAML allows)
    "? [1, 2]\n: unhashbar\n",  # PyYAML refuses a list as a key
    "? {a: 1}\n: unhashbar\n",
    "base: &base {interval: 60s, timeout: 5s}\nsvc:\n  <<: *base\n  timeout: 10s\n",  # merge keys: PyYAML's own way
    "a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc:\n  <<: [*a, *b]\n  z: 4\n",
    "a: {'<<': 1, \"<<\": 2}\n",  # quoted: an ordinary key
    "s: !!set {a, b}\no: !!omap [{a: 1}, {b: 2}]\np: !!pairs [{a: 1}, {a: 2}]\n",
    "dupe: 1\ndupe: 2\n",
    "a: !unbekannt 1\n", "a: *nirgends\n", "a: &x 1\nb: &x 2\n", "a: 1\n---\nb: 2\n", "a: [1, 2\n", "a: b: c\n",
    "\t- tab\n", "a: 'offen\n", "[" * 60 + "]" * 60 + "\n", "- " * 300 + "tief\n",
    "{" + ", ".join(f"k{i}: [{i}, '{i}', {i}.0]" for i in range(500)) + "}\n",
]


@pytest.mark.parametrize("text", CASES, ids=range(len(CASES)))
def test_the_data_and_the_errors_are_pyyamls_own(text):
    try:
        expected = classic(text)
    except yaml.YAMLError as exc:
        with pytest.raises(yaml.YAMLError) as got:
            _data_of(text)
        assert str(got.value) == str(exc) and type(got.value) is type(exc)
        return
    data = _data_of(text)
    assert typed(data) == typed(expected)
    assert shared(data) == shared(expected)


def test_every_yaml_file_of_the_project_reads_the_same():
    files = [p for d in ("config", "deploy", "docs", "tests") for p in (ROOT / d).rglob("*.y*ml")]
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            expected = classic(text)
        except yaml.YAMLError:
            continue  # (a few are deliberately invalid: tested above)
        assert typed(_data_of(text)) == typed(expected), path


def test_a_large_catalog_is_read_without_pyyamls_node_tree(tmp_path):
    """2,000 services: PyYAML's node tree would cost about five times the data while it is read."""
    entry = ("  - id: s{i:05d}\n    name: Dienst {i}\n    category: efa\n    operator: Land Saarland\n"
             "    contact: ops@example.invalid\n    urls: [\"https://s{i}.example/\"]\n    checks:\n"
             "      availability: {{interval: 60s, timeout: 5s, retries: 0}}\n")
    path = tmp_path / "catalog.yaml"
    path.write_text("services:\n" + "".join(entry.format(i=i) for i in range(2000)))
    text = path.read_text()
    tracemalloc.start()
    try:
        data, _index = _read_yaml(path)
        ours = tracemalloc.get_traced_memory()[1]
        del data
        tracemalloc.reset_peak()
        theirs_data = classic(text)
        theirs = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(theirs_data["services"]) == 2000
    assert ours * 3 < theirs, f"peak {ours / 1e6:.1f} MB reading, PyYAML {theirs / 1e6:.1f} MB"


def test_an_issue_still_finds_its_line(tmp_path):
    """The lines come from the nodes composed again only when an issue asks for one."""
    path = tmp_path / "catalog.yaml"
    path.write_text("services:\n  - id: a\n    urls: [\"https://a.example/\"]\n  - id: b\n    checks:\n"
                    "      availability: {interval: x}\n")
    data, index = _read_yaml(path)
    assert data["services"][1]["checks"]["availability"] == {"interval": "x"}
    assert index.line(("services", 1, "checks", "availability", "interval")) == 6
    assert index.line(("services", 0, "urls", 0)) == 3
    path.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError) as err:
        _read_yaml(path)
    assert err.value.issues[0].line is not None and "kein gültiges YAML" in err.value.issues[0].message
