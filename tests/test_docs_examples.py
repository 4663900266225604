"""Every YAML example of README.md and docs/ is valid as the docs present it: `egov-monitor
validate` accepts it (a block preceded by `<!-- invalid on purpose -->` is exempt)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXEMPT = "<!-- invalid on purpose -->"


def examples() -> list[tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.M | re.S):
            before = text[:m.start()].rstrip().splitlines()[-1:] or [""]
            if before[0].strip() == EXEMPT:
                continue
            found.append((doc.name, text[:m.start()].count("\n") + 1, textwrap.dedent(m.group(1))))
    return found


def test_there_are_examples_to_check():
    names = {name for name, _, _ in examples()}
    assert {"configuration.md", "statuspage.md"} <= names


@pytest.mark.parametrize(("doc", "line", "block"), examples(), ids=lambda v: str(v)[:30])
def test_a_yaml_example_of_the_docs_validates(tmp_path, doc, line, block):
    data = yaml.safe_load(block)  # a YAML error (an unquoted comma in a flow mapping) fails here
    settings: dict = {"catalog": ["catalog.yaml"], "listen": "127.0.0.1:0",
                      "store": {"url": f"sqlite:///{tmp_path / 's.db'}"}}
    services = []
    if isinstance(data, list) and data and all(isinstance(s, dict) and "id" in s for s in data):
        services = data  # a catalog fragment: services as they stand in catalog.yaml
    elif isinstance(data, dict) and "services" in data:
        services = data["services"]
    elif isinstance(data, dict) and "incidents" in data:
        (tmp_path / "incidents").mkdir()
        (tmp_path / "incidents" / "beispiel.yaml").write_text(block, encoding="utf-8")
        ids = {sid for record in data["incidents"] for sid in record.get("services", [])}
        services = [{"id": sid, "checks": {"availability": {}}} for sid in sorted(ids)]
    elif isinstance(data, dict):
        settings.update(data)  # settings.yaml keys
        for ca in (data.get("browser") or {}).get("ca_files") or []:  # the files it names, as real CA certificates
            from tests.certs import TestCA

            (tmp_path / ca).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "ca").mkdir(exist_ok=True)
            (tmp_path / ca).write_bytes(TestCA(tmp_path / "ca").ca_file.read_bytes())
    for i, service in enumerate(services):  # only what an example leaves out for brevity is filled in
        for key, value in (("name", f"Dienst {i}"), ("category", "efa"), ("operator", "Land Saarland"),
                           ("contact", "ops@example.invalid"), ("urls", [f"https://d{i}.example/"])):
            service.setdefault(key, value)
        _files_for(tmp_path, service)
    shipped = yaml.safe_load((ROOT / "config" / "catalog.yaml").read_text(encoding="utf-8"))
    catalog = {"profiles": shipped.get("profiles", {}), "services": services}  # the profiles the docs refer to
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", "settings.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          timeout=120)
    assert done.returncode == 0, f"{doc}:{line}: {done.stdout}{done.stderr}"


def _files_for(base: Path, service: dict) -> None:
    """The test data a journey example names: its data file with every value it uses, upload files."""
    for check in (service.get("checks") or {}).values():
        if not isinstance(check, dict):
            continue
        values = {step.get("value") for j in check.get("journeys", []) for step in j.get("steps", [])} - {None}
        secrets = set((check.get("secrets") or {}).keys())
        if check.get("data_file"):
            path = base / check["data_file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump({v: "x" for v in sorted(values - secrets)}), encoding="utf-8")
        for j in check.get("journeys", []):
            for step in j.get("steps", []):
                if step.get("file"):
                    (base / step["file"]).parent.mkdir(parents=True, exist_ok=True)
                    (base / step["file"]).write_bytes(b"%PDF-1.4\n")
