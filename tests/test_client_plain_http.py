"""A plain-http connection does not load CA certificates it can never use, and stays safe."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from meilichat_cli.api.client import MeiliClient, _tls_verify
from meilichat_cli.errors import UsageError
from tests.conftest import local_connection


@pytest.fixture
def garbage_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "garbage.pem"
    bundle.write_text("not a certificate\n")
    return bundle


def test_http_does_not_load_the_bundle_and_trusts_nothing(garbage_bundle: Path) -> None:
    environ = {"SSL_CERT_FILE": str(garbage_bundle)}
    verify = _tls_verify(local_connection("http://127.0.0.1:7700"), environ, warn=pytest.fail)
    assert isinstance(verify, ssl.SSLContext)
    # Were TLS ever attempted with it, verification would fail: nothing is trusted.
    assert verify.verify_mode == ssl.CERT_REQUIRED and verify.check_hostname
    assert verify.cert_store_stats()["x509_ca"] == 0
    MeiliClient(local_connection("http://127.0.0.1:7700"), environ=environ).close()


def test_https_still_loads_and_checks_the_bundle(garbage_bundle: Path) -> None:
    with pytest.raises(UsageError, match="holds no usable CA certificates"):
        MeiliClient(
            local_connection("https://meili.example.com"),
            environ={"SSL_CERT_FILE": str(garbage_bundle)},
        )


def test_http_still_reports_a_missing_bundle() -> None:
    with pytest.raises(UsageError, match="SSL_CERT_FILE points to a missing file"):
        MeiliClient(
            local_connection("http://127.0.0.1:7700"), environ={"SSL_CERT_FILE": "/missing.pem"}
        )
