"""The shape the kinds redesign promised, kept by tests (docs/architecture.md): the import
layers (read from the AST, function-level imports included), no import cycle, no kind named
outside its own folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from monitor.kinds import builtin
from tests import import_graph

ROOT = Path(__file__).resolve().parent.parent
# modules that serve every kind: none may name one (the registry and the kinds' own folders do)
CONSUMERS = ("monitor/metrics.py", "monitor/cli.py", "monitor/rollup.py", "monitor/report/figures.py",
             "monitor/report/render.py", "monitor/store.py", "monitor/rows.py", "monitor/daemon.py",
             "monitor/runner.py", "monitor/worker.py", "monitor/scheduler.py", "monitor/distributed.py",
             "monitor/statuspage/__init__.py", "monitor/config/models.py", "monitor/config/load.py",
             "monitor/config/schema.py", "monitor/config_issues.py", "monitor/report/model.py")
KIND_PACKAGES = {"availability", "security", "accessibility", "gdpr", "journey", "ai_act", "experience"}
# A composite kind may use the engines of the kinds it composes (never the other way round):
# the journey kind runs axe on every step, records the whole journey as the DSGVO check does and
# measures each step's page with the experience kind's collector.
COMPOSES = {"journey": {"accessibility", "gdpr", "experience"}, "ai_act": {"gdpr"}}


def modules(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts)


def test_no_module_is_longer_than_700_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules("checks", "monitor")
            if (n := len(p.read_text().splitlines())) > 700}
    assert long == {}


def test_the_consumers_never_ask_which_kind_they_hold():
    # a built-in kind named anywhere (a literal or a CheckKind member) is a per-kind branch in waiting
    pattern = re.compile(r"CheckKind|[\"'](availability|security|accessibility|gdpr|journey|ai_act|experience)[\"']")
    found = [f"{path}:{i}: {line.strip()}" for path in CONSUMERS
             for i, line in enumerate((ROOT / path).read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_checks_stay_free_of_prometheus_rich_and_jinja_and_kinds_import_no_other_kind():
    for path in modules("checks"):
        tree = ast.parse(path.read_text())
        imported = {n.module if isinstance(n, ast.ImportFrom) else a.name
                    for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                    for a in (n.names if isinstance(n, ast.Import) else [n]) if getattr(n, "module", True)}
        imported = {m for m in imported if m}
        assert not {m for m in imported if m.split(".")[0] in ("prometheus_client", "rich", "jinja2", "monitor")}, path
        own = path.relative_to(ROOT / "checks").parts[0].removesuffix(".py")
        others = {m.split(".")[1] for m in imported if m.startswith("checks.") and len(m.split(".")) > 1} & KIND_PACKAGES
        assert others - {own} - COMPOSES.get(own, set()) == set(), (path, others)
        if own in COMPOSES:  # their engines, never their runs: `checks.<kind>` itself is not imported
            assert not {m for m in imported if m in {f"checks.{k}" for k in COMPOSES[own]}}, path


def test_every_module_keeps_to_its_layer_and_no_import_closes_a_cycle():
    edges = import_graph.graph()
    assert len(edges) > 90 and all(m.startswith(("checks", "monitor")) for m in edges)
    assert import_graph.violations(edges) == []
    assert import_graph.cycles(edges) == []
    # the core imports nothing of ours but the core
    assert {b for a in import_graph.CORE for b in edges[a]} <= import_graph.CORE


def test_a_back_edge_is_caught_even_inside_a_function():
    """The store's row codec reaching up to a kind's presentation, hidden in a function (as the
    old code dodged its cycle): the layer test names the edge and the cycle it closes."""
    edges = import_graph.graph()
    rows = (ROOT / "monitor" / "rows.py").read_text()
    rows += "\n\ndef _kind(name):\n    from monitor.kinds import availability\n\n    return availability.KIND\n"
    edges["monitor.rows"] = {b for base, names in import_graph.imports_of(rows, "monitor.rows", False)
                             for b in [f"{base}.{n}" for n in names] if b in edges}
    assert "monitor.kinds.availability" in edges["monitor.rows"]
    assert "monitor.rows -> monitor.kinds.availability (data -> presentation)" in import_graph.violations(edges)
    assert any("monitor.rows" in c and "monitor.kinds.availability" in c for c in import_graph.cycles(edges))
    # under `if TYPE_CHECKING:` an import is an annotation's, not an edge
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from monitor.kinds import availability\n"
    assert import_graph.imports_of(typed, "monitor.rows", False) == []


def test_the_layer_picture_in_the_docs_is_the_import_graphs():
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert import_graph.picture(import_graph.graph()) in text, "docs/architecture.md: run `python -m tests.import_graph`"


def test_every_registered_kind_has_a_presentation_and_a_unique_report_place():
    kinds = list(builtin())
    assert [k.name for k in kinds] == ["availability", "security", "accessibility", "gdpr", "journey", "ai_act",
                                       "experience", "domain"]
    for kind in kinds:
        assert kind.check.kind == kind.name and kind.title and kind.section_id and kind.report_template
        names = [f.name for f in kind.families]
        assert len(names) == len(set(names))
    assert len({k.report_rank for k in kinds}) == len(kinds)
    all_families = [f.name for k in kinds for f in k.families]
    assert len(all_families) == len(set(all_families)), "two kinds export the same family"
