"""TLS contexts: built once per process and trust store, not once per message."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.notifiers.tls import http_tls, smtp_tls


def test_every_client_of_a_trust_store_shares_one_context() -> None:
    assert http_tls() is http_tls()
    assert smtp_tls() is smtp_tls()


def test_a_trust_store_named_in_the_environment_gets_its_own_context(
    trusted_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusting = http_tls(), smtp_tls()
    monkeypatch.delenv("SSL_CERT_FILE")
    assert http_tls() is not trusting[0]
    assert smtp_tls() is not trusting[1]
