"""A real JWKS endpoint on 127.0.0.1 whose behaviour each test switches (used by tests/test_jwks_server.py).

Every path serves the endpoint, except ``REDIRECT_TARGET``, which always serves the JWKS: a client that follows the
302 of ``Behaviour.REDIRECT`` would get usable keys, so a test can tell. Failure answers (500, 404, oversized) carry
the valid JWKS too, for the same reason.

Answers wait on events, not on time: ``hold()`` makes them wait for an event, and ``Behaviour.HANG`` holds the
connection until the server stops. The one exception is the trickle behaviours: the library's fetch timeout is
wall-clock time, so a peer that is slow but never silent for long can only be played in real time (a byte every
``TRICKLE_GAP``).
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["OVERSIZE", "REDIRECT_TARGET", "TRICKLE_BYTES", "TRICKLE_GAP", "Behaviour", "JWKSServer"]

REDIRECT_TARGET = "/redirected/jwks.json"
OVERSIZE = 300 * 1024  # above the library's default 256 KiB cap
_NESTING = 20_000  # far deeper than Python's recursion limit, far smaller than the size cap
TRICKLE_GAP = 0.02  # far below any read timeout the tests use
TRICKLE_BYTES = 100  # so a trickled answer takes about 2 s in all: far beyond the fetch timeouts the tests use
_SAFETY_TIMEOUT = 30.0  # a held answer is released at the latest after this, so a broken test cannot hang forever


class Behaviour(enum.Enum):
    """What the endpoint answers."""

    JWKS = "jwks"  # 200 with the current document
    STATUS_500 = "500"  # 500, body the valid JWKS
    STATUS_404 = "404"  # 404, body the valid JWKS
    GARBAGE = "garbage"  # 200, not JSON
    DEEP_JSON = "deep-json"  # 200, JSON arrays nested deeper than any parser recursion limit
    NOT_JWKS = "not-jwks"  # 200, JSON but not a JWKS: the document's keys as a bare array
    NO_USABLE_KEYS = "no-usable-keys"  # 200, a JWKS whose only key is symmetric
    HUGE = "huge"  # 200, the valid JWKS padded with whitespace beyond OVERSIZE, with Content-Length
    HUGE_CHUNKED = "huge-chunked"  # the same, chunked, without Content-Length
    REDIRECT = "redirect"  # 302 to REDIRECT_TARGET (which serves the valid JWKS)
    HANG = "hang"  # accept the request, never answer (until the server stops)
    TRICKLE_HEADERS = "trickle-headers"  # 200 with the valid JWKS, but a header arrives a byte every TRICKLE_GAP
    TRICKLE_BODY = "trickle-body"  # 200 with the valid JWKS, the body's first bytes arriving one every TRICKLE_GAP


class JWKSServer:
    """A threaded HTTP server on a free port of 127.0.0.1; use as a context manager (stops and joins on exit)."""

    def __init__(self) -> None:
        self.behaviour = Behaviour.JWKS
        self.document: Callable[[], Any] = lambda: {"keys": []}
        self._condition = threading.Condition()
        self._paths: list[str] = []
        self._trickles_finished = 0
        self._gate: threading.Event | None = None
        self._gates: list[threading.Event] = []
        self._stopped = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01})

    # -- what tests read -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def requests(self) -> int:
        """How many requests arrived (every path, held and hanging ones included)."""
        with self._condition:
            return len(self._paths)

    @property
    def paths(self) -> list[str]:
        with self._condition:
            return list(self._paths)

    @property
    def trickles_finished(self) -> int:
        """How many trickled answers were written to the end (a client that gives up in time stops them)."""
        with self._condition:
            return self._trickles_finished

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests arrived; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: len(self._paths) >= count, timeout)

    # -- what tests control ----------------------------------------------------------------------------------------
    def hold(self) -> threading.Event:
        """From now on every answer waits until the returned event is set (or the server stops)."""
        gate = threading.Event()
        with self._condition:
            self._gate = gate
            self._gates.append(gate)
        return gate

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self) -> JWKSServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopped.set()
        with self._condition:
            for gate in self._gates:
                gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the request threads (all released above)
        self._thread.join()

    # -- called by the request handler -----------------------------------------------------------------------------
    def _arrive(self, path: str) -> tuple[Behaviour, threading.Event | None]:
        with self._condition:
            self._paths.append(path)
            self._condition.notify_all()
            return self.behaviour, self._gate


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every request thread
    block_on_close = True

    def __init__(self, address: tuple[str, int], state: JWKSServer) -> None:
        super().__init__(address, _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, size cap) closes its end while we write: expected, not worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 10  # socket timeout: a handler never blocks forever on a client that stopped reading

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == REDIRECT_TARGET:
            state._arrive(self.path)
            self._send(200, self._jwks_body(state))
            return
        behaviour, gate = state._arrive(self.path)
        if gate is not None:
            gate.wait(_SAFETY_TIMEOUT)
        if behaviour is Behaviour.HANG:
            state._stopped.wait(_SAFETY_TIMEOUT)
            return
        body = self._jwks_body(state)
        if behaviour is Behaviour.JWKS:
            self._send(200, body)
        elif behaviour is Behaviour.STATUS_500:
            self._send(500, body)
        elif behaviour is Behaviour.STATUS_404:
            self._send(404, body)
        elif behaviour is Behaviour.GARBAGE:
            self._send(200, b"<html><body>Service Unavailable</body></html>\x00\xff", "text/html")
        elif behaviour is Behaviour.DEEP_JSON:
            self._send(200, b"[" * _NESTING + b"]" * _NESTING)
        elif behaviour is Behaviour.NOT_JWKS:
            self._send(200, json.dumps(state.document()["keys"]).encode())
        elif behaviour is Behaviour.NO_USABLE_KEYS:
            self._send(200, json.dumps({"keys": [{"kty": "oct", "kid": "secret", "k": "c2VjcmV0"}]}).encode())
        elif behaviour is Behaviour.HUGE:
            self._send(200, body.ljust(OVERSIZE))
        elif behaviour is Behaviour.HUGE_CHUNKED:
            self._send_chunked(body.ljust(OVERSIZE))
        elif behaviour is Behaviour.TRICKLE_HEADERS:
            head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            self.wfile.write(head)
            if self._trickle(b"X-Padding: " + b"a" * TRICKLE_BYTES + b"\r\n\r\n"):
                self.wfile.write(body)
        elif behaviour is Behaviour.TRICKLE_BODY:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self._trickle(body[:TRICKLE_BYTES]):
                self.wfile.write(body[TRICKLE_BYTES:])
        elif behaviour is Behaviour.REDIRECT:
            self.send_response(302)
            self.send_header("Location", f"{state.base_url}{REDIRECT_TARGET}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _trickle(self, data: bytes) -> bool:
        """Write ``data`` a byte at a time, TRICKLE_GAP apart; False if the server stopped meanwhile."""
        state = self.server.state
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])  # raises once the client hung up
            if state._stopped.wait(TRICKLE_GAP):
                return False
        with state._condition:
            state._trickles_finished += 1
        return True

    @staticmethod
    def _jwks_body(state: JWKSServer) -> bytes:
        return json.dumps(state.document()).encode()

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, body: bytes) -> None:
        self.protocol_version = "HTTP/1.1"  # chunked transfer coding needs HTTP/1.1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for start in range(0, len(body), 16 * 1024):
            chunk = body[start : start + 16 * 1024]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True
