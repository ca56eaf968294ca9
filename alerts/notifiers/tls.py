"""Verifying TLS contexts, built once per process and trust store.

Building one reads the whole CA bundle (~17 ms of CPU), which a context built
per webhook POST, per email and per run's fetch client paid every time: most of
a webhook's ~21 ms of CPU and an email's ~24 ms (now ~1.8 and ~4.4). These
verify exactly as the defaults they replace (httpx's certifi bundle, the system
store for SMTP), and both honour `SSL_CERT_FILE` / `SSL_CERT_DIR`, which key the cache, so a
process whose environment names another trust store gets a context for it::

    httpx.AsyncClient(verify=http_tls())
    smtplib.SMTP_SSL(host, port, context=smtp_tls())
"""

from __future__ import annotations

import os
import ssl
from functools import cache

import httpx


def http_tls() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle unless the environment names one):
    for webhooks, and for the fetcher's client."""
    return _http_tls(*_trust_store())


def smtp_tls() -> ssl.SSLContext:
    """`ssl.create_default_context()`: the system's CA store, for SMTPS and STARTTLS."""
    return _smtp_tls(*_trust_store())


def _trust_store() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


@cache
def _http_tls(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same variables the key is made of


@cache
def _smtp_tls(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return ssl.create_default_context()
