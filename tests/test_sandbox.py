"""Chromium's sandbox wherever it can have one (issue 23): unprivileged, it runs sandboxed (no
--no-sandbox, renderers in a user namespace of their own); as root the process says so in
German and exports egov_browser_sandboxed 0; `sandbox: on` refuses to start without it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from checks.browser import BrowserPool, BrowserSettings, BrowserUnavailable, sandbox_possible
from tests.daemon import running, write_daemon_config
from tests.sites import Page, site

NOBODY = 65534


def _unprivileged_run() -> dict:
    """A forked child drops to nobody and runs a local Chromium through our pool. One session in
    this process first loads every module a session needs (the child cannot read them any more)."""
    warm = BrowserPool(BrowserSettings(), 1)
    try:
        with warm.session(deadline=60) as session:
            session.driver.get("data:text/html,<title>x</title>")
    finally:
        warm.close()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        out: dict = {}
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.environ["HOME"] = "/tmp"
            sandbox_possible.cache_clear()
            out["possible"] = list(sandbox_possible())
            pool = BrowserPool(BrowserSettings(), 1)
            with pool.session(deadline=60) as session:
                session.driver.get("data:text/html,<title>sandboxed</title><p>x")
                out["title"] = session.driver.title
                mine = []
                for p in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        if os.stat(f"/proc/{p}").st_uid != NOBODY:
                            continue
                        cmd = Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")
                        if "chromium" in cmd:
                            mine.append((cmd, os.readlink(f"/proc/{p}/ns/user")))
                    except OSError:
                        continue
                browser_ns = {ns for cmd, ns in mine if "--type=" not in cmd}
                out["no_sandbox"] = any("--no-sandbox" in cmd for cmd, _ns in mine)
                out["renderers_in_own_namespace"] = [ns not in browser_ns for cmd, ns in mine if "--type=renderer" in cmd]
            pool.close()
        except Exception as exc:  # reported to the parent
            out["error"] = repr(exc)
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks).decode())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_an_unprivileged_process_runs_chromium_with_its_sandbox():
    out = _unprivileged_run()
    assert "error" not in out, out
    assert out["possible"][0] is True, out  # this project's machines allow user namespaces
    assert out["title"] == "sandboxed"
    assert out["no_sandbox"] is False
    assert out["renderers_in_own_namespace"] and all(out["renderers_in_own_namespace"])


def test_without_a_sandbox_the_daemon_says_so_in_german_and_exports_0(tmp_path):
    possible, why = sandbox_possible()
    with site({"/": Page(body=b"<!doctype html><html lang=de><title>x</title><p>x</p></html>")}) as port:
        service = f"""- id: portal
  name: Portal
  category: efa
  operator: Land
  contact: ops@example.invalid
  urls: ["http://127.0.0.1:{port}/"]
  checks:
    accessibility: {{interval: 1h, jitter: 0s, markers: []}}
"""
        settings = write_daemon_config(tmp_path, service)
        with running(settings) as daemon:
            metrics = daemon.get("/metrics")[1]
            log = daemon.log()
    value = re.search(r"^egov_browser_sandboxed (\S+)$", metrics, re.M)
    assert value is not None and float(value.group(1)) == (1.0 if possible else 0.0)
    if not possible:  # as root, as CI runs: said at start, with the reason and the fix
        assert "Chromium läuft OHNE Sandbox" in log and why in log and "unprivilegiert starten" in log


def test_sandbox_on_refuses_to_start_where_it_cannot_be_had():
    if sandbox_possible()[0]:
        pytest.skip("this process could sandbox; the refusal needs root or no user namespaces")
    pool = BrowserPool(BrowserSettings(sandbox="on"), 1)
    try:
        with pytest.raises(BrowserUnavailable, match="Chromium-Sandbox verlangt"), pool.session(deadline=30):
            pass
    finally:
        pool.close()
