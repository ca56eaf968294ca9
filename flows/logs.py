"""Secrets kept out of third-party log lines.

httpx logs every request at INFO with its full URL: a webhook's `?token=`, or a
feed's `user:password@`, would reach whatever handler a user points INFO logs
at (a log file, Prefect's UI through `PREFECT_LOGGING_EXTRA_LOGGERS`). Each
process that fetches or delivers redacts them once, at its edge::

    redact_request_logs()
"""

from __future__ import annotations

import logging
from functools import cache

from alerts import redact_url

REQUEST_LOGGERS = ("httpx",)


class RedactedRequestURL(logging.Filter):
    """httpx's `HTTP Request: METHOD URL "…"` record with its URL redacted (userinfo
    password and every query value as ****); any other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args, message = record.args, record.msg
        is_request = isinstance(message, str) and message.startswith("HTTP Request")
        if is_request and isinstance(args, tuple) and len(args) >= 2:
            record.args = (args[0], redact_url(str(args[1])), *args[2:])
        return True


@cache
def redact_request_logs() -> None:
    """Install the redaction on the request loggers, once per process."""
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).addFilter(RedactedRequestURL())
