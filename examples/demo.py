"""`make demo`: the local Cognito stand-in and the FastAPI example wired to it, answering real requests.

    python examples/demo.py [--dev-port 9229] [--api-port 8001] [--web-port 8000] [--work-dir .demo] [--no-wait]

What it does, with no AWS account and no network beyond 127.0.0.1:

1. starts ``cognito-guard dev`` (the stand-in: user pool, hosted UI, JWKS) on 127.0.0.1:9229, with its signing keys
   kept in ``.demo/keys`` so tokens stay valid across restarts;
2. starts ``uvicorn examples.fastapi_app:app`` on 127.0.0.1:8001 and ``uvicorn examples.webapp:app`` (hosted-UI sign-in
   for a server-rendered app) on port 8000, configured only by environment variables, exactly
   as you would point it at a real pool (``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` and, for the stand-in,
   ``COGNITO_ISSUER``): the API fetches the stand-in's JWKS over HTTP like it would Cognito's;
3. calls the API with fresh tokens and prints each answer (a 200, a 401, a 403 and why), signs a token out
   (``POST /sign-out``: the API refuses it from then on with 401 ``token_revoked``), then prints ready-to-paste
   ``curl`` lines and the commands that mint more tokens, and the web app's address to sign in at with a browser;
   then runs ``examples/m2m_client.py``, a machine client calling ``/orders`` with client-credentials tokens (one
   token request for all its calls);
4. keeps the servers running until Ctrl-C, which stops them all.

The servers' logs go to ``.demo/*.log``. No Redis is needed: the API keeps its revocation list in memory, unless
``COGNITO_REDIS_URL`` is set in the environment the demo runs in (then every worker shares it through that Redis).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from cognito_guard.testing.devserver import LocalUserPool, PoolKeys, default_config

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
POOL_ID = "us-east-1_LocalDev"
BIN = Path(os.path.relpath(Path(sys.executable).parent, ROOT))


class DemoError(Exception):
    """A server did not start; the message says which and where its log is."""


@contextmanager
def running(name: str, command: list[str], *, url: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    """Start ``command``, wait until ``url`` answers, and stop the process (SIGTERM, then SIGKILL) on the way out."""
    with log.open("w") as output:
        # A session of its own: Ctrl-C reaches only this script, which then stops the servers in order.
        process = subprocess.Popen(  # noqa: S603 - our own fixed commands, no shell
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_up(name, process, url, log)
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_until_up(name: str, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{name} exited with code {process.returncode}; see {log}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a child process's port; there is nothing to wait on instead
    raise DemoError(f"{name} did not answer {url} within 30 s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _call(api: str, path: str, token: str | None, method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{api}{path}", headers=headers, timeout=10)


def _curl(api: str, path: str, token: str | None) -> str:
    header = f" -H {shlex.quote(f'Authorization: Bearer {token}')}" if token else ""
    return f"curl -i {api}{path}{header}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-port", type=int, default=9229, help="the Cognito stand-in's port (default 9229)")
    parser.add_argument("--api-port", type=int, default=8001, help="the FastAPI example's port (default 8001)")
    parser.add_argument(
        "--web-port",
        type=int,
        default=8000,
        help="the web app example's port (default 8000; the stand-in accepts sign-ins for it on any port)",
    )
    parser.add_argument("--work-dir", default=".demo", help="where the keys and logs go (default .demo)")
    parser.add_argument("--no-wait", action="store_true", help="stop after the demonstration instead of serving")
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) stops the servers too, like Ctrl-C: they run in sessions of their own and would outlive us.
    signal.signal(signal.SIGTERM, _terminate)

    work = Path(os.path.relpath(Path(args.work_dir).resolve(), ROOT))  # commands below run in ROOT
    (ROOT / work).mkdir(parents=True, exist_ok=True)
    keys_dir = work / "keys"
    keys = PoolKeys.load_or_create(ROOT / keys_dir)  # before the stand-in starts, so both use the same keys
    dev = f"http://{HOST}:{args.dev_port}"
    api = f"http://{HOST}:{args.api_port}"
    issuer = f"{dev}/{POOL_ID}"
    env = {
        **os.environ,
        "COGNITO_USER_POOL_ID": POOL_ID,
        "COGNITO_CLIENT_ID": "local-client,local-m2m",
        "COGNITO_ISSUER": issuer,
        "COGNITO_TOKEN_USE": "access",
    }
    cognito_guard = str(BIN / "cognito-guard")
    web = f"http://localhost:{args.web_port}"
    dev_command = [cognito_guard, "dev", "--port", str(args.dev_port), "--keys", str(keys_dir), "--app-url", web]
    api_command = [str(BIN / "uvicorn"), "examples.fastapi_app:app", "--host", HOST, "--port", str(args.api_port)]
    web_env = {
        **os.environ,
        "COGNITO_DOMAIN": dev,
        "COGNITO_USER_POOL_ID": POOL_ID,
        "COGNITO_CLIENT_ID": "local-client",
        "COGNITO_ISSUER": issuer,
        "COGNITO_REDIRECT_URI": f"{web}/auth/callback",
        "COGNITO_LOGOUT_URI": f"{web}/",
        "APP_SECRET_KEY": _app_secret(ROOT / work / "app-secret"),
    }
    web_command = [str(BIN / "uvicorn"), "examples.webapp:app", "--host", HOST, "--port", str(args.web_port)]

    try:
        with ExitStack() as servers:
            print(f"starting the Cognito stand-in: {shlex.join(dev_command)}", flush=True)
            servers.enter_context(
                running(
                    "cognito-guard dev",
                    dev_command,
                    url=f"{issuer}/.well-known/openid-configuration",
                    log=ROOT / work / "dev.log",
                    env=env,
                )
            )
            print(f"starting the API: {shlex.join(api_command)}", flush=True)
            servers.enter_context(
                running("the FastAPI example", api_command, url=f"{api}/health", log=ROOT / work / "api.log", env=env)
            )
            print(f"starting the web app: {shlex.join(web_command)}", flush=True)
            servers.enter_context(
                running("the web app example", web_command, url=f"{web}/", log=ROOT / work / "web.log", env=web_env)
            )
            _demonstrate(LocalUserPool(default_config(), keys=keys), dev=dev, api=api, issuer=issuer, keys=keys_dir)
            _show_web_app(web, dev)
            _show_machine_client(dev, api)
            if args.no_wait:
                return 0
            print("\nAll servers are running. Press Ctrl-C to stop them.", flush=True)
            try:
                _wait_forever()
            except KeyboardInterrupt:
                print("\nstopping the servers", flush=True)
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; the servers stopped", flush=True)
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_forever() -> None:
    while True:
        time.sleep(3600)  # the servers run in their own processes; this one only waits for Ctrl-C


def _app_secret(path: Path) -> str:
    """The web app's session secret, kept in .demo so sign-ins survive a restart of the demo."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _show_web_app(web: str, dev: str) -> None:
    login = httpx.get(f"{web}/auth/login", timeout=10)
    where = login.headers.get("location", "")
    print(f"\nWeb app           {web}   (examples/webapp.py: hosted-UI sign-in)")
    print(f"  GET /auth/login -> {login.status_code}, to the stand-in's sign-in page: {where.startswith(dev)}")
    print(f"  Open {web} in a browser and sign in as alice / Passw0rd! (or bob, who is refused /admin).")


