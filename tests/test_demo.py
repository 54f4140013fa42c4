"""`make demo`'s script (examples/demo.py) starts the stand-in, the FastAPI example and the web app example, shows
them answering (a sign-out included), and stops them all on Ctrl-C. It runs as on a fresh machine: no Redis."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port

from cognito_guard.testing.devserver import LocalUserPool, PoolKeys, default_config

ROOT = Path(__file__).resolve().parent.parent
READY = "All servers are running"


class Demo:
    """examples/demo.py running in a child process, its output collected line by line."""

    def __init__(self, tmp_path: Path) -> None:
        self.dev_port, self.api_port, self.web_port = free_port(), free_port(), free_port()
        self.work = tmp_path / "demo"
        command = [
            sys.executable,
            "examples/demo.py",
            f"--dev-port={self.dev_port}",
            f"--api-port={self.api_port}",
            f"--web-port={self.web_port}",
            f"--work-dir={self.work}",
        ]
        environment = {name: value for name, value in os.environ.items() if name != "COGNITO_REDIS_URL"}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        while True:
            line = self.lines.get(timeout=90)
            if line is None:
                pytest.fail(f"the demo ended before printing {text!r}:\n{''.join(self.output)}")
            self.output.append(line)
            if text in line:
                return

    @property
    def text(self) -> str:
        return "".join(self.output)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.terminate()  # the demo stops its servers on SIGTERM as on Ctrl-C
            try:
                running.process.wait(30)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()


def test_demo_shows_the_api_answering_200_401_and_403(demo: Demo) -> None:
    demo.wait_for(READY)

    assert "GET /me      with alice's access token         -> 200" in demo.text
    assert "GET /me      with no token                     -> 401" in demo.text
    assert "GET /admin   with bob's access token           -> 403" in demo.text


def test_demo_shows_a_signed_out_token_refused_with_token_revoked(demo: Demo) -> None:
    demo.wait_for(READY)

    assert "GET /me        with alice's new access token     -> 200" in demo.text
    assert "POST /sign-out with alice's new access token     -> 204" in demo.text
    assert "GET /me        with alice's new access token     -> 401" in demo.text
    assert '"code":"token_revoked"' in demo.text


def test_demo_shows_a_machine_client_calling_the_api_with_one_token_request(demo: Demo) -> None:
    demo.wait_for(READY)

    assert "A machine client (examples/m2m_client.py)" in demo.text
    assert "metrics: 1 token(s) fetched" in demo.text


def test_demo_says_workers_share_the_list_through_redis_and_operators_revoke_with_the_cli(demo: Demo) -> None:
    demo.wait_for(READY)

    assert "With COGNITO_REDIS_URL set every worker shares this list (here: in memory)" in demo.text
    assert "cognito-guard revoke --origin-jti ID | --jti ID | --user SUB" in demo.text


def test_demo_curl_tokens_stay_valid_after_the_sign_out(demo: Demo) -> None:
    demo.wait_for(READY)
    api = f"http://127.0.0.1:{demo.api_port}"
    alice = re.search(rf"curl -i {api}/me -H 'Authorization: Bearer (ey[^']+)'", demo.text)
    assert alice is not None

    me = httpx.get(f"{api}/me", headers={"Authorization": f"Bearer {alice.group(1)}"}, timeout=10)

    assert me.status_code == 200


def test_demo_servers_answer_requests_from_outside(demo: Demo) -> None:
    demo.wait_for(READY)
    # The same keys as the running stand-in: what `cognito-guard dev token --keys` does.
    pool = LocalUserPool(default_config(), keys=PoolKeys.load_or_create(demo.work / "keys"))
    token = pool.sign_in("alice", base_url=f"http://127.0.0.1:{demo.dev_port}").access_token

    me = httpx.get(f"http://127.0.0.1:{demo.api_port}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    jwks = httpx.get(f"http://127.0.0.1:{demo.dev_port}/us-east-1_LocalDev/.well-known/jwks.json", timeout=10)

    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert jwks.status_code == 200


def test_demo_web_app_sends_browsers_to_the_stand_ins_sign_in_page(demo: Demo) -> None:
    demo.wait_for(READY)

    login = httpx.get(f"http://localhost:{demo.web_port}/auth/login", timeout=10)
    home = httpx.get(f"http://localhost:{demo.web_port}/", timeout=10)

    assert login.status_code == 302
    assert login.headers["location"].startswith(f"http://127.0.0.1:{demo.dev_port}/oauth2/authorize?")
    assert "Sign in" in home.text


def test_demo_stand_in_accepts_sign_ins_for_the_web_app_on_its_own_port(demo: Demo) -> None:
    assert demo.web_port != 8000  # the built-in pool's default: the demo must have told the stand-in its port
    demo.wait_for(READY)
    login = httpx.get(f"http://localhost:{demo.web_port}/auth/login", timeout=10)

    sign_in_page = httpx.get(login.headers["location"], timeout=10)

    assert sign_in_page.status_code == 200
    assert 'name="password"' in sign_in_page.text


def test_demo_prints_curl_lines_with_fresh_tokens(demo: Demo) -> None:
    demo.wait_for(READY)

    assert f"curl -i http://127.0.0.1:{demo.api_port}/me -H 'Authorization: Bearer ey" in demo.text
    assert "dev token --keys" in demo.text


def test_sigterm_stops_every_server(demo: Demo) -> None:
    demo.wait_for(READY)

    demo.process.terminate()
    code = demo.process.wait(30)

    assert code == 0
    for port in (demo.dev_port, demo.api_port, demo.web_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_ctrl_c_stops_every_server(demo: Demo) -> None:
    demo.wait_for(READY)

    demo.process.send_signal(signal.SIGINT)
    code = demo.process.wait(30)

    assert code == 0
    for port in (demo.dev_port, demo.api_port, demo.web_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
