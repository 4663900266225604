"""Security headers, analysed and graded the way the MDN HTTP Observatory does it.

Three stages in their own modules, as in the Observatory: `retrieval.retrieve()` fetches once (the HTTP URL, the HTTPS
URL with redirects and cookies, a CORS preflight), the analysers are pure functions over
that `Retrieval` (`csp`, `cookies`, `transport`, `sri`, `policies`), and `grader.grade()`
turns their results into score and grade (the score table is in `scoring`). Analysers never
touch the network, so they are tested on in-memory responses.

The scored tests, their expectations and modifiers follow MDN HTTP Observatory scoring
algorithm version 4 (npm package @mdn/mdn-http-observatory 1.4.x: src/analyzer/tests,
src/grader/charts.js, src/scanner/index.js). Where the reference has a quirk, it is kept
on purpose so that our grades equal its grades; the quirks are marked "reference:".
COOP, COEP, Permissions-Policy and version disclosure are reported as extra findings
with no score modifier: algorithm 4 does not score them.
"""

from __future__ import annotations

from checks.hosts import is_ip, registrable_domain
from checks.security.headers.cookies import Cookie, cookie_jar, cookies, parse_set_cookie
from checks.security.headers.csp import DUPLICATE_WARNINGS, CspError, content_security_policy, parse_csp, parse_csp_meta
from checks.security.headers.grader import Grade, analyse, grade, grade_for_score
from checks.security.headers.page import Page, parse_page
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
from checks.security.headers.retrieval import (
    HttpResponse,
    Retrieval,
    SessionResult,
    retrieval_from_dict,
    retrieval_to_dict,
    retrieve,
    site_urls,
)
from checks.security.headers.scoring import (
    ALGORITHM,
    ALGORITHM_VERSION,
    CORS_ORIGIN,
    EXTRA_TESTS,
    GRADE_CHART,
    GRADES,
    HTML_TYPES,
    MINIMUM_SCORE_FOR_EXTRA_CREDIT,
    SCORE_TABLE,
    SCORED_TESTS,
    SIX_MONTHS,
    Expectation,
    TestOutcome,
    worse,
)
from checks.security.headers.sri import subresource_integrity
from checks.security.headers.transport import is_hsts_preloaded, redirection, strict_transport_security

__all__ = [
    "ALGORITHM",
    "ALGORITHM_VERSION",
    "CORS_ORIGIN",
    "DUPLICATE_WARNINGS",
    "EXTRA_TESTS",
    "GRADES",
    "GRADE_CHART",
    "HTML_TYPES",
    "MINIMUM_SCORE_FOR_EXTRA_CREDIT",
    "SCORED_TESTS",
    "SCORE_TABLE",
    "SIX_MONTHS",
    "Cookie",
    "CspError",
    'Expectation',
    "Grade",
    "HttpResponse",
    "Page",
    "Retrieval",
    "SessionResult",
    "TestOutcome",
    "analyse",
    "content_security_policy",
    "cookie_jar",
    "cookies",
    "cross_origin_embedder_policy",
    "cross_origin_opener_policy",
    "cross_origin_resource_policy",
    "cross_origin_resource_sharing",
    "grade",
    "grade_for_score",
    "is_hsts_preloaded",
    "is_ip",
    "parse_csp",
    "parse_csp_meta",
    "parse_page",
    "parse_set_cookie",
    "permissions_policy",
    "redirection",
    "referrer_policy",
    "registrable_domain",
    "retrieval_from_dict",
    "retrieval_to_dict",
    "retrieve",
    "site_urls",
    "strict_transport_security",
    "subresource_integrity",
    "version_disclosure",
    "worse",
    "x_content_type_options",
    "x_frame_options",
]