def _show_machine_client(dev: str, api: str) -> None:
    """examples/m2m_client.py against the API: client-credentials tokens from the stand-in, one for all its calls."""
    env = {
        **os.environ,
        "COGNITO_DOMAIN": dev,
        "COGNITO_CLIENT_ID": "local-m2m",
        "COGNITO_CLIENT_SECRET": "local-m2m-secret",
        "COGNITO_SCOPES": "orders/read",
    }
    env.pop("COGNITO_REDIS_URL", None)
    print("\nA machine client (examples/m2m_client.py): client-credentials tokens from the stand-in, GET /orders")
    names = ("COGNITO_DOMAIN", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET", "COGNITO_SCOPES")
    settings = " ".join(f"{name}={env[name]}" for name in names)
    print(f"  {settings} {BIN / 'python'} examples/m2m_client.py --api {api}", flush=True)
    command = [sys.executable, "examples/m2m_client.py", "--api", api, "--calls", "5"]
    subprocess.run(command, cwd=ROOT, env=env, check=False, timeout=60)  # noqa: S603 - our own fixed command


def _tampered(token: str) -> str:
    """The token with one character of its signature changed (still well-formed base64url)."""
    head, signature = token.rsplit(".", 1)
    swapped = "B" if signature[10] == "A" else "A"
    return f"{head}.{signature[:10]}{swapped}{signature[11:]}"


def _demonstrate(pool: LocalUserPool, *, dev: str, api: str, issuer: str, keys: Path) -> None:
    alice = pool.sign_in("alice", base_url=dev).access_token
    bob = pool.sign_in("bob", base_url=dev).access_token
    machine = pool.client_credentials("local-m2m", base_url=dev)

    print(f"\nCognito stand-in  {dev}   issuer {issuer}")
    print(f"  hosted UI       {dev}/oauth2/authorize   JWKS {issuer}/.well-known/jwks.json")
    print(f"FastAPI example   {api}   (OpenAPI docs at {api}/docs)")
    print("demo users        alice / Passw0rd! (groups admin, users)   bob / Passw0rd! (group users)")
    print("machine client    local-m2m / local-m2m-secret (client credentials, scopes orders/read orders/write)")

    calls = [
        ("alice's access token", "/me", alice, "a valid token: who is calling"),
        ("no token", "/me", None, "the API needs a bearer token"),
        ("a tampered token", "/me", _tampered(alice), "the signature does not match"),
        ("bob's access token", "/admin", bob, "bob is not in the admin group"),
        ("alice's access token", "/admin", alice, "alice is in the admin group"),
        ("the machine client's token", "/orders", machine, "client credentials with orders/read"),
    ]
    print("\nThe API answers:")
    for who, path, token, why in calls:
        response = _call(api, path, token)
        print(f"  GET {path:8} with {who:28} -> {response.status_code}  ({why})")
        print(f"      {response.text[:160]}")

    _show_sign_out(api, pool.sign_in("alice", base_url=dev).access_token)

    print("\nTry it yourself (tokens are valid for an hour):")
    print(f"  {_curl(api, '/me', alice)}")
    print(f"  {_curl(api, '/me', None)}")
    print(f"  {_curl(api, '/admin', bob)}")
    mint = f"{BIN / 'cognito-guard'} dev token --keys {keys} --port {dev.rsplit(':', 1)[1]}"
    print("\nWith fresh tokens at any time (run from the repository root):")
    print(f'  curl -i {api}/me -H "Authorization: Bearer $({mint} --user alice)"')
    print(f'  curl -i {api}/orders -H "Authorization: Bearer $({mint} --client local-m2m)"')


def _show_sign_out(api: str, token: str) -> None:
    """Sign ``token`` out through the API and show it refused afterwards (a sign-in of its own: the tokens printed in
    the curl lines stay valid)."""
    print("\nSigning out (POST /sign-out puts the caller's sign-in on the API's revocation list):")
    steps = [
        ("GET", "/me", "a valid token"),
        ("POST", "/sign-out", "alice signs out: every token of this sign-in is revoked"),
        ("GET", "/me", "the same token, refused from now on"),
    ]
    who = "alice's new access token"
    for method, path, why in steps:
        response = _call(api, path, token, method)
        print(f"  {method + ' ' + path:14} with {who:28} -> {response.status_code}  ({why})")
        if response.content:
            print(f"      {response.text[:160]}")
    here = "through Redis" if os.environ.get("COGNITO_REDIS_URL") else "in memory"
    print(
        f"  With COGNITO_REDIS_URL set every worker shares this list (here: {here}); operators revoke with "
        "`cognito-guard revoke --origin-jti ID | --jti ID | --user SUB`."
    )


if __name__ == "__main__":
    sys.exit(main())
