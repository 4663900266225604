"""A toy check kind that lives only in the test tree, shaped as docs/architecture.md's
"add a kind" says: `check.py` is what `checks/<kind>/` would hold (settings, run, records),
`presentation/` what `monitor/kinds/<kind>/` would hold (metrics, CLI view, report section
and its template). `tests/test_toy_kind.py` adds it with one registry line."""
