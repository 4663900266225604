"""The import graph of checks/ and monitor/, read from the AST, and its layers.

Every `import` and `from ... import` counts, at module level and inside functions (an import
moved into a function to dodge a cycle is still an edge); only imports under
`if TYPE_CHECKING:` do not, since they import nothing at run time (annotations may name a type
of any layer). `python -m tests.import_graph` prints the layer picture of docs/architecture.md.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CORE = {"checks.result", "checks.settings", "checks.kind"}
DATA = ("monitor.config", "monitor.config_issues", "monitor.store", "monitor.batchsql", "monitor.tables", "monitor.rows",
        "monitor.rollup", "monitor.migrations", "monitor.incidents", "monitor.dependencies")
MODEL = ("monitor.report.model", "monitor.report.format", "monitor.report.period", "monitor.report.charts",
         "monitor.report.timeline")
PRESENTATION_BASE = ("monitor.kinds.base", "monitor.kinds.common")

# Which layers a module of each layer may import (lowest first). Consumers may import anything
# but a kind's own presentation: they reach kinds through the registry.
LAYERS = ("core", "checks", "data", "report model", "presentation", "registry", "consumers")
ALLOWED = {
    "core": {"core"},
    "checks": {"core", "checks"},
    "data": {"core", "checks", "data"},
    "report model": {"core", "checks", "data", "report model"},
    "presentation": {"core", "checks", "data", "report model", "presentation"},
    "registry": {"core", "presentation"},
    "consumers": {"core", "checks", "data", "report model", "presentation", "registry", "consumers"},
}


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    if module.startswith("checks"):
        return "checks"
    if _under(module, DATA):
        return "data"
    if _under(module, MODEL):
        return "report model"
    if module == "monitor.kinds":
        return "registry"
    if module.startswith("monitor.kinds."):
        return "presentation"
    return "consumers"


def kind_of_presentation(module: str) -> str | None:
    """The kind a presentation module belongs to (monitor.kinds.<kind>...), None for the shared ones."""
    if not module.startswith("monitor.kinds.") or _under(module, PRESENTATION_BASE):
        return None
    return module.split(".")[2]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """What `source` imports at run time: (module, names taken from it) per import statement."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    out: list[tuple[str, list[str]]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((base, [a.name for a in node.names]))
    return [(m, names) for m, names in out if m.split(".")[0] in ("checks", "monitor")]


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules of ours it imports (only names that are modules of the tree)."""
    files = {module_name(p, root): p for top in ("checks", "monitor") for p in (root / top).rglob("*.py")}
    out = {}
    for name, path in files.items():
        wanted: set[str] = set()
        for base, names in imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in files]
            wanted.update(subs)
            if len(subs) < len(names) or not names:  # `from a import b` with b a name of a: an edge to a
                wanted.add(base)
        out[name] = {m for m in wanted if m in files and m != name}
    return out


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import against the layers, as 'a -> b (layer a -> layer b)'."""
    found = []
    for a, targets in sorted(edges.items()):
        for b in sorted(targets):
            la, lb = layer(a), layer(b)
            if lb not in ALLOWED[la]:
                found.append(f"{a} -> {b} ({la} -> {lb})")
            elif lb == "presentation" and la in ("presentation", "consumers"):
                ka, kb = kind_of_presentation(a), kind_of_presentation(b)
                if kb is not None and ka != kb:
                    found.append(f"{a} -> {b} ({la} -> the presentation of {kb})")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def picture(edges: dict[str, set[str]]) -> str:
    """The layers and the imports between them (with how many module imports each edge
    stands for), as a Mermaid flowchart."""
    counts = Counter((layer(a), layer(b)) for a, targets in edges.items() for b in targets if layer(a) != layer(b))
    modules = Counter(layer(m) for m in edges)
    ids = {name: name.replace(" ", "_") for name in LAYERS}
    lines = ["```mermaid", "flowchart BT"]
    lines += [f'    {ids[name]}["{name} ({modules[name]} modules)"]' for name in LAYERS]
    lines += [f"    {ids[a]} -->|{n}| {ids[b]}" for (a, b), n in sorted(counts.items(),
                                                                        key=lambda x: (LAYERS.index(x[0][0]),
                                                                                       LAYERS.index(x[0][1])))]
    return "\n".join([*lines, "```"])


if __name__ == "__main__":
    print(picture(graph()))
