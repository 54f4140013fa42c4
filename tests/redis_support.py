"""A real Redis for tests: :class:`RedisServer` (one ``redis-server``) and :class:`RedisCluster` (three cluster-enabled
masters joined by ``redis-cli --cluster create``), each on free loopback ports in temporary directories of their own.

The binaries are Debian's (``apt-get install redis-server`` brings ``redis-cli`` too), found on PATH. The fixtures in
conftest.py call :func:`require_redis` first: without the binaries a test is skipped with a message saying how to
enable it, or fails when ``COGNITO_GUARD_REQUIRE_REDIS=1`` (``.ci/run`` sets it once redis-server is installed).

Every process started here that nothing stopped (a failing test, an interrupted session) is killed, and its directory
removed, when the interpreter exits: no redis-server outlives the test run.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

HOW_TO_ENABLE = "run `.ci/run` as root, or `apt-get install redis-server` (it brings redis-cli)"
# Generous: under a full test run two shared cores start a redis-server in ~10 ms, but a loaded machine can stall.
STARTUP_TIMEOUT = 20.0
POLL_INTERVAL = 0.02
STOP_TIMEOUT = 10.0
CLUSTER_CREATE_TIMEOUT = 60.0  # redis-cli checks the join once a second
CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (its cluster bus)
CLUSTER_NODE_TIMEOUT_MS = 2000
LOG_TAIL_LINES = 20


class RedisHarnessError(RuntimeError):
    """A Redis process of the harness did not start, or a cluster did not form; the message ends with its log."""


class _PortTaken(RedisHarnessError):
    """The port was free when picked but taken before redis-server bound it."""


def require_redis(*, cluster: bool = False) -> None:
    """Skip the calling test unless redis-server (and for a cluster, redis-cli) is on PATH.

    Fails instead of skipping when ``COGNITO_GUARD_REQUIRE_REDIS=1``.
    """
    needed = ("redis-server", "redis-cli") if cluster else ("redis-server",)
    missing = [name for name in needed if shutil.which(name) is None]
    if missing:
        _skip(f"{' and '.join(missing)} not found on PATH: {HOW_TO_ENABLE}")


def _skip(reason: str) -> NoReturn:
    # CI (.ci/run) installs redis-server and sets COGNITO_GUARD_REQUIRE_REDIS=1: there a missing Redis is a failure.
    if os.environ.get("COGNITO_GUARD_REQUIRE_REDIS") == "1":
        pytest.fail(f"the Redis tests must run here (COGNITO_GUARD_REQUIRE_REDIS=1): {reason}")
    pytest.skip(reason)


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RedisHarnessError(f"{name} not found on PATH: {HOW_TO_ENABLE}")
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # redis-server binds with SO_REUSEADDR too, so a port held only by TIME_WAIT connections counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(*, with_bus_port: bool) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if not with_bus_port:
            return port
        bus_port = port + CLUSTER_BUS_OFFSET
        if bus_port < 65536 and _port_is_free(bus_port):
            return port
    raise RedisHarnessError("found no free loopback port whose cluster bus port (port + 10000) is free too")


def _ping(port: int) -> bool:
    """True when a Redis on ``port`` answers PING with PONG (not yet while it is loading its data)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# Servers that own a process or a directory; whatever is still here at exit is killed and removed.
_unfinished: set[RedisServer] = set()


