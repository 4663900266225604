from __future__ import annotations

import os

import pytest

from tests.certs import TestCA, self_signed
from tests.servers import serve

os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")


@pytest.fixture(scope="session")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def http_server() -> str:
    with serve() as url:
        yield url


@pytest.fixture(scope="session")
def https_server(ca) -> str:
    pair = ca.issue("good", ["127.0.0.1", "localhost"])
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_expired(ca) -> str:
    pair = ca.issue("expired", ["127.0.0.1"], expired=True)
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_wrong_host(ca) -> str:
    pair = ca.issue("wronghost", ["www.example.invalid"])
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_self_signed(tmp_path_factory) -> str:
    pair = self_signed(tmp_path_factory.mktemp("selfsigned"), "self", "127.0.0.1")
    with serve((pair.cert, pair.key)) as url:
        yield url
