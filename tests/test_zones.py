"""A worker in another zone talks across networks (issue 39): Redis over TLS with a password,
PostgreSQL with TLS verified against the zone's CA (sslmode=verify-full) and a password from a
passfile, and the worker's own /metrics over TLS with basic authentication (web_config). Every
secret comes from a file and none reaches a log; a client without the password or the CA gets in
nowhere."""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import textwrap
import urllib.request
from pathlib import Path

import bcrypt
import psycopg
import pytest
import redis
import sqlalchemy as sa

from checks.result import State
from monitor.store import Store
from tests.certs import TestCA
from tests.daemon import DaemonProcess
from tests.helpers import KINDS
from tests.postgres import postgres
from tests.redis import redis_server
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REDIS_PASSWORD = "Warteschlange-geheim-17"
PG_PASSWORD = "Speicher-geheim-42"
METRICS_PASSWORD = "Abfrage-geheim-99"


def _get(url: str, ca: Path, password: str | None) -> tuple[int, str]:
    headers = {"Authorization": "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()} \
        if password else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10,
                                    context=ssl.create_default_context(cafile=str(ca))) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.timeout(240)
def test_a_worker_in_another_zone_uses_tls_and_passwords_on_every_connection(tmp_path, http_server):
    ca = TestCA(tmp_path)
    server = ca.issue("zone", ["127.0.0.1", "localhost"])
    other_ca = TestCA(tmp_path / "other", name="some other CA") if (tmp_path / "other").mkdir() is None else None
    assert other_ca is not None
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres(tls=(server.cert, server.key), password=PG_PASSWORD))
        queue = stack.enter_context(redis_server(tls=(server.cert, server.key), password=REDIS_PASSWORD))
        port = pg.url.rsplit(":", 1)[1].split("/")[0]
        (tmp_path / "redis-passwort").write_text(REDIS_PASSWORD + "\n")
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{port}:postgres:egov:{PG_PASSWORD}\n")
        os.chmod(passfile, 0o600)
        store_url = (f"postgresql+psycopg://egov@127.0.0.1:{port}/postgres?sslmode=verify-full"
                     f"&sslrootcert={ca.ca_file}&passfile={passfile}")
        hashed = bcrypt.hashpw(METRICS_PASSWORD.encode(), bcrypt.gensalt(10)).decode()
        (tmp_path / "web-config.yml").write_text(f"tls_server_config: {{cert_file: {server.cert}, key_file: {server.key}}}\n"
                                                 f"basic_auth_users: {{prometheus: '{hashed}'}}\n")
        (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
            services:
              - id: portal
                name: Portal
                category: efa
                operator: Saarland
                contact: ops@example.invalid
                urls: ["{http_server}/ok"]
                checks: {{availability: {{interval: 2s, timeout: 1s, retries: 0}}}}
        """))
        settings = tmp_path / "settings.yaml"
        settings.write_text(textwrap.dedent(f"""\
            catalog: [catalog.yaml]
            listen: "127.0.0.1:{free_port()}"
            heartbeat_interval: 1s
            store: {{url: "{store_url}"}}
            queue: {{url: "{queue}", namespace: zone, password_file: redis-passwort, ca_file: {ca.ca_file},
                     redelivery_after: 3s, lease_retry: 0.5s}}
            web_config: web-config.yml
        """))
        procs: list[DaemonProcess] = []
        stack.callback(lambda: [p.stop() for p in procs])
        scheduler = DaemonProcess(settings, "DEBUG", ("scheduler",))
        procs.append(scheduler)
        worker_port = free_port()
        worker = DaemonProcess(settings, "DEBUG", ("worker", "--queues", "http", "--listen", f"127.0.0.1:{worker_port}"),
                               worker_port)
        procs.append(worker)
        store = Store.open(store_url, KINDS)
        stack.callback(store.close)

        def stored():
            assert scheduler.proc.poll() is None and worker.proc.poll() is None, scheduler.log() + worker.log()
            rows = [x.result for x in store.latest("availability")]
            return rows or None
        (result,) = scheduler.wait_for(stored, 90, "a result the worker stored through TLS on both connections")
        assert result.state == State.UP and result.evidence["worker"].endswith(f"/{worker.proc.pid}")
        # the worker's own endpoint: TLS and the password, as Prometheus scrapes it
        base = f"https://127.0.0.1:{worker_port}"
        assert _get(base + "/metrics", ca.ca_file, None)[0] == 401
        code, text = _get(base + "/metrics", ca.ca_file, METRICS_PASSWORD)
        assert code == 200 and "egov_check_runs_total" in text
        # nobody without the secrets or the CA gets in
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(queue, ssl_ca_certs=str(ca.ca_file), ssl_cert_reqs="required").ping()
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis.from_url(queue.replace("rediss://", "redis://"), password=REDIS_PASSWORD,
                                 socket_timeout=5).ping()
        with pytest.raises(redis.exceptions.ConnectionError):  # a server whose CA is not the configured one
            redis.Redis.from_url(queue, password=REDIS_PASSWORD, ssl_ca_certs=str(other_ca.ca_file),
                                 ssl_cert_reqs="required").ping()
        for refused in (store_url.replace("sslmode=verify-full", "sslmode=disable"),
                        store_url.replace(str(ca.ca_file), str(other_ca.ca_file)),
                        store_url.replace(f"&passfile={passfile}", "")):
            with pytest.raises((sa.exc.OperationalError, psycopg.OperationalError)):
                sa.create_engine(refused).connect().close()
        for proc in (scheduler, worker):
            assert proc.stop() == 0
            log = proc.log()
            assert all(secret not in log for secret in (REDIS_PASSWORD, PG_PASSWORD, METRICS_PASSWORD)), log
