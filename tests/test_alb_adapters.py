"""The adapters' ALB mode (issue 13): given an AlbVerifier, the FastAPI dependency, the ASGI middleware, the Starlette
backend and the Flask extension read the ``x-amzn-oidc-*`` headers instead of ``Authorization``, with the same
requirements and the same 401/403/503 answers, never a 500.

In-process: ASGI apps through ``httpx.ASGITransport`` (WebSockets through ``TestClient``), Flask through its test
client. Keys are preloaded, or a key server that always answers 500 (``httpx.MockTransport``) plays the outage.

No ``from __future__ import annotations``: FastAPI resolves the routes' annotations at runtime.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.testclient import TestClient
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from cognito_guard import AlbClaims, AlbVerifier, Claims, ConfigurationError, require
from cognito_guard.asgi import CognitoAuthMiddleware
from cognito_guard.fastapi import CognitoAuth, HostedUI
from cognito_guard.flask import CognitoGuard, current_claims, get_current_claims
from cognito_guard.starlette import CognitoUser, cognito_authentication, get_claims, requires
from cognito_guard.testing import LocalAlb, LocalIssuer

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
DATA = "x-amzn-oidc-data"
ACCESS = "x-amzn-oidc-accesstoken"


@pytest.fixture
def alb(issuer: LocalIssuer) -> LocalAlb:
    return LocalAlb(alb_arn=ARN, pool=issuer)


@pytest.fixture
def verifier(alb: LocalAlb) -> AlbVerifier:
    """ALB mode with the access token checked too: groups and scopes come from it."""
    return alb.verifier(access_token=True)


@pytest.fixture
async def keyless(alb: LocalAlb) -> AsyncIterator[AlbVerifier]:
    """An ALB verifier whose key server always answers 500: it never has a key."""
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    with httpx.Client(transport=transport) as client:
        async with httpx.AsyncClient(transport=transport) as async_client:
            yield AlbVerifier(
                alb_arn=alb.alb_arn,
                client_id=alb.client_id,
                issuer=alb.issuer,
                http_client=client,
                async_http_client=async_client,
                clock=alb.clock,
            )


@contextlib.asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


# -- FastAPI -----------------------------------------------------------------------------------------------------------


def fastapi_app(auth: CognitoAuth) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(claims: Annotated[AlbClaims, Depends(auth)]) -> dict[str, Any]:
        return {"sub": claims.sub, "username": claims.username, "signer": claims.signer, "client": claims.client_id}

    @app.get("/admin", dependencies=[Depends(auth.require(groups="admin"))])
    async def admin() -> dict[str, bool]:
        return {"admin": True}

    @app.get("/orders")
    async def orders(claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/greeting")
    async def greeting(claims: Annotated[Claims | None, Depends(auth.optional)]) -> dict[str, str]:
        return {"hello": claims.username or claims.sub if claims is not None else "stranger"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, claims: Annotated[Claims, Depends(auth)]) -> None:
        await websocket.accept()
        await websocket.send_text(claims.username or claims.sub)
        await websocket.close()

    return app


async def test_fastapi_route_gets_the_claims_of_the_user_the_alb_signed_in(
    alb: LocalAlb, verifier: AlbVerifier
) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers=alb.headers(username="alice"))

    assert response.status_code == 200
    assert response.json() == {"sub": alb.subject("alice"), "username": "alice", "signer": ARN, "client": alb.client_id}


async def test_fastapi_request_without_the_alb_headers_is_401_with_a_challenge(verifier: AlbVerifier) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me")

    assert_refused(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")


async def test_fastapi_bearer_token_is_not_read_in_alb_mode(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {alb.data_token()}"})

    assert_refused(response, 401, "not_authenticated")


async def test_fastapi_token_of_another_alb_is_401_invalid_signer(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers=alb.other_alb().headers())

    assert_refused(response, 401, "invalid_signer")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_fastapi_group_requirement_reads_the_access_tokens_groups(
    alb: LocalAlb, issuer: LocalIssuer, verifier: AlbVerifier
) -> None:
    admin = {**alb.headers(), ACCESS: issuer.access_token(groups=["admin"])}

    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        allowed = await client.get("/admin", headers=admin)
        refused = await client.get("/admin", headers=alb.headers())

    assert allowed.status_code == 200
    assert_refused(refused, 403, "missing_group")


async def test_fastapi_security_scopes_read_the_access_tokens_scopes(
    alb: LocalAlb, issuer: LocalIssuer, verifier: AlbVerifier
) -> None:
    reader = {**alb.headers(), ACCESS: issuer.access_token(scopes=["orders/read"])}

    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        allowed = await client.get("/orders", headers=reader)
        refused = await client.get("/orders", headers=alb.headers())

    assert allowed.status_code == 200
    assert_refused(refused, 403, "missing_scope")


async def test_fastapi_missing_access_token_is_401_when_the_verifier_checks_it(
    alb: LocalAlb, verifier: AlbVerifier
) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers=alb.headers(access_token=False))

    assert_refused(response, 401, "malformed_token")


async def test_fastapi_key_server_down_is_503_with_retry_after(alb: LocalAlb, keyless: AlbVerifier) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(keyless))) as client:
        response = await client.get("/me", headers=alb.headers())

    assert_refused(response, 503, "keys_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


async def test_fastapi_two_data_headers_are_401(alb: LocalAlb, verifier: AlbVerifier) -> None:
    headers = [(DATA, alb.data_token()), (DATA, alb.data_token(username="bob")), (ACCESS, alb.headers()[ACCESS])]

    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers=headers)

    assert_refused(response, 401, "malformed_token")


@pytest.mark.parametrize("value", ["", "a.b.c", "\xff\xfe", "x" * 40_000, "Bearer abc"])
async def test_fastapi_garbage_in_the_alb_header_is_401_never_500(verifier: AlbVerifier, value: str) -> None:
    headers = [(DATA.encode(), value.encode("latin-1"))]

    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        response = await client.get("/me", headers=headers)

    assert response.status_code == 401


async def test_fastapi_optional_auth_gives_none_without_the_alb_headers(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(fastapi_app(CognitoAuth(verifier))) as client:
        anonymous = await client.get("/greeting")
        alice = await client.get("/greeting", headers=alb.headers())

    assert anonymous.json() == {"hello": "stranger"}
    assert alice.json() == {"hello": "alice"}


def test_fastapi_websocket_behind_the_alb_is_accepted_with_the_headers_and_closed_1008_without(
    alb: LocalAlb, verifier: AlbVerifier
) -> None:
    client = TestClient(fastapi_app(CognitoAuth(verifier)))

    with client.websocket_connect("/ws", headers=alb.headers(username="carol")) as websocket:
        assert websocket.receive_text() == "carol"
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws"):
        pass

    assert closed.value.code == 1008


def test_fastapi_openapi_declares_the_alb_header_as_an_api_key(verifier: AlbVerifier) -> None:
    schema = fastapi_app(CognitoAuth(verifier)).openapi()

    assert schema["components"]["securitySchemes"]["Cognito"] == {
        "type": "apiKey",
        "in": "header",
        "name": DATA,
        "description": "Added by the AWS Application Load Balancer that signed the user in; clients never send it.",
    }


@pytest.mark.parametrize(
    "options",
    [
        {"hosted_ui": HostedUI(domain="auth.example.com", client_id="swagger")},
        {"websocket_query_param": "token"},
        {"websocket_subprotocol": "bearer"},
    ],
)
def test_fastapi_bearer_only_options_in_alb_mode_are_configuration_errors(
    verifier: AlbVerifier, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        CognitoAuth(verifier, **options)


def test_fastapi_auth_keeps_its_kind_of_verifier(alb: LocalAlb, issuer: LocalIssuer, verifier: AlbVerifier) -> None:
    auth = CognitoAuth(verifier)

    auth.verifier = alb.verifier()  # another ALB verifier: fine
    with pytest.raises(ConfigurationError):
        auth.verifier = issuer.verifier()


# -- the ASGI middleware -----------------------------------------------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    claims = request.state.cognito_claims
    return JSONResponse({"sub": claims.sub, "signer": claims.signer})


def middleware_app(verifier: AlbVerifier, **options: Any) -> CognitoAuthMiddleware:
    return CognitoAuthMiddleware(Starlette(routes=[Route("/me", whoami)]), verifier=verifier, **options)


async def test_asgi_middleware_passes_the_alb_users_claims_to_the_app(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(middleware_app(verifier)) as client:
        response = await client.get("/me", headers=alb.headers())

    assert response.json() == {"sub": alb.subject("alice"), "signer": ARN}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        (lambda alb: {}, 401, "not_authenticated"),
        (lambda alb: alb.other_alb().headers(), 401, "invalid_signer"),
        (lambda alb: alb.headers(expires_in=-1), 401, "token_expired"),
        (lambda alb: alb.headers(), 403, "missing_group"),
    ],
    ids=["no-headers", "foreign-alb", "expired", "no-group"],
)
async def test_asgi_middleware_refuses_like_every_adapter(
    alb: LocalAlb, verifier: AlbVerifier, headers: Any, status: int, code: str
) -> None:
    async with asgi_client(middleware_app(verifier, require=require(groups="admin"))) as client:
        response = await client.get("/me", headers=headers(alb))

    assert_refused(response, status, code)


async def test_asgi_middleware_answers_503_while_the_key_server_is_down(alb: LocalAlb, keyless: AlbVerifier) -> None:
    async with asgi_client(middleware_app(keyless)) as client:
        response = await client.get("/me", headers=alb.headers())

    assert_refused(response, 503, "keys_unavailable")


def test_asgi_middleware_closes_a_websocket_without_alb_headers_with_1008(verifier: AlbVerifier) -> None:
    async def ws(websocket: Any) -> None:  # pragma: no cover - never reached
        await websocket.accept()

    from starlette.routing import WebSocketRoute

    app = CognitoAuthMiddleware(Starlette(routes=[WebSocketRoute("/ws", ws)]), verifier=verifier)

    with pytest.raises(WebSocketDisconnect) as closed, TestClient(app).websocket_connect("/ws"):
        pass

    assert closed.value.code == 1008


# -- the Starlette backend ---------------------------------------------------------------------------------------------


@requires()
async def profile(request: Request) -> JSONResponse:
    claims = get_claims(request)
    assert isinstance(request.user, CognitoUser)
    return JSONResponse({"user": request.user.display_name, "signer": getattr(claims, "signer", None)})


@requires(groups="admin")
async def admin_page(request: Request) -> JSONResponse:
    return JSONResponse({"admin": True})


def backend_app(verifier: AlbVerifier) -> Starlette:
    return Starlette(
        routes=[Route("/profile", profile), Route("/admin", admin_page)],
        middleware=[cognito_authentication(verifier)],
    )


async def test_starlette_backend_authenticates_the_alb_user(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(backend_app(verifier)) as client:
        response = await client.get("/profile", headers=alb.headers(username="dave"))

    assert response.json() == {"user": "dave", "signer": ARN}


async def test_starlette_backend_leaves_a_request_without_alb_headers_unauthenticated(verifier: AlbVerifier) -> None:
    async with asgi_client(backend_app(verifier)) as client:
        response = await client.get("/profile")

    assert_refused(response, 401, "not_authenticated")


async def test_starlette_backend_refuses_a_foreign_albs_token(alb: LocalAlb, verifier: AlbVerifier) -> None:
    async with asgi_client(backend_app(verifier)) as client:
        response = await client.get("/profile", headers=alb.other_alb().headers())

    assert_refused(response, 401, "invalid_signer")


async def test_starlette_requires_reads_the_access_tokens_groups(
    alb: LocalAlb, issuer: LocalIssuer, verifier: AlbVerifier
) -> None:
    async with asgi_client(backend_app(verifier)) as client:
        allowed = await client.get("/admin", headers={**alb.headers(), ACCESS: issuer.access_token(groups=["admin"])})
        refused = await client.get("/admin", headers=alb.headers())

    assert allowed.status_code == 200
    assert_refused(refused, 403, "missing_group")


def test_starlette_backend_refuses_something_that_is_no_verifier() -> None:
    from cognito_guard.starlette import CognitoAuthBackend

    with pytest.raises(ConfigurationError):
        CognitoAuthBackend(object())  # type: ignore[arg-type]


# -- Flask -------------------------------------------------------------------------------------------------------------


def flask_app(verifier: AlbVerifier) -> Flask:
    app = Flask(__name__)
    guard = CognitoGuard(app, verifier=verifier)

    @app.get("/me")
    @guard.required
    def me() -> dict[str, Any]:
        return {"sub": current_claims.sub, "signer": getattr(current_claims, "signer", None)}

    @app.get("/admin")
    @guard.required(groups="admin")
    def admin() -> dict[str, bool]:
        return {"admin": True}

    @app.get("/greeting")
    @guard.optional
    def greeting() -> dict[str, str]:
        claims = get_current_claims()
        return {"hello": claims.username or claims.sub if claims is not None else "stranger"}

    return app


def test_flask_view_gets_the_alb_users_claims(alb: LocalAlb, verifier: AlbVerifier) -> None:
    response = flask_app(verifier).test_client().get("/me", headers=alb.headers())

    assert response.json == {"sub": alb.subject("alice"), "signer": ARN}


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/me", lambda alb: {}, 401, "not_authenticated"),
        ("/me", lambda alb: alb.other_alb().headers(), 401, "invalid_signer"),
        ("/me", lambda alb: alb.headers(access_token=False), 401, "malformed_token"),
        ("/admin", lambda alb: alb.headers(), 403, "missing_group"),
    ],
    ids=["no-headers", "foreign-alb", "no-access-token", "no-group"],
)
def test_flask_refuses_like_every_adapter(
    alb: LocalAlb, verifier: AlbVerifier, path: str, headers: Any, status: int, code: str
) -> None:
    response = flask_app(verifier).test_client().get(path, headers=headers(alb))

    assert response.status_code == status
    assert response.json is not None
    assert response.json["code"] == code


def test_flask_answers_503_while_the_key_server_is_down(alb: LocalAlb, keyless: AlbVerifier) -> None:
    response = flask_app(keyless).test_client().get("/me", headers=alb.headers())

    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_flask_optional_view_serves_anonymous_callers_and_alb_users(alb: LocalAlb, verifier: AlbVerifier) -> None:
    client = flask_app(verifier).test_client()

    assert client.get("/greeting").json == {"hello": "stranger"}
    assert client.get("/greeting", headers=alb.headers(username="erin")).json == {"hello": "erin"}
