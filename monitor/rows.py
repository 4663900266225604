"""How results and rollups are written into rows and read back.

A raw result row keeps its evidence as its kind compacts it: a kind may leave out what the
row's other columns rebuild (an availability result of one attempt does not repeat the
attempt's state, reason and figures), and reading the row gives back exactly the result that
was stored. JSON columns are written without blanks; rollup histograms in the packed form of
`monitor.rollup.pack_hist`. Rows written before either change read the same (migration 0004
converts them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from checks.kind import Records, Registry
from checks.result import CheckResult

ROLLUP_JSON = ("hist", "last_measurements", "last_digest")


# one encoder for every column: json.dumps with any argument builds a new JSONEncoder per call
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    """JSON columns without the blanks after separators (the engines' serializer); the same
    text as `json.dumps(value, separators=(",", ":"))`."""
    return _COMPACT.encode(value)


def load_json(text: str | bytes) -> Any:
    """Parse a JSON column (the engines' deserializer): orjson, or the standard parser for
    what orjson refuses (NaN, which `json.dumps` writes for a float that is not a number)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def json_value(value: Any) -> Any:
    """A JSON column's value: SQLite hands back text where PostgreSQL hands back objects."""
    return load_json(value) if isinstance(value, str) else value


def ts(dt: datetime) -> float:
    return dt.timestamp()


def dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def result_row(kinds: Registry[Any], result: CheckResult, run_key: str | None = None,
               plain: dict[str, Any] | None = None) -> dict[str, Any]:
    """The raw row of a result: its evidence as its kind compacts it (losslessly). `plain`: the
    result's `to_dict()` if the caller has it (read here, never changed)."""
    started = ts(result.started_at)
    # as the row will give it back
    plain = {**(plain if plain is not None else result.to_dict()), "started_at": dt(started).isoformat()}
    kind: Records | None = kinds.records(plain["kind"])
    return {"run_key": run_key, "service_id": result.service_id, "kind": plain["kind"], "url": result.url,
            "state": plain["state"], "reason": plain["reason"], "started_at": started,
            "duration_seconds": result.duration_seconds, "measurements": plain["measurements"],
            "evidence": kind.compact_evidence(plain) if kind is not None else plain["evidence"]}


def _plain(r: Any) -> dict[str, Any]:
    return {"service_id": r.service_id, "url": r.url, "kind": r.kind, "state": r.state, "reason": r.reason,
            "started_at": dt(r.started_at).isoformat(), "duration_seconds": r.duration_seconds,
            "measurements": json_value(r.measurements), "evidence": json_value(r.evidence)}


def row_result(kinds: Registry[Any], r: Any) -> CheckResult:
    """The result a raw row holds (`r`: a row of `results`, with attribute access)."""
    plain = _plain(r)
    kind = kinds.records(r.kind)
    if kind is not None:
        kind.expand_evidence(plain)
    return CheckResult.from_dict(plain)


def recompacted(kinds: Registry[Any], r: Any) -> dict[str, Any]:
    """Measurements and evidence of a stored row as `result_row` writes them today (the
    migration's step; a row already compact comes back unchanged)."""
    plain = _plain(r)
    kind = kinds.records(r.kind)
    if kind is not None:
        kind.expand_evidence(plain)
        plain["evidence"] = kind.compact_evidence(plain)
    return {"measurements": plain["measurements"], "evidence": plain["evidence"]}


def rollup_mapping(row: Any) -> dict[str, Any]:
    """A rollup row with its JSON columns decoded."""
    m = dict(row)
    for k in ROLLUP_JSON:
        m[k] = json_value(m.get(k))
    return m
