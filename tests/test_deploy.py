"""The deploy files: rules, routing, dashboards, unit, image, compose and Kubernetes.

Each file is checked by the tool that runs it or by a real linter: promtool, amtool,
systemd-analyze, hadolint, the compose-spec schema (check-jsonschema) and the Kubernetes
schemas (kubernetes-validate). The end-to-end run with a real Prometheus and
Alertmanager is in test_ops_e2e.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checks.settings import parse_duration
from tests.helpers import KINDS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
BIN = Path(sys.executable).parent


def run(*args: str | Path, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, timeout=540, cwd=cwd, input=stdin)


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "rules" / "egov-alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


# --------------------------------------------------------------------------- Prometheus


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.distributed.yml"])
def test_prometheus_config_and_rules_pass_promtool_check(name):
    out = run("promtool", "check", "config", PROM / name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout and "rules found" in out.stdout


def test_every_rule_file_has_promtool_unit_tests():
    assert len(sorted((PROM / "tests").glob("*.test.yml"))) >= 3


# One test per file, so parallel workers share them; the year-to-date file evaluates a year
# hour by hour (about 40 s of CPU alone, minutes on a loaded two-core machine). `slow`: promtool
# (Go) runs no Python of ours, so make test's Python 3.13 leg leaves these out (70 s of its 85).
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(p.name for p in (PROM / "tests").glob("*.test.yml")))
def test_every_alert_and_recording_rule_passes_its_promtool_unit_tests(name):
    out = run("promtool", "test", "rules", name, cwd=PROM / "tests")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") + out.stderr.count("SUCCESS") == 1


def test_every_alert_fires_in_a_unit_test():
    tested = set()
    for path in (PROM / "tests").glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested |= {t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert {r["alert"] for r in alert_rules()} - tested == set()


def test_alerts_have_german_texts_a_runbook_in_the_readme_and_routing_labels():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = set(re.findall(r'<a id="(runbook-[a-z]+)"></a>', runbook))
    for rule in alert_rules():
        ann, labels = rule["annotations"], rule["labels"]
        assert ann["summary"].strip() and ann["description"].strip(), rule["alert"]
        assert labels["severity"] in {"critical", "warning", "info"} and labels["team"] in {"betrieb", "datenschutz"}
        if labels["severity"] == "info":  # an inhibition source only: routed to no notification
            assert rule["alert"] == "EgovDependencyImpaired"
        anchor = ann["runbook_url"].removeprefix("docs/runbook.md#")
        assert anchor in anchors, f"{rule['alert']}: docs/runbook.md has no runbook anchor {anchor}"
    german = " ".join(r["annotations"]["description"] for r in alert_rules())
    assert all(word in german for word in ("nicht", "seit", "Prüfung"))


def test_service_down_waits_a_scrape_and_two_evaluations_and_dsgvo_goes_to_the_dpo():
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())["global"]
    rules = {r["alert"]: r for r in alert_rules()}
    down = rules["EgovServiceDown"]
    minimum = parse_duration(config["scrape_interval"]) + 2 * parse_duration(config["evaluation_interval"])
    assert parse_duration(down["for"]) >= minimum
    assert 'kind="availability"' in down["expr"] and "egov_service_maintenance" in down["expr"]
    assert rules["EgovTrackerBeforeConsent"]["labels"]["team"] == "datenschutz"
    assert 'egov_gdpr_trackers{job="egov-monitor", consent="before"} > 0' in rules["EgovTrackerBeforeConsent"]["expr"]
    assert 'impact=~"critical|serious"' in (PROM / "rules" / "egov-recording.yml").read_text()


def test_availability_windows_are_sums_and_counts_never_averages_of_ratios():
    doc = yaml.safe_load((PROM / "rules" / "egov-recording.yml").read_text())
    rules = {r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"]}
    for window in ("30d", "ytd"):
        assert f"service:egov_probe_success:sum_{window}" in rules
        assert f"service:egov_probe_success:count_{window}" in rules
        ratio = rules[f"category:egov_availability:ratio_{window}"]
        assert f"sum by (category) (service:egov_probe_success:sum_{window})" in ratio
        assert f"sum by (category) (service:egov_probe_success:count_{window})" in ratio
    assert not any("avg" in expr for expr in rules.values())


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_config_passes_amtool():
    out = run("amtool", "check-config", DEPLOY / "alertmanager" / "alertmanager.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 templates" in out.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=EgovTrackerBeforeConsent", "severity=critical", "team=datenschutz"], "datenschutz-email"),
    (["alertname=EgovGdprMarkerFailed", "severity=warning", "team=datenschutz"], "datenschutz-email"),
    (["alertname=EgovServiceDown", "severity=critical", "team=betrieb"], "betrieb-pager"),
    (["alertname=EgovCertificateExpiringSoon", "severity=warning", "team=betrieb"], "betrieb-email"),
    (["alertname=EgovDependencyImpaired", "severity=info", "team=betrieb"], "keine-benachrichtigung"),
])
def test_alertmanager_routes_by_team_and_severity(labels, receiver):
    out = run("amtool", "config", "routes", "test", "--config.file", DEPLOY / "alertmanager" / "alertmanager.yml",
              *labels)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == receiver


def test_alertmanager_has_a_webhook_and_an_email_receiver_without_a_password_in_the_file():
    text = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    config = yaml.safe_load(text)
    pager = next(r for r in config["receivers"] if r["name"] == "betrieb-pager")
    assert pager["webhook_configs"][0]["send_resolved"] is True and pager["email_configs"]
    assert "smtp_auth_password_file" in config["global"] and "smtp_auth_password:" not in text


def test_german_notification_template_renders():
    out = run("amtool", "template", "render", "--template.glob", str(DEPLOY / "alertmanager" / "templates" / "*.tmpl"),
              "--template.text", '{{ template "egov.subject" . }}|{{ template "egov.text" . }}')
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[") and "Runbook: https://" in out.stdout and "BEHOBEN" in out.stdout


# --------------------------------------------------------------------------- Grafana


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))}


def test_dashboards_are_current_with_their_generator():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import grafana_dashboards
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    rendered = grafana_dashboards.render()
    assert set(rendered) == set(dashboards())
    for name, text in rendered.items():
        assert (DEPLOY / "grafana" / "dashboards" / name).read_text() == text, f"{name}: run make dashboards"


def test_dashboards_are_valid_for_provisioning():
    provisioned = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "egov-prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    boards = dashboards()
    assert {"egov-overview.json", "egov-compliance.json", "egov-service.json"} <= set(boards)
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, name
        assert board["title"] and re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid and target["expr"].strip()
    service = boards["egov-service.json"]
    variable = service["templating"]["list"][0]
    assert variable["name"] == "service" and variable["datasource"]["uid"] == uid
    assert all("$service" in t["expr"] for p in service["panels"] if p["type"] != "row" for t in p["targets"])


def test_grafana_provisioning_points_at_the_mounted_dashboards():
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "egov-monitor.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


# --------------------------------------------------------------------------- systemd


def verify_unit(tmp_path: Path, text: str) -> str:
    """systemd-analyze verify on a unit file in a root with systemd's own units and the
    install path (verify checks that ExecStart exists); returns everything it printed."""
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    (root / "etc" / "systemd" / "system" / "egov-monitor.service").write_text(text)
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    for binary in ("/opt/egov-monitor/.venv/bin/egov-monitor", "/bin/kill"):
        target = root / binary.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n")
        target.chmod(0o755)
    out = run("systemd-analyze", "verify", f"--root={root}", "egov-monitor.service")
    return f"rc={out.returncode} " + out.stdout + out.stderr


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    text = (DEPLOY / "systemd" / "egov-monitor.service").read_text()
    assert verify_unit(tmp_path, text) == "rc=0 "  # the unit file verified unchanged, without a warning
    assert "DynamicUser=yes" in text and "ProtectSystem=strict" in text and "StateDirectory=egov-monitor" in text
    assert "\nUser=root" not in text


def test_systemd_unit_is_rejected_by_verify_when_broken(tmp_path):
    # the check above can fail: a misspelt value is reported
    text = (DEPLOY / "systemd" / "egov-monitor.service").read_text().replace("ProtectSystem=strict", "ProtectSystem=sehr")
    # systemd 252 (Debian 12) says "protect system", 257 (Debian 13) "protectsystem=sehr"
    report = verify_unit(tmp_path, text).lower().replace(" ", "")
    assert "protectsystem" in report and "sehr" in report


def test_systemd_security_exposure_is_low():
    out = run("systemd-analyze", "security", "--offline=yes", DEPLOY / "systemd" / "egov-monitor.service")
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", out.stdout + out.stderr)
    assert level and float(level.group(1)) <= 2.5, out.stdout[-2000:]


# --------------------------------------------------------------------------- container images


def test_dockerfile_passes_hadolint_and_runs_unprivileged_with_a_health_check():
    dockerfile = DEPLOY / "Dockerfile"
    out = run(BIN / "hadolint", "--failure-threshold", "info", dockerfile)
    assert out.returncode == 0, out.stdout + out.stderr
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    users = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], u) for u in re.findall(r"^USER (\S+)$", text, re.MULTILINE)]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert int(users[-1].split(":")[0]) >= 1000
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.MULTILINE)
    assert "chromium chromium-headless-shell chromium-driver" in text and "SE_OFFLINE=true" in text


def test_compose_file_passes_the_compose_spec_schema_and_hardens_every_service():
    compose = DEPLOY / "compose.yaml"
    out = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose)
    assert out.returncode == 0, out.stdout + out.stderr
    services = yaml.safe_load(compose.read_text())["services"]
    assert {"egov-monitor", "prometheus", "alertmanager", "grafana", "selenium"} <= set(services)
    for name, svc in services.items():
        assert "no-new-privileges:true" in svc["security_opt"], name
        if name == "selenium":
            assert svc["profiles"] == ["selenium"]  # optional; its image runs as its own user
            continue
        assert svc["user"].split(":")[0] not in {"0", "root"}, name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert svc["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["egov-monitor"]["healthcheck"]["test"])
    assert "--storage.tsdb.retention.time=400d" in services["prometheus"]["command"]


def test_compose_schema_check_can_fail(tmp_path):
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose["services"]["egov-monitor"]["healthcheck"]["intervall"] = "30s"  # misspelt
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(compose))
    out = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", bad)
    assert out.returncode != 0 and "intervall" in out.stdout + out.stderr


def test_kubernetes_manifests_validate_and_run_unprivileged():
    manifest = DEPLOY / "kubernetes" / "egov-monitor.yaml"
    out = run(BIN / "kubernetes-validate", "--strict", manifest)
    assert out.returncode == 0, out.stdout + out.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(manifest.read_text())}
    pod = docs["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 1000
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert docs["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    settings = yaml.safe_load(docs["ConfigMap"]["data"]["settings.yaml"])
    assert settings == yaml.safe_load((DEPLOY / "config" / "settings.yaml").read_text())


@pytest.mark.parametrize("name", ["settings.yaml", "settings.remote-browser.yaml", "settings.distributed.yaml"])
def test_deploy_settings_are_valid_with_the_shipped_catalog(tmp_path, name):
    shutil.copy(DEPLOY / "config" / name, tmp_path / "settings.yaml")
    shutil.copy(ROOT / "config" / "catalog.yaml", tmp_path / "catalog.yaml")
    out = run(sys.executable, "-m", "monitor.cli", "validate", "--config", tmp_path / "settings.yaml", cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------- distributed mode


def test_distributed_compose_passes_the_schema_and_runs_every_part_unprivileged():
    compose = DEPLOY / "compose.distributed.yaml"
    out = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose)
    assert out.returncode == 0, out.stdout + out.stderr
    services = yaml.safe_load(compose.read_text())["services"]
    assert {"scheduler", "worker-http", "worker-browser", "postgres", "redis", "selenium-hub", "chromium",
            "prometheus"} <= set(services)
    for name, svc in services.items():
        assert "no-new-privileges:true" in svc["security_opt"], name
        if name in ("selenium-hub", "chromium"):
            continue  # the Selenium images run as their own unprivileged user (seluser)
        assert svc["user"].split(":")[0] not in {"0", "root"}, name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert svc["healthcheck"]["test"], name
        assert not any(p.startswith(("0.0.0.0", "5432", "6379")) for p in svc.get("ports", [])), name
    assert services["scheduler"]["command"] == ["scheduler"] and services["scheduler"]["deploy"]["replicas"] == 2
    assert services["worker-http"]["command"][:3] == ["worker", "--queues", "http"]
    assert services["worker-browser"]["command"][:3] == ["worker", "--queues", "browser"]
    prometheus = yaml.safe_load((PROM / "prometheus.distributed.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "egov-monitor"]  # the rules' job name
    names = {n for sd in job["dns_sd_configs"] for n in sd["names"]}
    assert names == {"scheduler", "worker-http", "worker-browser"}


def test_distributed_kubernetes_manifests_validate_and_match_the_settings():
    manifest = DEPLOY / "kubernetes" / "egov-monitor-distributed.yaml"
    out = run(BIN / "kubernetes-validate", "--strict", manifest)
    assert out.returncode == 0, out.stdout + out.stderr
    docs = list(yaml.safe_load_all(manifest.read_text()))
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for name in ("scheduler", "worker-http", "worker-browser", "redis", "selenium-hub", "chromium"):
        pod = by_name[("Deployment", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 999, name
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
    assert by_name[("Deployment", "scheduler")]["spec"]["replicas"] == 2  # leader plus standby
    assert by_name[("StatefulSet", "postgres")]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    settings = yaml.safe_load(by_name[("ConfigMap", "egov-fleet-settings")]["data"]["settings.yaml"])
    assert settings == yaml.safe_load((DEPLOY / "config" / "settings.distributed.yaml").read_text())


def test_distributed_settings_are_ready_for_scheduler_and_workers(tmp_path):
    from monitor.config import load_config
    from monitor.distributed import distributed_issues

    shutil.copy(DEPLOY / "config" / "settings.distributed.yaml", tmp_path / "settings.yaml")
    shutil.copy(ROOT / "config" / "catalog.yaml", tmp_path / "catalog.yaml")
    config = load_config(tmp_path / "settings.yaml", KINDS)
    assert distributed_issues(config) == []
    assert config.settings.browser.remote_url is not None  # browser workers use the Grid
