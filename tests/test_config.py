"""Catalog and settings: the shipped example is valid; every error names file, line, service, field."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import ConfigError, MaintenanceWindow, load_config
from tests.helpers import KINDS

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")


def write_config(tmp_path: Path, catalog: str, settings: str = "") -> Path:
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(catalog), encoding="utf-8")
    path = tmp_path / "settings.yaml"
    path.write_text(textwrap.dedent(settings) or "catalog: [catalog.yaml]\n", encoding="utf-8")
    return path


GOOD = """
profiles:
  fast:
    kind: availability
    interval: 30s
    timeout: 5s
services:
  - id: portal
    name: Portal
    category: basisdienst
    operator: Land Saarland
    contact: ops@example.invalid
    urls: [https://portal.example.invalid/, https://portal.example.invalid/login]
    checks:
      availability:
        profile: fast
        body_must_contain: [Login]
"""


def test_shipped_example_is_valid_and_marked():
    config = load_config(ROOT / "config" / "settings.yaml", KINDS)
    assert config.example is True
    assert len(config.services) >= 3
    assert {s.service.category for s in config.services.values()} >= {"efa", "basisdienst", "kommune"}


def test_profile_and_inline_settings_merge(tmp_path):
    config = load_config(write_config(tmp_path, GOOD), KINDS)
    settings = config.services["portal"].checks["availability"]
    assert settings.interval == 30 and settings.timeout == 5
    assert settings.body_must_contain == ["Login"]
    assert settings.retries == 2  # the kind's default where neither says otherwise
    assert config.services["portal"].urls[0] == "https://portal.example.invalid/"


def _issues(tmp_path, catalog, settings=""):
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, catalog, settings), KINDS)
    return info.value.issues


def test_wrong_category_names_file_line_service_field(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("category: basisdienst", "category: landesdienst"))
    assert len(issues) == 1
    issue = issues[0]
    assert issue.file.endswith("catalog.yaml")
    assert issue.service == "portal"
    assert issue.field == "services.0.category"
    assert issue.line == 10
    assert "efa" in issue.message and "kommune" in issue.message  # says what would be accepted


def test_every_error_is_reported_not_just_the_first(tmp_path):
    bad = GOOD.replace("contact: ops@example.invalid", "contakt: ops@example.invalid").replace(
        "urls: [https://portal.example.invalid/, https://portal.example.invalid/login]", "urls: [ftp://x]")
    fields = {i.field for i in _issues(tmp_path, bad)}
    assert {"services.0.contact", "services.0.contakt"} <= fields
    assert any(f.startswith("services.0.urls") for f in fields)


def test_validate_reports_every_error_in_one_run_in_german_with_the_fix(tmp_path):
    # a URL without its scheme and a duration in words in one service, its id taken again by the next
    bad = GOOD.replace("urls: [https://portal.example.invalid/, https://portal.example.invalid/login]",
                       "urls: [portal.example.invalid/]").replace("body_must_contain: [Login]", "interval: 5 minutes")
    bad += bad.split("services:\n", 1)[1].replace("name: Portal", "name: Portal 2")
    issues = _issues(tmp_path, bad)
    by_field = {i.field: i for i in issues}
    assert set(by_field) == {"services.0.urls.0", "services.0.checks.availability.interval", "services.1.urls.0",
                             "services.1.checks.availability.interval", "services.1.id"}
    assert "Schema fehlt" in by_field["services.0.urls.0"].message
    assert "https://dienst.example/" in by_field["services.0.urls.0"].message
    assert "ist keine Dauer" in by_field["services.0.checks.availability.interval"].message
    assert "eindeutig" in by_field["services.1.id"].message
    assert not any("Input should" in i.message or "Value error" in i.message for i in issues)


def test_pydantic_messages_are_german_and_name_what_is_accepted(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("availability_target: 99.5", "").replace(
        "contact: ops@example.invalid", "contact: ops@example.invalid\n    availability_target: 120"))
    assert [i.message for i in issues] == ["muss höchstens 100.0 sein"]


def test_unknown_profile_lists_known_ones(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("profile: fast", "profile: fsat"))
    assert issues[0].field == "services.0.checks.availability.profile"
    assert "fast" in issues[0].message and issues[0].service == "portal"
    assert issues[0].line == 16


def test_invalid_check_setting_points_at_the_line(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("body_must_contain: [Login]", "body_must_match: '(['"))
    assert issues[0].field == "services.0.checks.availability.body_must_match"
    assert "regular expression" in issues[0].message
    assert issues[0].line == 17


def test_timeout_that_cannot_fit_the_interval(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("timeout: 5s", "timeout: 20s"))
    assert "interval" in issues[0].message and issues[0].service == "portal"


def test_duplicate_service_id(tmp_path):
    doubled = GOOD + textwrap.indent(textwrap.dedent(GOOD).split("services:\n", 1)[1], "")
    issues = _issues(tmp_path, doubled)
    assert any(i.field == "services.1.id" and "eindeutig" in i.message for i in issues)


def test_yaml_syntax_error_has_a_line(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("    name: Portal", "    name: [Portal"))
    assert issues[0].line is not None and "YAML" in issues[0].message


def test_missing_catalog_file(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("catalog: [nowhere.yaml]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, KINDS)
    assert "nowhere.yaml" in str(info.value)


def test_settings_error_names_the_settings_file(tmp_path):
    issues = _issues(tmp_path, GOOD, "catalog: [catalog.yaml]\ntimezone: Europe/Saarbruecken\n")
    assert issues[0].file.endswith("settings.yaml") and issues[0].field == "timezone" and issues[0].line == 2


def test_validate_cli_exits_nonzero_with_details(tmp_path):
    path = write_config(tmp_path, GOOD.replace("category: basisdienst", "category: x"))
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "catalog.yaml:10" in proc.stderr and "portal" in proc.stderr and "services.0.category" in proc.stderr


def test_validate_cli_accepts_the_example():
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "validate"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "gültig" in proc.stdout


def test_shipped_schema_is_current():
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "schema"], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(proc.stdout) == json.loads((ROOT / "config" / "catalog.schema.json").read_text()), \
        "config/catalog.schema.json is stale: run `make schema`"


def test_shipped_reference_is_current():
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "reference"], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout == (ROOT / "config" / "REFERENCE.md").read_text(), "config/REFERENCE.md is stale: run `make schema`"
    for field in ("availability_target", "maintenance", "body_must_contain", "canaries", "valid_status_codes"):
        assert f"`{field}`" in proc.stdout


def test_weekly_maintenance_across_dst_change():
    # 25 Oct 2026 is the night Berlin leaves summer time: 02:00-04:00 local is 3 real hours.
    window = MaintenanceWindow(reason="Update", every="week", days=["sun"], at="02:00", duration="2h")
    start = datetime(2026, 10, 24, tzinfo=BERLIN)
    found = window.intervals(start, start + timedelta(days=2), BERLIN)
    assert len(found) == 1
    s, e = found[0]
    assert (s.hour, s.minute, s.weekday()) == (2, 0, 6)
    assert (e - s) == timedelta(hours=2)
    assert window.active_at(datetime(2026, 10, 25, 3, 30, tzinfo=BERLIN), BERLIN)
    assert not window.active_at(datetime(2026, 10, 26, 3, 30, tzinfo=BERLIN), BERLIN)


def test_one_off_maintenance_local_time():
    window = MaintenanceWindow(reason="Umzug", start="2026-12-01T22:00", end="2026-12-02T01:00")
    assert window.active_at(datetime(2026, 12, 1, 21, 30, tzinfo=ZoneInfo("UTC")), BERLIN)  # 22:30 local
    assert not window.active_at(datetime(2026, 12, 1, 20, 30, tzinfo=ZoneInfo("UTC")), BERLIN)


def test_maintenance_shape_is_validated():
    with pytest.raises(ValueError, match="every"):
        MaintenanceWindow(reason="x", start="2026-12-01T22:00", end="2026-12-02T01:00", every="day")


# --- blackbox_exporter modules ported to profiles (issue 23's operator findings) -------------

PORTED = """
profiles:
  blackbox_http_2xx:
    kind: availability
    valid_status_codes: []
    max_body_bytes: {size}
services:
  - id: portal
    name: Portal
    category: basisdienst
    operator: Land Saarland
    contact: ops@example.invalid
    urls: [https://portal.example.invalid/]
    checks:
      availability: blackbox_http_2xx
"""


@pytest.mark.parametrize(("size", "expected"), [("10MB", 10_000_000), ("10MiB", 10 * 1024 * 1024),
                                                ("512KiB", 512 * 1024), ("2048", 2048), ("1.5 MB", 1_500_000)])
def test_a_blackbox_module_ports_as_written_sizes_with_units_and_empty_status_list_is_2xx(tmp_path, size, expected):
    settings = load_config(write_config(tmp_path, PORTED.format(size=size)), KINDS).services["portal"].checks["availability"]
    assert settings.max_body_bytes == expected
    assert settings.valid_status_codes == [(200, 299)]  # blackbox: an empty list means 2xx


def test_a_size_without_a_known_unit_names_the_field_and_the_fix(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, PORTED.format(size="10 parsecs")), KINDS)
    text = str(err.value)
    assert "max_body_bytes" in text and "10MB, 10MiB" in text


def test_a_missing_settings_file_names_the_file_and_the_fix_not_a_field(tmp_path):
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(tmp_path / "fehlt.yaml")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert "fehlt.yaml" in out.stderr and "Datei nicht gefunden" in out.stderr and "--config" in out.stderr
    assert "Feld" not in out.stderr


def test_an_error_in_a_profile_is_reported_once_at_the_profile_line(tmp_path):
    catalog = PORTED.format(size="10 parsecs") + """
  - id: zweiter
    name: Zweiter Dienst
    category: efa
    operator: Land Saarland
    contact: ops@example.invalid
    urls: [https://zweiter.example.invalid/]
    checks:
      availability: blackbox_http_2xx
"""
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, catalog), KINDS)
    sizes = [i for i in err.value.issues if "max_body_bytes" in i.field]
    assert len(sizes) == 1, [str(i) for i in err.value.issues]
    (issue,) = sizes
    lines = (tmp_path / "catalog.yaml").read_text().splitlines()
    assert issue.field == "profiles.blackbox_http_2xx.max_body_bytes" and issue.service is None
    assert "max_body_bytes: 10 parsecs" in lines[issue.line - 1]


def test_a_choice_lists_what_is_allowed_in_german(tmp_path):
    issues = _issues(tmp_path, GOOD.replace("category: basisdienst", "category: kommunal"))
    assert issues[0].field == "services.0.category"
    assert issues[0].message == "nicht erlaubt; erlaubt: 'efa', 'basisdienst' oder 'kommune'"


@pytest.mark.parametrize("userinfo", ["betrieb:Geheim%21Wort@", "token-abc123@", ":nurpasswort@"])
def test_credentials_in_a_target_url_are_refused_without_showing_them(tmp_path, userinfo):
    # A target's URL is a label of every metric, a key in the store and shown on the status page
    # and in the report: a password in it would be published. Refused with the line and the fix,
    # and the error (which the daemon also logs on a reload) does not repeat the secret.
    secret = userinfo.rstrip("@").split(":")[-1] or userinfo
    catalog = GOOD.replace("urls: [https://portal.example.invalid/,", f"urls: [https://{userinfo}portal.example.invalid/,")
    path = write_config(tmp_path, catalog, "catalog: [catalog.yaml]\ncanaries:\n  urls: [https://kanarien.example.invalid/]\n")
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "catalog.yaml:13" in proc.stderr and "services.0.urls" in proc.stderr, proc.stderr
    assert "Zugangsdaten in der URL https://…@portal.example.invalid/" in proc.stderr, proc.stderr
    assert "ohne benutzer:passwort@" in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_credentials_in_a_canary_url_are_refused(tmp_path):
    issues = _issues(tmp_path, GOOD, "catalog: [catalog.yaml]\ncanaries:\n  urls: [https://a:b@kanarien.example.invalid/]\n")
    assert [(i.file.endswith("settings.yaml"), i.field, i.line) for i in issues] == [(True, "canaries.urls", 3)], issues
    assert "Zugangsdaten" in issues[0].message and "a:b" not in issues[0].message
