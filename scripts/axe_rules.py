"""Write checks/accessibility/axe_rules.json: every rule of the bundled axe-core with the WCAG
success criteria and EN 301 549 clauses its tags name (axe's own list, read with Node).

    python scripts/axe_rules.py        # rewrite the file
    python scripts/axe_rules.py --check  # exit 1 if it is not current (the tests do this)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checks.accessibility.axe import axe_source_path  # noqa: E402
from checks.accessibility.wcag import RULES_FILE, criteria_of_tags, en_clauses_of_tags  # noqa: E402

LIST = """
const axe = require(process.argv[1]);
process.stdout.write(JSON.stringify({version: axe.version,
  rules: axe.getRules().map(r => ({id: r.ruleId, tags: r.tags}))}));
"""


def axe_rules(tags: list[str] | None = None) -> tuple[str, list[dict]]:
    """(axe version, [{id, tags}]) as the bundled axe-core lists them; with `tags`, only the rules
    axe runs for those tags (`axe.getRules(tags)`)."""
    script = LIST if tags is None else LIST.replace("axe.getRules()", "axe.getRules(JSON.parse(process.argv[2]))")
    out = subprocess.run(["node", "-e", script, str(axe_source_path()), json.dumps(tags or [])], capture_output=True,
                         text=True, check=True, timeout=60)
    data = json.loads(out.stdout)
    return str(data["version"]), list(data["rules"])


def render() -> str:
    version, rules = axe_rules()
    doc = {"axe": version, "rules": {r["id"]: {"criteria": criteria_of_tags(r["tags"]),
                                               "en_301_549": en_clauses_of_tags(r["tags"]), "tags": sorted(r["tags"])}
                                     for r in sorted(rules, key=lambda r: r["id"])}}
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = RULES_FILE.read_text(encoding="utf-8") if RULES_FILE.exists() else ""
        if current != text:
            print(f"{RULES_FILE} ist veraltet: python scripts/axe_rules.py", file=sys.stderr)
            return 1
        return 0
    RULES_FILE.write_text(text, encoding="utf-8")
    print(f"geschrieben: {RULES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
