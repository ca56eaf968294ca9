"""Real servers on 127.0.0.1 for tests: an HTTP server and an SMTP sink.

Tests talk to these over real sockets instead of patching libraries::

    server.route("/feed.xml", feed_bytes, content_type="application/rss+xml")
    url = server.url("/feed.xml")
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

# Answers leave at once, as from nginx, Go or Node, whose sockets set TCP_NODELAY. Python's
# http.server writes a response in pieces and leaves Nagle's algorithm on: the last piece
# then waited for the client's delayed ACK, ~40 ms for about one page in four on a kept-
# alive connection (181 corpus pages fetched one at a time: 2.10 s with it on, 0.21 s off).
NO_DELAY = True


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up early (a size cap, a timeout under test) is expected here."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 serving registered routes and recording requests.

    A route answers every request with one response, or with a queue of responses
    (the last one repeats), e.g. a webhook receiver that fails once then recovers.
    Unknown paths answer 404.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._routes: dict[str, deque[Response]] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._gates: dict[str, tuple[threading.Barrier, float]] = {}
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        if tls is not None:  # HTTPS: the handshake happens as each connection is accepted
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve `body` at `path` for every request; returns the full URL."""
        data = body.encode() if isinstance(body, str) else body
        response = Response(status, data, {"Content-Type": content_type, **(headers or {})})
        return self.sequence(path, [response])

    def sequence(self, path: str, responses: list[Response]) -> str:
        """Serve `responses` in order at `path`; the last one repeats."""
        with self._lock:
            self._routes[path] = deque(responses)
        return self.url(path)

    def rendezvous(self, path: str, parties: int, *, timeout: float = 120) -> None:
        """Hold each request to `path` until `parties` of them have arrived, then answer all:
        clients that race for the same resource really get it at the same moment."""
        with self._lock:
            self._gates[path] = (threading.Barrier(parties), timeout)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method)
            ]

    def start(self) -> LoopbackHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def before_answer(self, path: str) -> None:
        """Called with each request's path once it is recorded, before it is answered:
        waits at the path's `rendezvous`. Subclasses may also wait, or raise to hang up
        without an answer (the reliability suite trips its kill switch here)."""
        with self._lock:
            gate = self._gates.get(path)
        if gate is not None:
            barrier, timeout = gate
            barrier.wait(timeout)

    def _next_response(self, path: str) -> Response:
        with self._lock:
            queue = self._routes.get(path.split("?", 1)[0]) or self._routes.get(path)
            if not queue:
                return Response(404, b"not found", {"Content-Type": "text/plain"})
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = NO_DELAY

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(RecordedRequest(self.command, self.path, headers, body))
                server.before_answer(self.path)
                response = server._next_response(self.path)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_HEAD = do_PUT = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CollectingHandler:
    """The aiosmtpd handler that keeps each message and its envelope; subclasses may act
    once a message is kept (see tests/reliability)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.peers: list[tuple[str, int]] = []  # each message's client address: its connection
        self.hang_up_after_each = False  # close the connection once a message is kept

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.peers.append(tuple(session.peer[:2]))
        if self.hang_up_after_each:  # after the reply is written: the message was accepted
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"


def desk_channel(smtp_port: int) -> str:
    """A `[channels.desk]` table: email to the test SMTP server on `smtp_port`."""
    return f"""
