"""Starlette's AuthenticationBackend, our requires(), the pure ASGI middleware and the lifespan helper."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import serve_asgi
from starlette.applications import Starlette
from starlette.authentication import requires as starlette_requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cognito_guard import CognitoVerifier, ConfigurationError, KeysUnavailableError, require
from cognito_guard.claims import Claims
from cognito_guard.starlette import (
    CognitoAuthBackend,
    CognitoAuthMiddleware,
    cognito_authentication,
    cognito_lifespan,
    get_claims,
    on_error,
    requires,
)
from cognito_guard.testing import LocalIssuer

Headers = Sequence[tuple[bytes, bytes]]


# -- helpers ---------------------------------------------------------------------------------------------------------
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def http_call(app: Any, path: str = "/", *, method: str = "GET", headers: Headers = ()) -> Answer:
    """One HTTP request straight through the ASGI interface (any header bytes, no client-side checks)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return Answer(start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:]))


async def websocket_call(app: Any, path: str = "/ws", *, headers: Headers = ()) -> list[dict[str, Any]]:
    """Open a WebSocket through the ASGI interface; returns what the app sent."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "subprotocols": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    inbox = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def auth_header(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


@pytest.fixture
async def failing_verifier(issuer: LocalIssuer) -> AsyncIterator[CognitoVerifier]:
    """A verifier whose JWKS URI answers 500: no keys at all."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    yield CognitoVerifier(
        user_pool_id=issuer.user_pool_id,
        client_id=issuer.client_id,
        token_use="access",
        clock=issuer.clock,
        async_http_client=http,
    )
    await http.aclose()


# -- the backend -----------------------------------------------------------------------------------------------------
async def describe_user(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "type": type(user).__name__,
            "display_name": user.display_name,
            "identity": user.identity,
            "scopes": request.auth.scopes,
            "sub": user.claims.sub if user.is_authenticated else None,
        }
    )


@starlette_requires("orders/read")
async def starlette_orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse("orders")


@starlette_requires("group:admin")
async def starlette_admin(request: Request) -> PlainTextResponse:
    return PlainTextResponse("admin")


async def echo_websocket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.display_name)
    await websocket.close()


def backend_app(verifier: CognitoVerifier) -> Starlette:
    return Starlette(
        routes=[
            Route("/user", describe_user),
            Route("/orders", starlette_orders),
            Route("/admin", starlette_admin),
            WebSocketRoute("/ws", echo_websocket),
        ],
        middleware=[cognito_authentication(verifier, realm="shop")],
    )


