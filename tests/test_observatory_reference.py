"""Our grades against the HTTP Observatory's own code (npm @mdn/mdn-http-observatory,
installed by the test set-up), on the table cases and on thousands of generated
retrievals. Any difference in a test result, pass flag, score or grade fails."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.security import headers as sh
from tests.observatory_cases import cases
from tests.test_security_headers import TABLE

REFERENCE = Path(__file__).resolve().parent.parent / "bench" / "observatory"


def reference_grades(retrievals: list[dict]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is missing: run `make test` (scripts/setup.sh test installs it)"
    assert (REFERENCE / "node_modules" / "@mdn" / "mdn-http-observatory").is_dir(), \
        "reference not installed: run scripts/setup.sh test"
    out = subprocess.run([node, str(REFERENCE / "reference.mjs"), "grade"], input=json.dumps(retrievals),
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)


def _compare(retrievals: list[dict]) -> list[str]:
    differences = []
    for case, ref in zip(retrievals, reference_grades(retrievals), strict=True):
        assert "error" not in ref, ref
        assert ref["algorithm_version"] == sh.ALGORITHM_VERSION
        ours = sh.grade(sh.retrieval_from_dict(case))
        for name, outcome in ours.tests.items():
            theirs = ref["tests"][name]
            if (outcome.result, outcome.passed) != (theirs["result"], theirs["pass"]):
                differences.append(f"{name}: ours {outcome.result}/{outcome.passed}, reference "
                                   f"{theirs['result']}/{theirs['pass']} for {json.dumps(case)[:400]}")
        if (ours.score, ours.grade) != (ref["score"], ref["grade"]):
            differences.append(f"score: ours {ours.score} {ours.grade}, reference {ref['score']} {ref['grade']}")
    return differences


def test_table_cases_match_the_reference():
    # Cases with an operator-supplied preload list are ours alone; the reference reads only Chromium's.
    retrievals = [sh.retrieval_to_dict(t[2]) for t in TABLE if t[2].preloaded is None]
    assert _compare(retrievals) == []


@pytest.mark.slow
def test_generated_retrievals_match_the_reference():
    generated = cases(3000, seed=20261121)
    grades = {sh.grade(sh.retrieval_from_dict(c)).grade for c in generated}
    assert {"A+", "B", "C", "D", "F"} <= grades  # the generator covers the whole scale
    differences = _compare(generated)
    assert differences == [], f"{len(differences)} differences, first: {differences[:3]}"