[channels.desk]
type = "email"
to = ["desk@example.org"]
from = "newswatch@example.org"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
"""


class LoopbackSMTPServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

    With `tls`, it speaks TLS from the first byte (SMTPS, `security = "ssl"`);
    with `starttls`, it offers STARTTLS and refuses mail before it (`"starttls"`).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        tls: ssl.SSLContext | None = None,
        starttls: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = CollectingHandler()
        upgrade = {"tls_context": starttls, "require_starttls": True} if starttls else {}
        self._controller = Controller(
            self._handler,
            hostname="127.0.0.1",
            port=port or free_port(),
            ssl_context=tls,
            **upgrade,
        )

    @property
    def messages(self) -> list[EmailMessage]:
        return self._handler.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return self._handler.envelopes

    @property
    def peers(self) -> list[tuple[str, int]]:
        return self._handler.peers

    def hang_up_after_each_message(self) -> None:
        """From now on, close each connection once its message is accepted, as servers
        with a per-connection message limit or a short idle timeout do."""
        self._handler.hang_up_after_each = True

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> LoopbackSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class FaultyResponse(Response):
    """A Response that misbehaves: it waits before answering, drips its body, or hangs up.

    `drip` is the pause in seconds between body bytes; `cut_after` sends only that
    many body bytes while Content-Length announces them all, then closes.
    `undeclared` sends no Content-Length and ends the body by closing the
    connection, so a client cannot refuse a huge body by its declared size.
    """

    delay: float = 0
    drip: float = 0
    cut_after: int | None = None
    undeclared: bool = False


@dataclass(frozen=True)
class Served:
    """One request as the server saw it, on the monotonic clock."""

    path: str
    started: float
    finished: float


def peak_in_flight(served: Iterable[Served]) -> int:
    """The most requests that were being served at one moment, across any servers."""
    served = list(served)
    events = sorted(
        [(s.started, 1) for s in served] + [(s.finished, -1) for s in served],
        key=lambda event: (event[0], event[1]),
    )
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


VALIDATORS = ("ETag", "Last-Modified")
SETTLE = 2.0  # seconds `FaultyHTTPServer.served` waits for requests still being recorded


class FaultyHTTPServer(LoopbackHTTPServer):
    """A LoopbackHTTPServer that serves FaultyResponse faults, ETag/304, and times requests.

    `served` records when each request arrived and when its answer was done, so a
    test can count requests in flight at once and measure the gaps between them::

        server.sequence("/slow", [FaultyResponse(200, b"late", delay=0.3)])
        server.conditional("/feed", b"<rss/>", etag='"v1"')
    """

    def __init__(self) -> None:
        self._served: list[Served] = []
        self._answering = 0  # requests arrived and not yet recorded in `_served`
        self._validators: dict[str, tuple[str | None, str | None]] = {}
        super().__init__()
        self._settled = threading.Condition(self._lock)
        # Poll for shutdown often: a test's teardown should not wait half a second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def conditional(
        self,
        path: str,
        body: bytes | str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str = "application/rss+xml",
    ) -> str:
        """Serve `body` with validators; answer 304 when the request's validators match."""
        headers = {"ETag": etag, "Last-Modified": last_modified}
        url = self.route(
            path,
            body,
            content_type=content_type,
            headers={k: v for k, v in headers.items() if v is not None},
        )
        with self._lock:
            self._validators[path] = (etag, last_modified)
        return url

    @property
    def served(self) -> list[Served]:
        """Every request answered so far, once those being answered are recorded (waiting at
        most SETTLE seconds): a handler records its request after writing the answer, which
        the client may have read, and the test moved on, already."""
        with self._settled:
            self._settled.wait_for(lambda: self._answering == 0, timeout=SETTLE)
            return list(self._served)

    def starts(self, path: str) -> list[float]:
        """When each request to `path` arrived, in order."""
        return sorted(s.started for s in self.served if s.path == path)

    def _not_modified(self, path: str, headers: dict[str, str]) -> bool:
        with self._lock:
            etag, last_modified = self._validators.get(path, (None, None))
        return bool(
            (etag and headers.get("if-none-match") == etag)
            or (last_modified and headers.get("if-modified-since") == last_modified)
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = NO_DELAY

            def do_GET(self) -> None:
                started = time.monotonic()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._settled:
                    server._answering += 1
                server._record(RecordedRequest(self.command, self.path, headers, b""))
                try:
                    server.before_answer(self.path)
                    self._answer(server._next_response(self.path), headers)
                finally:
                    with server._settled:
                        server._served.append(Served(self.path, started, time.monotonic()))
                        server._answering -= 1
                        server._settled.notify_all()

            def _answer(self, response: Response, headers: dict[str, str]) -> None:
                fault = response if isinstance(response, FaultyResponse) else FaultyResponse()
                time.sleep(fault.delay)
                if server._not_modified(self.path, headers):
                    kept = {k: v for k, v in response.headers.items() if k in VALIDATORS}
                    response = Response(304, b"", kept)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if fault.undeclared:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                body = response.body[: fault.cut_after]
                if fault.drip:
                    for index in range(len(body)):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(fault.drip)
                else:
                    self.wfile.write(body)
                if fault.cut_after is not None:
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
