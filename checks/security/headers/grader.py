"""Score and grade: the Observatory's grader over the analysers' outcomes."""

from __future__ import annotations

import dataclasses
from typing import Any

from checks.security.headers.cookies import cookies
from checks.security.headers.csp import content_security_policy
from checks.security.headers.policies import (
    cross_origin_embedder_policy,
    cross_origin_opener_policy,
    cross_origin_resource_policy,
    cross_origin_resource_sharing,
    permissions_policy,
    referrer_policy,
    version_disclosure,
    x_content_type_options,
    x_frame_options,
)
from checks.security.headers.retrieval import Retrieval
from checks.security.headers.scoring import (
    ALGORITHM,
    ALGORITHM_VERSION,
    GRADE_CHART,
    MINIMUM_SCORE_FOR_EXTRA_CREDIT,
    SCORE_TABLE,
    TestOutcome,
)
from checks.security.headers.sri import subresource_integrity
from checks.security.headers.transport import redirection, strict_transport_security

# --- grading ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Grade:
    score: int
    grade: str
    tests: dict[str, TestOutcome]
    extra: dict[str, TestOutcome]

    @property
    def tests_passed(self) -> int:
        return sum(1 for t in self.tests.values() if t.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": ALGORITHM, "algorithm_version": ALGORITHM_VERSION, "score": self.score,
                "grade": self.grade, "tests_passed": self.tests_passed,
                "tests_failed": len(self.tests) - self.tests_passed,
                "tests": {n: t.to_dict() for n, t in self.tests.items()},
                "extra": {n: t.to_dict() for n, t in self.extra.items()}}


def grade_for_score(score: int) -> str:
    score = max(score, 0)
    return GRADE_CHART[min(score - score % 5, 100)]


def analyse(r: Retrieval) -> dict[str, TestOutcome]:
    """Run every scored test, in the reference's order."""
    csp = content_security_policy(r)
    hsts = strict_transport_security(r)
    return {
        "content-security-policy": csp,
        "cookies": cookies(r, hsts),
        "cross-origin-resource-sharing": cross_origin_resource_sharing(r),
        "redirection": redirection(r),
        "referrer-policy": referrer_policy(r),
        "strict-transport-security": hsts,
        "subresource-integrity": subresource_integrity(r),
        "x-content-type-options": x_content_type_options(r),
        "x-frame-options": x_frame_options(r, csp),
        "cross-origin-resource-policy": cross_origin_resource_policy(r),
    }


def grade(r: Retrieval) -> Grade:
    """Score and grade: 100 plus every modifier; bonuses count only if the score
    without them is at least 90; never below 0."""
    tests = analyse(r)
    with_bonus = uncurved = 100
    for t in tests.values():
        modifier = SCORE_TABLE.get(t.result, 0)
        with_bonus += modifier
        if modifier < 0:
            uncurved += modifier
    score = max(with_bonus if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved, 0)
    extra = {f.__name__.replace("_", "-"): f(r) for f in (cross_origin_opener_policy, cross_origin_embedder_policy,
                                                           permissions_policy, version_disclosure)}
    return Grade(score, grade_for_score(score), tests, extra)