@atexit.register
def _finish_leftovers() -> None:
    for server in list(_unfinished):
        server._finish(signal.SIGKILL)


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, no persistence, in a temporary directory; not running until :meth:`start`
    (or ``with RedisServer() as server:``, which stops it at the end).

    ``persistent=True`` turns on the append-only file, fsynced at every write, so data survives :meth:`kill` and
    :meth:`restart`. ``cluster_node=True`` starts a cluster-enabled node whose bus port (port + 10000) is free too
    (:class:`RedisCluster` joins three of these). ``startup_timeout`` bounds each wait for PING, in seconds.
    """

    def __init__(
        self, *, persistent: bool = False, cluster_node: bool = False, startup_timeout: float = STARTUP_TIMEOUT
    ) -> None:
        self.persistent = persistent
        self.cluster_node = cluster_node
        self.startup_timeout = startup_timeout
        self.port = 0
        self._home: Path | None = None
        self._log_offset = 0  # where the latest start's output begins in redis.log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while started (even if it has died since), else None."""
        return None if self._process is None else self._process.pid

    @property
    def directory(self) -> Path | None:
        """The temporary directory (data in ``data/``, output in ``redis.log``); None before start and after stop."""
        return self._home

    def start(self) -> RedisServer:
        """Start on a free port and wait until it answers PING.

        Raises RedisHarnessError, ending with the server's log, if it exits or does not answer within startup_timeout.
        """
        if self._process is not None:
            raise RedisHarnessError(f"redis-server on port {self.port} is already started")
        for _ in range(5):
            self.port = _free_port(with_bus_port=self.cluster_node)
            try:
                self._launch()
            except _PortTaken:
                continue  # another process bound the port between our check and redis-server's bind: pick another
            return self
        raise RedisHarnessError("redis-server found its port taken five times in a row")

    def restart(self) -> RedisServer:
        """Stop (SIGTERM) if running, then start again on the same port: empty, unless ``persistent=True``.

        Raises RedisHarnessError if the server does not come back (for example, another process took the port).
        """
        if not self.port:
            return self.start()
        self._end(signal.SIGTERM)
        if not self.persistent and self._home is not None:
            shutil.rmtree(self._home / "data", ignore_errors=True)
        self._launch()
        return self

    def kill(self) -> None:
        """SIGKILL the process, as a crash would. Its directory stays, so :meth:`restart` finds what it persisted."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after 10 s) and delete its directory. Idempotent; start() may follow."""
        self._finish(signal.SIGTERM)

    def flush(self) -> None:
        """Delete every key in every database and the script cache (scripts loaded by earlier tests)."""
        with self.client() as client:
            client.flushall()
            client.script_flush()

    def client(self, **options: Any) -> redis.Redis:
        """A new redis-py client of this server (``options`` go to ``redis.Redis``); the caller closes it."""
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def async_client(self, **options: Any) -> redis.asyncio.Redis:
        """A new asyncio redis-py client of this server; the caller closes it (``await client.aclose()``)."""
        return redis.asyncio.Redis(host="127.0.0.1", port=self.port, **options)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the server's output since its latest start, for error messages."""
        if self._home is None:
            return "(no log)"
        try:
            with (self._home / "redis.log").open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> RedisServer:
        return self.start() if self._process is None else self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} {'running' if self.running else 'stopped'}>"

    def _command(self, data: Path) -> list[str]:
        command = [
            _executable("redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(data),
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
        ]  # fmt: skip
        if self.persistent:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        if self.cluster_node:
            command += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
            ]  # fmt: skip
        return command

    def _launch(self) -> None:
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="cognito-guard-redis-"))
            _unfinished.add(self)
        data = self._home / "data"
        data.mkdir(exist_ok=True)
        command = self._command(data)
        with (self._home / "redis.log").open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"--- {shlex.join(command)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready(self._process)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not _ping(self.port):
            try:
                process.wait(timeout=POLL_INTERVAL)  # ends the wait early when the process exits
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                self._end(signal.SIGKILL)
                raise RedisHarnessError(
                    f"redis-server on port {self.port} did not answer PING within {self.startup_timeout} s; "
                    f"its log ends:\n{self.log_tail()}"
                ) from None
            self._process = None
            tail = self.log_tail()
            error = _PortTaken if "Address already in use" in tail else RedisHarnessError
            raise error(
                f"redis-server on port {self.port} exited with {process.returncode} before answering PING; "
                f"its log ends:\n{tail}"
            )
        # Another test run's redis-server may have bound the port first (ours then exits): make sure PONG was ours.
        with self.client(socket_timeout=self.startup_timeout) as client:
            answering_pid = client.info("server")["process_id"]
        if answering_pid != process.pid:
            self._end(signal.SIGKILL)
            raise _PortTaken(f"port {self.port} is served by another redis-server (pid {answering_pid})")

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _finish(self, sig: signal.Signals) -> None:
        self._end(sig)
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        _unfinished.discard(self)


class RedisCluster:
    """A Redis Cluster of three masters (no replicas) on 127.0.0.1, each a :class:`RedisServer` with its own port and
    directory; not running until :meth:`start` (or ``with RedisCluster() as cluster:``, which stops it at the end).

    :meth:`start` returns once every node reports ``cluster_state:ok``.
    """

    def __init__(self, *, masters: int = 3, startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.startup_timeout = startup_timeout
        self.nodes = [RedisServer(cluster_node=True, startup_timeout=startup_timeout) for _ in range(masters)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """The first node's URL: enough for a cluster client, which discovers the others."""
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        """Start the nodes, join them and wait for ``cluster_state:ok`` on each; stops them all if anything fails.

        Raises RedisHarnessError with the output of the step that failed.
        """
        try:
            for node in self.nodes:
                node.start()
            self._create()
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node and delete its directory. Idempotent."""
        for node in self.nodes:
            node.stop()

    def flush(self) -> None:
        """Delete every key and cached script on every node."""
        for node in self.nodes:
            node.flush()

    def client(self, **options: Any) -> redis.cluster.RedisCluster:
        """A new cluster client (``options`` go to ``redis.cluster.RedisCluster``); the caller closes it."""
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, **options)

    def async_client(self, **options: Any) -> redis.asyncio.cluster.RedisCluster:
        """A new asyncio cluster client; the caller closes it (``await client.aclose()``)."""
        return redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, **options)

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisCluster {' '.join(self.urls)}>"

    def _create(self) -> None:
        command = [
            _executable("redis-cli"),
            "--cluster", "create",
            *(f"127.0.0.1:{node.port}" for node in self.nodes),
            "--cluster-replicas", "0",
            "--cluster-yes",
        ]  # fmt: skip
        try:
            completed = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLUSTER_CREATE_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as timeout:
            output = (timeout.stdout or b"") + (timeout.stderr or b"")
            self._fail(f"redis-cli --cluster create did not finish within {CLUSTER_CREATE_TIMEOUT} s", output)
        if completed.returncode != 0:
            self._fail(
                f"redis-cli --cluster create exited with {completed.returncode}", completed.stdout + completed.stderr
            )

    def _fail(self, what: str, output: bytes) -> NoReturn:
        lines = output.decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        raise RedisHarnessError(f"{what}; its output ends:\n" + "\n".join(lines))

    def _wait_until_ok(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        clients = [node.client(socket_timeout=self.startup_timeout) for node in self.nodes]
        try:
            while True:
                states = [_cluster_state(client) for client in clients]
                if all(state == "ok" for state in states):
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(POLL_INTERVAL)
        finally:
            for client in clients:
                client.close()
        reports = "\n".join(
            f"node {node.port}: cluster_state:{state}; its log ends:\n{node.log_tail(5)}"
            for node, state in zip(self.nodes, states, strict=True)
        )
        raise RedisHarnessError(
            f"the cluster did not reach cluster_state:ok within {self.startup_timeout} s\n{reports}"
        )


def _cluster_state(client: redis.Redis) -> str:
    try:
        info = client.cluster("INFO")
    except redis.RedisError:
        return "unknown"  # not answering yet: keep polling
    return str(info.get("cluster_state", "unknown"))
