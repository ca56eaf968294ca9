"""A loopback HTTP server for oversized answers: bodies generated as they are sent.

A 100 MB answer is never held in memory on either side of the test: the server
writes one reusable 64 KB block again and again, and counts what it managed to
send before the client hung up::

    server.huge("/huge", size=100 * MB, framing="close")
    server.bomb("/bomb", coding="br", inflated=GB)
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import brotli

MB = 1_000_000
GB = 1_000_000_000
BLOCK = 1 << 16
Framing = Literal["declared", "close", "chunked"]


@dataclass(frozen=True)
class _Huge:
    size: int
    framing: Framing


@dataclass(frozen=True)
class _Bomb:
    body: bytes
    coding: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """The client hangs up as soon as its cap is passed: that is the point."""


class HugeAnswerServer:
    """Serves generated bodies of any size and compressed bombs; `sent` counts body bytes."""

    def __init__(self) -> None:
        self._routes: dict[str, _Huge | _Bomb] = {}
        self._lock = threading.Lock()
        self.sent: dict[str, int] = {}
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def huge(self, path: str, *, size: int, framing: Framing) -> str:
        self._routes[path] = _Huge(size, framing)
        return self.url(path)

    def bomb(self, path: str, *, coding: str, inflated: int) -> str:
        self._routes[path] = _Bomb(compressed_zeros(coding, inflated), coding)
        return self.url(path)

    def start(self) -> HugeAnswerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _count(self, path: str, sent: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + sent

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                route = server._routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                if isinstance(route, _Bomb):
                    self.send_header("Content-Encoding", route.coding)
                    self._send(route.body, size=len(route.body), framing="declared")
                else:
                    self._send(bytes(BLOCK), size=route.size, framing=route.framing)

            def _send(self, block: bytes, *, size: int, framing: Framing) -> None:
                if framing == "declared":
                    self.send_header("Content-Length", str(size))
                elif framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                sent = 0
                try:
                    while sent < size:
                        piece = memoryview(block)[: min(len(block), size - sent)]
                        if framing == "chunked":
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        else:
                            self.wfile.write(piece)
                        sent += len(piece)
                    if framing == "chunked":
                        self.wfile.write(b"0\r\n\r\n")
                finally:
                    server._count(self.path, sent)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@cache
def compressed_zeros(coding: str, inflated: int) -> bytes:
    """`inflated` zero bytes compressed, made fast: after a full flush a deflate stream
    starts afresh, so one compressed megabyte repeats byte for byte. The stream has no
    end: a reader that keeps its cap stops long before it would look for one."""
    if coding == "br":
        compressor = brotli.Compressor(quality=1)
        block = bytes(MB)
        return b"".join(compressor.process(block) for _ in range(inflated // MB))
    wbits = {"gzip": 31, "deflate": 15}[coding]
    deflate = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = deflate.compress(bytes(MB)) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(bytes(MB)) + deflate.flush(zlib.Z_FULL_FLUSH)
    return first + repeated * (inflated // MB - 1)