async def test_backend_makes_request_user_a_cognito_user_named_by_username(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    token = issuer.access_token(username="alice", sub="sub-1")
    async with client_for(backend_app(verifier)) as client:
        body = (await client.get("/user", headers=bearer(token))).json()

    assert body["authenticated"] is True
    assert body["type"] == "CognitoUser"
    assert (body["display_name"], body["identity"], body["sub"]) == ("alice", "sub-1", "sub-1")


async def test_backend_auth_scopes_hold_token_scopes_and_group_entries(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    token = issuer.access_token(scopes=["orders/write", "orders/read"], groups=["admin", "staff"])
    async with client_for(backend_app(verifier)) as client:
        body = (await client.get("/user", headers=bearer(token))).json()

    assert body["scopes"] == ["authenticated", "orders/read", "orders/write", "group:admin", "group:staff"]


async def test_backend_never_lets_a_token_scope_pass_for_a_group(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    token = issuer.access_token(scopes=["group:admin"], groups=[])
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/admin", headers=bearer(token))

    assert response.status_code == 403


async def test_backend_names_a_machine_token_user_by_its_client_id(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    token = issuer.client_credentials_token(client_id=issuer.client_id)
    async with client_for(backend_app(verifier)) as client:
        body = (await client.get("/user", headers=bearer(token))).json()

    assert body["display_name"] == issuer.client_id


async def test_backend_leaves_a_request_without_token_unauthenticated(verifier: CognitoVerifier) -> None:
    async with client_for(backend_app(verifier)) as client:
        body = (await client.get("/user")).json()

    assert (body["authenticated"], body["type"], body["scopes"]) == (False, "UnauthenticatedUser", [])


async def test_backend_leaves_another_authorization_scheme_unauthenticated(verifier: CognitoVerifier) -> None:
    async with client_for(backend_app(verifier)) as client:
        body = (await client.get("/user", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})).json()

    assert body["authenticated"] is False


async def test_backend_refuses_an_invalid_token_with_401_json_and_challenge(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    token = issuer.access_token(expires_in=-10)
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/user", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {"detail": "token has expired", "code": "token_expired"}
    assert response.headers["www-authenticate"] == (
        'Bearer realm="shop", error="invalid_token", error_description="token has expired"'
    )


async def test_backend_refuses_two_authorization_headers(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    token = issuer.access_token()
    headers = [(b"authorization", f"Bearer {token}".encode())] * 2

    answer = await http_call(backend_app(verifier), "/user", headers=headers)

    assert (answer.status, answer.json()["code"]) == (401, "malformed_token")


async def test_backend_answers_503_with_retry_after_when_keys_are_unavailable(
    issuer: LocalIssuer, failing_verifier: CognitoVerifier
) -> None:
    async with client_for(backend_app(failing_verifier)) as client:
        response = await client.get("/user", headers=bearer(issuer.access_token()))

    assert response.status_code == 503
    assert response.json()["code"] == "keys_unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_backend_answers_403_when_the_verifiers_default_scopes_are_missing(issuer: LocalIssuer) -> None:
    app = backend_app(issuer.verifier(scopes=["orders/read"]))
    async with client_for(app) as client:
        response = await client.get("/user", headers=bearer(issuer.access_token(scopes=["profile"])))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert (
        response.headers["www-authenticate"] == 'Bearer realm="shop", error="insufficient_scope", scope="orders/read"'
    )


async def test_on_error_works_with_starlettes_own_authentication_middleware(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    app = Starlette(
        routes=[Route("/user", describe_user)],
        middleware=[Middleware(AuthenticationMiddleware, backend=CognitoAuthBackend(verifier), on_error=on_error)],
    )
    async with client_for(app) as client:
        response = await client.get("/user", headers=bearer("not-a-jwt"))

    assert response.status_code == 401
    assert response.json()["code"] == "malformed_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')


async def test_starlette_requires_lets_a_token_with_the_scope_in(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/read"])))

    assert response.status_code == 200


async def test_starlette_requires_forbids_a_token_without_the_scope(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/write"])))

    assert response.status_code == 403


async def test_starlette_requires_group_entry_lets_a_group_member_in(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/admin", headers=bearer(issuer.access_token(groups=["staff", "admin"])))

    assert response.status_code == 200


async def test_starlette_requires_group_entry_forbids_a_non_member(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    async with client_for(backend_app(verifier)) as client:
        response = await client.get("/admin", headers=bearer(issuer.access_token(groups=["staff"])))

    assert response.status_code == 403


async def test_backend_passes_a_valid_websocket_to_the_app(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    sent = await websocket_call(backend_app(verifier), headers=[auth_header(issuer.access_token(username="bob"))])

    assert [message["type"] for message in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "bob"


async def test_backend_closes_a_refused_websocket_with_1008_before_accept(verifier: CognitoVerifier) -> None:
    sent = await websocket_call(backend_app(verifier), headers=[auth_header("not-a-jwt")])

    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "malformed_token"}]


# -- our requires() --------------------------------------------------------------------------------------------------
@requires()
async def any_token(request: Request) -> JSONResponse:
    claims = get_claims(request)
    return JSONResponse({"sub": claims.sub if claims else None})


@requires("orders/read")
async def orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse("orders")


@requires(groups="admin")
async def admin(request: Request) -> PlainTextResponse:
    return PlainTextResponse("admin")


@requires(groups="admin")
def sync_admin(request: Request) -> PlainTextResponse:
    return PlainTextResponse("sync admin")


async def is_bob(claims: Claims) -> bool:
    return claims.username == "bob"


@requires(predicate=is_bob)
async def only_bob(request: Request) -> PlainTextResponse:
    return PlainTextResponse("bob")


@requires("orders/read")
async def orders_feed(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


GUARDED_ROUTES = [
    Route("/any", any_token),
    Route("/orders", orders),
    Route("/admin", admin),
    Route("/sync-admin", sync_admin),
    Route("/bob", only_bob),
    WebSocketRoute("/feed", orders_feed),
]


@pytest.fixture
def guarded_app(verifier: CognitoVerifier) -> Starlette:
    return Starlette(routes=GUARDED_ROUTES, middleware=[cognito_authentication(verifier)])


async def test_requires_answers_401_with_challenge_when_there_is_no_token(guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/any")

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_requires_without_arguments_lets_any_valid_token_in(issuer: LocalIssuer, guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/any", headers=bearer(issuer.access_token(sub="sub-7")))

    assert response.json() == {"sub": "sub-7"}


async def test_requires_answers_403_insufficient_scope_naming_the_scope(
    issuer: LocalIssuer, guarded_app: Starlette
) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/write"])))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope", scope="orders/read"'


async def test_requires_lets_a_token_with_the_scope_in(issuer: LocalIssuer, guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/read"])))

    assert (response.status_code, response.text) == (200, "orders")


async def test_requires_answers_403_missing_group_to_a_non_member(issuer: LocalIssuer, guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/admin", headers=bearer(issuer.access_token(groups=["staff"])))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope"'


async def test_requires_runs_a_sync_endpoint_for_an_allowed_token(issuer: LocalIssuer, guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        response = await client.get("/sync-admin", headers=bearer(issuer.access_token(groups=["admin"])))

    assert response.text == "sync admin"


async def test_requires_awaits_an_async_predicate(issuer: LocalIssuer, guarded_app: Starlette) -> None:
    async with client_for(guarded_app) as client:
        allowed = await client.get("/bob", headers=bearer(issuer.access_token(username="bob")))
        denied = await client.get("/bob", headers=bearer(issuer.access_token(username="eve")))

    assert (allowed.status_code, denied.status_code, denied.json()["code"]) == (200, 403, "denied")


async def test_requires_closes_a_websocket_without_the_scope_with_1008(
    issuer: LocalIssuer, guarded_app: Starlette
) -> None:
    token = issuer.access_token(scopes=["orders/write"])

    sent = await websocket_call(guarded_app, "/feed", headers=[auth_header(token)])

    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing_scope"}]


async def test_requires_reads_claims_set_by_the_asgi_middleware(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    app = Starlette(routes=GUARDED_ROUTES, middleware=[Middleware(CognitoAuthMiddleware, verifier=verifier)])
    async with client_for(app) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/read"])))

    assert response.status_code == 200


def test_requires_refuses_an_endpoint_without_request_parameter() -> None:
    async def endpoint(conn: Request) -> None:  # pragma: no cover - never called
        return None

    with pytest.raises(ConfigurationError, match="'request' or 'websocket'"):
        requires()(endpoint)


# -- the pure ASGI middleware ----------------------------------------------------------------------------------------
async def show_state(request: Request) -> JSONResponse:
    claims = getattr(request.state, "cognito_claims", None)
    return JSONResponse({"path": request.url.path, "sub": claims.sub if claims else None})


async def state_websocket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.state.cognito_claims.sub)
    await websocket.close()


def guarded(verifier: CognitoVerifier, **options: Any) -> Starlette:
    return Starlette(
        routes=[
            Route("/{path:path}", show_state, methods=["GET", "OPTIONS"]),
            WebSocketRoute("/ws", state_websocket),
        ],
        middleware=[Middleware(CognitoAuthMiddleware, verifier=verifier, **options)],
    )


async def test_middleware_refuses_a_request_without_token_with_401_and_challenge(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier, realm="shop")) as client:
        response = await client.get("/orders")

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
    assert response.headers["www-authenticate"] == 'Bearer realm="shop"'
    assert response.headers["content-type"] == "application/json"


async def test_middleware_refuses_a_bad_signature_with_401_invalid_token(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    async with client_for(guarded(verifier)) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(bad_signature=True)))

    assert response.status_code == 401
    assert response.json() == {"detail": "token signature is invalid", "code": "invalid_signature"}
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="token signature is invalid"'
    )


async def test_middleware_answers_exactly_like_the_backend(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    token = issuer.access_token(expires_in=-1)
    async with client_for(guarded(verifier)) as middleware, client_for(backend_app(verifier)) as backend:
        ours = await middleware.get("/user", headers=bearer(token))
        theirs = await backend.get("/user", headers=bearer(token))

    assert ours.content == theirs.content
    assert ours.headers["www-authenticate"] == theirs.headers["www-authenticate"].replace("shop", "api")


async def test_middleware_stores_the_claims_in_request_state(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier)) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(sub="sub-42")))

    assert response.json() == {"path": "/orders", "sub": "sub-42"}


async def test_middleware_answers_403_insufficient_scope_for_an_unmet_requirement(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    app = guarded(verifier, require=require(scopes="orders/read"))
    async with client_for(app) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["profile"])))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope", scope="orders/read"'


async def test_middleware_awaits_an_async_requirement(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    app = guarded(verifier, require=require(predicate=is_bob))
    async with client_for(app) as client:
        allowed = await client.get("/x", headers=bearer(issuer.access_token(username="bob")))
        denied = await client.get("/x", headers=bearer(issuer.access_token(username="eve")))

    assert (allowed.status_code, denied.status_code) == (200, 403)


async def test_middleware_answers_503_with_retry_after_when_the_jwks_uri_fails(
    issuer: LocalIssuer, failing_verifier: CognitoVerifier
) -> None:
    async with client_for(guarded(failing_verifier)) as client:
        response = await client.get("/orders", headers=bearer(issuer.access_token()))

    assert response.status_code == 503
    assert response.json()["code"] == "keys_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers


async def test_middleware_refuses_two_authorization_headers(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    token = issuer.access_token()
    answer = await http_call(guarded(verifier), "/orders", headers=[auth_header(token), auth_header(token)])

    assert (answer.status, answer.json()["code"]) == (401, "malformed_token")


async def test_middleware_leaves_an_excluded_prefix_public(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier, exclude=["/health", "/static"])) as client:
        statuses = [(await client.get(path)).status_code for path in ("/health", "/static/app.js", "/orders")]

    assert statuses == [200, 200, 401]


async def test_middleware_exclude_prefix_does_not_cover_longer_names(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier, exclude="/health")) as client:
        response = await client.get("/healthz-admin")

    assert response.status_code == 401


async def test_middleware_protects_only_included_paths(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier, include="/api", exclude="/api/public")) as client:
        statuses = [(await client.get(path)).status_code for path in ("/", "/api", "/api/orders", "/api/public/x")]

    assert statuses == [200, 401, 401, 200]


async def test_middleware_regex_rule_must_match_the_whole_path(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier, exclude=re.compile(r"/items/\d+"))) as client:
        statuses = [(await client.get(path)).status_code for path in ("/items/12", "/items/12/secret")]

    assert statuses == [200, 401]


@pytest.mark.parametrize("path", ["/public/../orders", "/public/./x", "/public/.."])
async def test_middleware_never_treats_a_path_with_dot_or_empty_segments_as_public(
    verifier: CognitoVerifier, path: str
) -> None:
    answer = await http_call(guarded(verifier, exclude="/public"), path)

    assert answer.status == 401


async def test_middleware_protects_a_doubled_slash_path_whatever_the_include_rules(verifier: CognitoVerifier) -> None:
    answer = await http_call(guarded(verifier, include="/admin"), "//admin")

    assert answer.status == 401


PREFLIGHT = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}


async def test_middleware_refuses_a_cors_preflight_without_token_by_default(verifier: CognitoVerifier) -> None:
    async with client_for(guarded(verifier)) as client:
        response = await client.options("/orders", headers=PREFLIGHT)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_middleware_never_runs_a_method_agnostic_app_for_a_preflight_by_default(
    verifier: CognitoVerifier,
) -> None:
    async def any_method(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - must not run
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ran without a token"})

    headers = [(b"origin", b"https://shop.example"), (b"access-control-request-method", b"GET")]
    app = CognitoAuthMiddleware(any_method, verifier=verifier)
    answer = await http_call(app, "/orders", method="OPTIONS", headers=headers)

    assert answer.status == 401


async def test_middleware_with_allow_preflight_lets_a_cors_preflight_pass_without_token(
    verifier: CognitoVerifier,
) -> None:
    async with client_for(guarded(verifier, allow_preflight=True)) as client:
        response = await client.options("/orders", headers=PREFLIGHT)

    assert response.json() == {"path": "/orders", "sub": None}


async def test_middleware_with_allow_preflight_still_requires_a_token_for_a_plain_options_request(
    verifier: CognitoVerifier,
) -> None:
    async with client_for(guarded(verifier, allow_preflight=True)) as client:
        response = await client.options("/orders", headers={"Origin": "https://shop.example"})

    assert response.status_code == 401


async def test_middleware_from_env_passes_allow_preflight_on() -> None:
    environ = {"COGNITO_USER_POOL_ID": "eu-west-1_Env1", "COGNITO_CLIENT_ID": "client-env"}
    app = Starlette(routes=[Route("/{path:path}", show_state, methods=["GET", "OPTIONS"])])
    preflight = [(b"origin", b"https://shop.example"), (b"access-control-request-method", b"GET")]

    middleware = CognitoAuthMiddleware.from_env(app, environ=environ, allow_preflight=True)
    answer = await http_call(middleware, "/orders", method="OPTIONS", headers=preflight)

    assert answer.json() == {"path": "/orders", "sub": None}


async def test_middleware_closes_a_websocket_without_token_with_1008_before_accept(verifier: CognitoVerifier) -> None:
    sent = await websocket_call(guarded(verifier))

    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "not_authenticated"}]


async def test_middleware_closes_a_websocket_with_a_bad_token_with_1008(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    sent = await websocket_call(guarded(verifier), headers=[auth_header(issuer.access_token(expires_in=-1))])

    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "token_expired"}]


async def test_middleware_passes_a_valid_websocket_with_claims_in_state(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    sent = await websocket_call(guarded(verifier), headers=[auth_header(issuer.access_token(sub="sub-ws"))])

    assert [message.get("text") for message in sent if message["type"] == "websocket.send"] == ["sub-ws"]


def test_uvicorn_refuses_the_handshake_of_a_websocket_the_middleware_closes(verifier: CognitoVerifier) -> None:
    with serve_asgi(guarded(verifier)) as url, pytest.raises(InvalidStatus) as refused:
        connect(f"ws{url.removeprefix('http')}/ws", open_timeout=10).close()  # pragma: no cover - refused

    assert refused.value.response.status_code == 403


def test_uvicorn_serves_a_websocket_the_middleware_lets_in(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    token = issuer.access_token(sub="sub-live")
    with (
        serve_asgi(guarded(verifier)) as url,
        connect(f"ws{url.removeprefix('http')}/ws", additional_headers=bearer(token), open_timeout=10) as websocket,
    ):
        assert websocket.recv(timeout=10) == "sub-live"


async def test_middleware_passes_lifespan_events_through_untouched(verifier: CognitoVerifier) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    async def receive() -> dict[str, Any]:  # pragma: no cover - never called
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:  # pragma: no cover - never called
        return None

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await CognitoAuthMiddleware(app, verifier=verifier)(scope, receive, send)

    assert len(seen) == 1
    passed_scope, passed_receive, passed_send = seen[0]
    assert passed_scope is scope
    assert passed_receive is receive
    assert passed_send is send
    assert scope == {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}


async def test_middleware_guards_a_fastapi_app(issuer: LocalIssuer, verifier: CognitoVerifier) -> None:
    api = FastAPI()

    @api.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"sub": request.state.cognito_claims.sub}

    api.add_middleware(CognitoAuthMiddleware, verifier=verifier)
    async with client_for(api) as client:
        allowed = await client.get("/me", headers=bearer(issuer.access_token(sub="sub-f")))
        refused = await client.get("/me")

    assert (allowed.json(), refused.status_code) == ({"sub": "sub-f"}, 401)


@pytest.mark.parametrize("rule", ["health", 42, re.compile(rb"/x")])
def test_middleware_refuses_a_rule_that_is_neither_prefix_nor_pattern(verifier: CognitoVerifier, rule: Any) -> None:
    with pytest.raises(ConfigurationError, match="rules must be path prefixes"):
        CognitoAuthMiddleware(PlainTextResponse("x"), verifier=verifier, exclude=[rule])


def test_middleware_from_env_builds_its_verifier_from_cognito_variables() -> None:
    environ = {"COGNITO_USER_POOL_ID": "eu-west-1_Env1", "COGNITO_CLIENT_ID": "client-env"}

    middleware = CognitoAuthMiddleware.from_env(PlainTextResponse("x"), environ=environ)

    assert middleware.verifier.issuers[0] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Env1"


def test_middleware_from_env_names_a_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        CognitoAuthMiddleware.from_env(PlainTextResponse("x"), environ={"COGNITO_USER_POOL_ID": "eu-west-1_Env1"})


# -- never a 500 -----------------------------------------------------------------------------------------------------
def authorization_values() -> st.SearchStrategy[bytes]:
    text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=200)
    jwt_like = st.lists(st.text(alphabet="AZaz09-_=+/.", max_size=40), min_size=1, max_size=5).map(".".join)
    scheme = st.sampled_from(["Bearer ", "bearer ", "BEARER  ", "Bearer", "Basic ", ""])
    return st.one_of(
        st.binary(max_size=200),
        st.builds(lambda s, t: (s + t).encode("latin-1"), scheme, st.one_of(text, jwt_like)),
    )


NEVER_500 = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@NEVER_500
@given(values=st.lists(authorization_values(), min_size=1, max_size=2))
def test_no_authorization_header_makes_the_middleware_answer_500(
    verifier: CognitoVerifier, values: Iterable[bytes]
) -> None:
    headers = [(b"authorization", value) for value in values]

    answer = asyncio.run(http_call(guarded(verifier), "/orders", headers=headers))

    assert answer.status == 401
    assert b"www-authenticate" in answer.headers


@NEVER_500
@given(values=st.lists(authorization_values(), min_size=1, max_size=2))
def test_no_authorization_header_makes_the_backend_answer_500(
    verifier: CognitoVerifier, values: Iterable[bytes]
) -> None:
    headers = [(b"authorization", value) for value in values]

    answer = asyncio.run(http_call(backend_app(verifier), "/user", headers=headers))

    assert answer.status in (200, 401)  # 200: not a bearer token, so the request goes on unauthenticated


# -- lifespan helper -------------------------------------------------------------------------------------------------
class RecordingVerifier:
    """Stands in for a CognitoVerifier in lifespan tests: records warm_up/aclose, optionally fails warm_up."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    async def warm_up(self) -> None:
        self.calls.append("warm_up")
        if self.fail:
            raise KeysUnavailableError("could not load signing keys", retry_after=1)

    async def aclose(self) -> None:
        self.calls.append("aclose")


async def test_cognito_lifespan_warms_keys_up_at_start_and_closes_clients_at_shutdown() -> None:
    fake = RecordingVerifier()
    lifespan = cognito_lifespan(cast(CognitoVerifier, fake))

    async with lifespan(object()):
        assert fake.calls == ["warm_up"]

    assert fake.calls == ["warm_up", "aclose"]


async def test_cognito_lifespan_starts_with_a_warning_when_keys_are_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = RecordingVerifier(fail=True)

    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        async with cognito_lifespan(cast(CognitoVerifier, fake))(object()):
            pass

    assert "could not be loaded at start-up" in caplog.text
    assert fake.calls == ["warm_up", "aclose"]


async def test_cognito_lifespan_with_require_keys_refuses_to_start_without_keys() -> None:
    fake = RecordingVerifier(fail=True)

    with pytest.raises(KeysUnavailableError):
        async with cognito_lifespan(cast(CognitoVerifier, fake), require_keys=True)(object()):
            pass  # pragma: no cover - start-up fails

    assert fake.calls == ["warm_up", "aclose"]


async def test_cognito_lifespan_runs_under_starlette() -> None:
    fake = RecordingVerifier()
    app = Starlette(lifespan=cognito_lifespan(cast(CognitoVerifier, fake)))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    inbox.put_nowait({"type": "lifespan.startup"})
    running = asyncio.create_task(app(scope, inbox.get, outbox.put))
    started = await outbox.get()
    calls_while_running = list(fake.calls)
    inbox.put_nowait({"type": "lifespan.shutdown"})
    stopped = await outbox.get()
    await running

    assert (started["type"], stopped["type"]) == ("lifespan.startup.complete", "lifespan.shutdown.complete")
    assert calls_while_running == ["warm_up"]
    assert fake.calls == ["warm_up", "aclose"]
