"""Real servers on 127.0.0.1 for tests: an ASGI app under uvicorn or a WSGI app under werkzeug (each in a thread), or
a documented server command in a subprocess."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
from werkzeug.serving import make_server

from cognito_guard.testing.devserver.serve import serve_in_thread


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_asgi(app: Any, *, lifespan: Literal["auto", "on", "off"] = "on") -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields the base URL (``http://127.0.0.1:PORT``)."""
    with serve_in_thread(app, lifespan=lifespan, ws="websockets-sansio") as url:
        yield url


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Run a WSGI ``app`` under werkzeug's threaded server on a free loopback port; yields the base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines in test output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@contextlib.contextmanager
def serve_command(command: list[str], *, port: int, cwd: Path, log: Path) -> Iterator[str]:
    """Run a server command (``uvicorn ...``, ``flask run ...``) listening on ``port``; yields the base URL once it
    answers. Fails early with the command's output if it exits. No fixed sleeps: each wait ends when the process does.
    """
    environment = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # each attempt waits at most 50 ms for the process to exit: ~15 s to start, at most
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                pass
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"{command[0]} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        else:
            raise AssertionError(f"{command[0]} did not answer:\n{log.read_text(errors='replace')}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
