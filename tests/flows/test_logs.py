"""Request log lines show no secrets: a webhook's token and a feed's password are masked."""

from __future__ import annotations

import logging

import httpx
import pytest

from flows.logs import redact_request_logs
from tests.servers import LoopbackHTTPServer


def test_request_logs_mask_a_query_token_and_a_userinfo_password(
    http_server: LoopbackHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.route("/hook", "ok", content_type="text/plain")
    host = http_server.base_url.removeprefix("http://")
    redact_request_logs()
    redact_request_logs()  # once per process, however often called

    with caplog.at_level(logging.INFO, logger="httpx"):
        httpx.post(f"http://bot:pa55word@{host}/hook?token=s3cret&channel=desk")

    (line,) = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert line.startswith("HTTP Request: POST ") and '"HTTP/1.1 200 OK"' in line
    assert "s3cret" not in line and "pa55word" not in line and "desk" not in line
    assert f"http://bot:****@{host}/hook?token=****&channel=****" in line
    # the request itself went out whole
    assert [r.path for r in http_server.requests] == ["/hook?token=s3cret&channel=desk"]
