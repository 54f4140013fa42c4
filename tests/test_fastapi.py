"""Specification of the FastAPI adapter (issue 3, section 3): cognito_guard.fastapi.CognitoAuth.

In-process: HTTP through ``httpx.ASGITransport``, WebSockets and lifespans through FastAPI's ``TestClient``. Keys are
preloaded (``issuer.verifier``) or served under respx; nothing leaves the process.

No ``from __future__ import annotations`` here: routes built inside functions annotate parameters with local
dependencies (``Annotated[Claims, Depends(auth)]``), which FastAPI could not resolve from strings.
"""

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import respx
from conftest import Clock
from fastapi import APIRouter, Depends, FastAPI, Security, WebSocket
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect

from cognito_guard import Claims, CognitoVerifier, ConfigurationError
from cognito_guard.fastapi import CognitoAuth, CognitoHTTPException, HostedUI
from cognito_guard.testing import LocalIssuer, SigningKeyPair, mock_jwks

REALM = "orders-api"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/Admin"
READER_ROLE = "arn:aws:iam::123456789012:role/Reader"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


async def is_gold_customer(claims: Claims) -> bool:
    return claims.get("tier") == "gold"


def build_app(auth: CognitoAuth, *, lifespan: Any = None) -> FastAPI:
    """One app with every way of using the dependency."""
    app = FastAPI(lifespan=lifespan)

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(claims: Annotated[Claims, Depends(auth)]) -> dict[str, Any]:
        return {"sub": claims.sub, "username": claims.username}

    @app.get("/orders")
    async def orders(claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/orders/edit")
    async def edit_orders(
        claims: Annotated[Claims, Security(auth, scopes=["orders/read", "orders/write"])],
    ) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/admin", dependencies=[Depends(auth.require(groups=["admin"]))])
    async def admin() -> dict[str, bool]:
        return {"admin": True}

    @app.get("/admin/whoami")
    async def admin_whoami(claims: Annotated[Claims, Depends(auth.require(groups="admin"))]) -> dict[str, Any]:
        return {"username": claims.username}

    @app.get("/gold", dependencies=[Depends(auth.require(predicate=is_gold_customer))])
    async def gold() -> dict[str, bool]:
        return {"gold": True}

    @app.get("/roles/admin", dependencies=[Depends(auth.require(preferred_role=ADMIN_ROLE))])
    async def admin_role() -> dict[str, bool]:
        return {"role": True}

    @app.get("/greeting")
    async def greeting(claims: Annotated[Claims | None, Depends(auth.optional)]) -> dict[str, str]:
        return {"hello": claims.username or claims.sub if claims is not None else "stranger"}

    ops = APIRouter(prefix="/ops", dependencies=[Depends(auth.require(groups=["ops"]))])

    @ops.get("/status")
    async def ops_status() -> dict[str, str]:
        return {"ops": "status"}

    @ops.get("/logs")
    async def ops_logs() -> dict[str, str]:
        return {"ops": "logs"}

    app.include_router(ops)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, claims: Annotated[Claims, Depends(auth)]) -> None:
        await websocket.accept(subprotocol=auth.accepted_subprotocol(websocket))
        await websocket.send_text(claims.username or claims.sub)
        await websocket.close()

    @app.websocket("/ws/orders")
    async def ws_orders(
        websocket: WebSocket, claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]
    ) -> None:
        await websocket.accept()
        await websocket.send_text(claims.sub)
        await websocket.close()

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier(token_use=None)


@pytest.fixture
def auth(verifier: CognitoVerifier) -> CognitoAuth:
    return CognitoAuth(verifier, realm=REALM)


@pytest.fixture
def app(auth: CognitoAuth) -> FastAPI:
    return build_app(auth)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def remote_verifier(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> CognitoVerifier:
    """A verifier that fetches the issuer's JWKS over HTTP (served by respx in the tests that use it)."""
    monkeypatch.delenv("COGNITO_JWKS_FILE", raising=False)
    return issuer.verifier(jwks_uri=issuer.jwks_uri)


# -- authentication: 200 and 401 ------------------------------------------------------------------------------------


async def test_valid_token_gives_the_route_its_claims(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/me", headers=bearer(issuer.access_token(username="alice")))

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/me", headers={"Authorization": f"bEaReR {issuer.access_token()}"})

    assert response.status_code == 200


async def test_missing_token_is_401_with_a_bare_realm_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}


async def test_other_authorization_scheme_counts_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_expired_token_is_401_with_invalid_token_challenge_and_description(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/me", headers=bearer(issuer.access_token(expires_in=-60)))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", error_description="token has expired"'
    )


async def test_refusal_body_has_detail_and_code_at_top_level(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/me", headers=bearer(issuer.access_token(expires_in=-60)))

    assert response.json() == {"detail": "token has expired", "code": "token_expired"}


async def test_token_with_bad_signature_is_401_invalid_signature(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/me", headers=bearer(issuer.access_token(bad_signature=True)))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"


async def test_empty_bearer_token_is_401_invalid_token_not_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Bearer "})

    assert response.status_code == 401
    assert response.json()["code"] == "malformed_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_public_route_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/public")

    assert response.status_code == 200


async def test_app_can_format_refusals_with_its_own_handler(verifier: CognitoVerifier) -> None:
    auth = CognitoAuth(verifier)
    app = build_app(auth)

    async def problem_json(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CognitoHTTPException)
        return JSONResponse({"title": exc.code}, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(CognitoHTTPException, problem_json)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/me")

    assert response.status_code == 401
    assert response.json() == {"title": "not_authenticated"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


# -- authorization: 403 ---------------------------------------------------------------------------------------------


async def test_token_with_the_security_scope_is_let_through(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["orders/read"])))

    assert response.status_code == 200


async def test_missing_scope_is_403_insufficient_scope_naming_the_scope(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/orders", headers=bearer(issuer.access_token(scopes=["profile"])))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="orders/read"'
    )
    assert response.json()["code"] == "missing_scope"


async def test_security_scopes_require_every_listed_scope(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/orders/edit", headers=bearer(issuer.access_token(scopes=["orders/read"])))

    assert response.status_code == 403
    assert 'scope="orders/read orders/write"' in response.headers["WWW-Authenticate"]


async def test_missing_group_is_403_insufficient_scope_with_code_missing_group(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/admin", headers=bearer(issuer.access_token(groups=["staff"])))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}", error="insufficient_scope"'
    assert response.json()["code"] == "missing_group"


async def test_member_of_the_required_group_is_let_through(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/admin", headers=bearer(issuer.access_token(groups=["staff", "admin"])))

    assert response.status_code == 200


async def test_requirement_dependency_gives_the_route_the_claims(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/admin/whoami", headers=bearer(issuer.access_token(username="root", groups=["admin"])))

    assert response.json() == {"username": "root"}


async def test_requirement_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_router_requirement_guards_every_route_of_the_router(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    headers = bearer(issuer.access_token(groups=["admin"]))

    statuses = [(await client.get(path, headers=headers)).status_code for path in ("/ops/status", "/ops/logs")]

    assert statuses == [403, 403]


async def test_router_requirement_lets_members_through(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/ops/logs", headers=bearer(issuer.access_token(groups=["ops"])))

    assert response.status_code == 200


async def test_async_predicate_that_refuses_is_403_denied(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/gold", headers=bearer(issuer.access_token(claims={"tier": "silver"})))

    assert response.status_code == 403
    assert response.json()["code"] == "denied"


async def test_async_predicate_that_approves_lets_the_request_through(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/gold", headers=bearer(issuer.access_token(claims={"tier": "gold"})))

    assert response.status_code == 200


async def test_wrong_preferred_role_is_403_role_not_allowed(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    token = issuer.id_token(roles=[READER_ROLE], preferred_role=READER_ROLE)

    response = await client.get("/roles/admin", headers=bearer(token))

    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"


async def test_allowed_preferred_role_is_let_through(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    token = issuer.id_token(roles=[ADMIN_ROLE], preferred_role=ADMIN_ROLE)

    response = await client.get("/roles/admin", headers=bearer(token))

    assert response.status_code == 200


def test_requirement_with_bad_values_fails_at_declaration(auth: CognitoAuth) -> None:
    with pytest.raises(ConfigurationError):
        auth.require(groups=[""])


# -- optional authentication ----------------------------------------------------------------------------------------


async def test_optional_auth_without_token_gives_none(client: httpx.AsyncClient) -> None:
    response = await client.get("/greeting")

    assert response.json() == {"hello": "stranger"}


async def test_optional_auth_with_valid_token_gives_claims(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/greeting", headers=bearer(issuer.access_token(username="bob")))

    assert response.json() == {"hello": "bob"}


async def test_optional_auth_with_refused_token_is_still_401(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/greeting", headers=bearer(issuer.access_token(expires_in=-1)))

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_auth_constructed_with_auto_error_false_is_its_own_optional_variant(verifier: CognitoVerifier) -> None:
    optional = CognitoAuth(verifier, auto_error=False)

    assert optional.optional is optional


async def test_assigning_a_verifier_applies_to_the_optional_and_requirement_variants(
    auth: CognitoAuth, client: httpx.AsyncClient, session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock
) -> None:
    access_key, id_key = session_keys
    other_pool = LocalIssuer(user_pool_id="eu-west-1_OtherPool", clock=clock, access_key=access_key, id_key=id_key)
    auth.verifier = other_pool.verifier(token_use=None)

    greeting = await client.get("/greeting", headers=bearer(other_pool.access_token()))
    admin = await client.get("/admin", headers=bearer(other_pool.access_token(groups=["admin"])))

    assert (greeting.status_code, admin.status_code) == (200, 200)


async def test_overriding_the_dependency_feeds_fixed_claims_to_requirements(app: FastAPI, auth: CognitoAuth) -> None:
    app.dependency_overrides[auth] = lambda: Claims({"sub": "u-1", "username": "test", "cognito:groups": ["ops"]})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        allowed = await client.get("/ops/status")
        denied = await client.get("/admin")

    assert (allowed.status_code, denied.status_code) == (200, 403)


# -- 503: keys unavailable ------------------------------------------------------------------------------------------


async def test_unavailable_keys_are_503_with_retry_after(remote_verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    app = build_app(CognitoAuth(remote_verifier))
    with respx.mock() as router:
        router.get(issuer.jwks_uri).respond(500)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            response = await client.get("/me", headers=bearer(issuer.access_token()))

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["code"] == "keys_unavailable"


# -- lifespan -------------------------------------------------------------------------------------------------------


def test_lifespan_fetches_the_keys_before_the_first_request(
    remote_verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    auth = CognitoAuth(remote_verifier)
    app = FastAPI(lifespan=auth.lifespan)
    with respx.mock() as router:
        route = mock_jwks(issuer, router)
        with TestClient(app):
            fetched_at_start = route.call_count

    assert fetched_at_start == 1


def test_requests_after_warm_up_fetch_no_keys(remote_verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    auth = CognitoAuth(remote_verifier)
    app = build_app(auth, lifespan=auth.lifespan)
    with respx.mock() as router:
        route = mock_jwks(issuer, router)
        with TestClient(app) as client:
            response = client.get("/me", headers=bearer(issuer.access_token()))

    assert response.status_code == 200
    assert route.call_count == 1


def test_lifespan_closes_the_verifier_at_shutdown(verifier: CognitoVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    async def record_close() -> None:
        closed.append(True)

    monkeypatch.setattr(verifier, "aclose", record_close)
    with TestClient(FastAPI(lifespan=CognitoAuth(verifier).lifespan)):
        assert closed == []

    assert closed == [True]


def test_app_starts_when_keys_cannot_be_fetched_and_logs_a_warning(
    remote_verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI(lifespan=CognitoAuth(remote_verifier).lifespan)
    with respx.mock() as router, caplog.at_level(logging.WARNING, logger="cognito_guard.fastapi"):
        router.get(issuer.jwks_uri).respond(500)
        with TestClient(app):
            pass

    assert "could not be loaded at start-up" in caplog.text


def test_lifespan_composes_inside_an_apps_own_lifespan(remote_verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    auth = CognitoAuth(remote_verifier)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        async with auth.lifespan(app):
            yield {"database": "connected"}

    app = build_app(auth, lifespan=lifespan)
    with respx.mock() as router:
        route = mock_jwks(issuer, router)
        with TestClient(app) as client:
            fetched_at_start = route.call_count
            response = client.get("/me", headers=bearer(issuer.access_token()))

    assert (fetched_at_start, response.status_code) == (1, 200)


# -- configuration --------------------------------------------------------------------------------------------------


def test_from_env_builds_a_working_dependency(
    session_keys: tuple[SigningKeyPair, SigningKeyPair], tmp_path: Path
) -> None:
    access_key, id_key = session_keys
    pool = LocalIssuer(user_pool_id="eu-west-1_FromEnv", access_key=access_key, id_key=id_key)  # real clock
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(pool.jwks))
    environ = {
        "COGNITO_USER_POOL_ID": pool.user_pool_id,
        "COGNITO_CLIENT_ID": pool.client_id,
        "COGNITO_JWKS_FILE": str(jwks_file),
    }
    auth = CognitoAuth.from_env(environ)

    response = TestClient(build_app(auth)).get("/me", headers=bearer(pool.access_token(username="env")))

    assert response.json()["username"] == "env"


def test_from_env_names_the_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoAuth.from_env({"COGNITO_CLIENT_ID": "client-a"})


def test_auth_refuses_something_that_is_not_a_verifier() -> None:
    with pytest.raises(ConfigurationError):
        CognitoAuth("us-east-1_Abc")  # type: ignore[arg-type]


def test_realm_must_be_a_non_empty_string(verifier: CognitoVerifier) -> None:
    with pytest.raises(ConfigurationError, match="realm"):
        CognitoAuth(verifier, realm="")


@pytest.mark.parametrize(
    "domain",
    ["http://auth.example.com", "", "https://", "https://auth.example.com?x=1", "https://auth.example.com/login"],
)
def test_hosted_ui_domain_must_be_an_https_host(domain: str) -> None:
    with pytest.raises(ConfigurationError):
        HostedUI(domain=domain, client_id="swagger")


def test_hosted_ui_accepts_a_bare_cognito_domain() -> None:
    hosted_ui = HostedUI(domain="myapp.auth.eu-west-1.amazoncognito.com/", client_id="swagger")

    assert hosted_ui.authorize_url == "https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
    assert hosted_ui.token_url == "https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/token"


def test_hosted_ui_takes_a_domain_prefix_with_the_pool_id_for_its_region() -> None:
    hosted_ui = HostedUI(domain="myapp", user_pool_id="eu-west-1_Abc123", client_id="swagger")

    assert hosted_ui.authorize_url == "https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/authorize"


def test_hosted_ui_domain_prefix_without_a_pool_id_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="user_pool_id"):
        HostedUI(domain="myapp", client_id="swagger")


def test_hosted_ui_allows_http_for_a_localhost_stand_in() -> None:
    assert HostedUI(domain="http://127.0.0.1:9229", client_id="swagger").base_url == "http://127.0.0.1:9229"


# -- OpenAPI --------------------------------------------------------------------------------------------------------


def security_parts(app: FastAPI) -> dict[str, Any]:
    document = app.openapi()
    return {
        "schemes": document["components"]["securitySchemes"],
        "operations": {
            f"{method.upper()} {path}": operation.get("security")
            for path, item in document["paths"].items()
            for method, operation in item.items()
        },
    }


def test_openapi_declares_http_bearer_and_each_routes_scopes(app: FastAPI) -> None:
    assert security_parts(app) == {
        "schemes": {
            "Cognito": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An Amazon Cognito access or ID token.",
            }
        },
        "operations": {
            "GET /public": None,
            "GET /me": [{"Cognito": []}],
            "GET /orders": [{"Cognito": ["orders/read"]}],
            "GET /orders/edit": [{"Cognito": ["orders/read", "orders/write"]}],
            "GET /admin": [{"Cognito": []}],
            "GET /admin/whoami": [{"Cognito": []}],
            "GET /gold": [{"Cognito": []}],
            "GET /roles/admin": [{"Cognito": []}],
            "GET /greeting": [{"Cognito": []}],
            "GET /ops/status": [{"Cognito": []}],
            "GET /ops/logs": [{"Cognito": []}],
        },
    }


def test_openapi_declares_the_scopes_of_a_requirement(verifier: CognitoVerifier) -> None:
    auth = CognitoAuth(verifier)
    app = FastAPI()

    @app.get("/reports", dependencies=[Depends(auth.require(scopes=["reports/read", "reports/export"]))])
    async def reports() -> list[str]:
        return []

    assert security_parts(app)["operations"] == {"GET /reports": [{"Cognito": ["reports/export", "reports/read"]}]}


def test_openapi_declares_the_hosted_ui_authorization_code_flow(verifier: CognitoVerifier) -> None:
    hosted_ui = HostedUI(
        domain="auth.example.com",
        client_id="swagger-client",
        scopes={"openid": "Sign in", "orders/read": "Read orders"},
    )
    auth = CognitoAuth(verifier, hosted_ui=hosted_ui, scheme_name="CognitoHostedUI")
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth)

    @app.get("/orders")
    async def orders(claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]) -> list[str]:
        return []

    assert security_parts(app) == {
        "schemes": {
            "CognitoHostedUI": {
                "type": "oauth2",
                "description": "Sign in with the Amazon Cognito hosted UI (authorization code with PKCE).",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://auth.example.com/oauth2/authorize",
                        "tokenUrl": "https://auth.example.com/oauth2/token",
                        "refreshUrl": "https://auth.example.com/oauth2/token",
                        "scopes": {"openid": "Sign in", "orders/read": "Read orders"},
                    }
                },
            }
        },
        "operations": {"GET /orders": [{"CognitoHostedUI": ["orders/read"]}]},
    }


def test_swagger_ui_init_oauth_switches_pkce_on_for_the_hosted_ui_client(verifier: CognitoVerifier) -> None:
    auth = CognitoAuth(verifier, hosted_ui=HostedUI(domain="auth.example.com", client_id="swagger-client"))

    assert auth.swagger_ui_init_oauth == {
        "clientId": "swagger-client",
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": "openid",
    }


def test_swagger_ui_page_carries_the_pkce_settings(verifier: CognitoVerifier) -> None:
    auth = CognitoAuth(verifier, hosted_ui=HostedUI(domain="auth.example.com", client_id="swagger-client"))
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth)

    page = TestClient(app).get("/docs").text

    assert '"usePkceWithAuthorizationCodeGrant": true' in page
    assert '"clientId": "swagger-client"' in page


def test_swagger_ui_init_oauth_is_none_without_a_hosted_ui(auth: CognitoAuth) -> None:
    assert auth.swagger_ui_init_oauth is None


# -- WebSockets -----------------------------------------------------------------------------------------------------


def test_websocket_with_a_valid_header_token_is_accepted(app: FastAPI, issuer: LocalIssuer) -> None:
    with TestClient(app).websocket_connect("/ws", headers=bearer(issuer.access_token(username="carol"))) as websocket:
        assert websocket.receive_text() == "carol"


def test_websocket_without_a_token_is_closed_with_1008_before_accept(app: FastAPI) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, TestClient(app).websocket_connect("/ws"):
        pass  # pragma: no cover - the handshake is refused

    assert (closed.value.code, closed.value.reason) == (1008, "not_authenticated")


def test_websocket_with_a_refused_token_is_closed_with_1008(app: FastAPI, issuer: LocalIssuer) -> None:
    headers = bearer(issuer.access_token(expires_in=-5))
    with pytest.raises(WebSocketDisconnect) as closed, TestClient(app).websocket_connect("/ws", headers=headers):
        pass  # pragma: no cover

    assert (closed.value.code, closed.value.reason) == (1008, "token_expired")


def test_websocket_without_the_required_scope_is_closed_with_1008(app: FastAPI, issuer: LocalIssuer) -> None:
    headers = bearer(issuer.access_token(scopes=["profile"]))
    with pytest.raises(WebSocketDisconnect) as closed, TestClient(app).websocket_connect("/ws/orders", headers=headers):
        pass  # pragma: no cover

    assert (closed.value.code, closed.value.reason) == (1008, "missing_scope")


def test_websocket_query_param_token_is_accepted_when_the_app_opts_in(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = build_app(CognitoAuth(verifier, websocket_query_param="token"))

    with TestClient(app).websocket_connect(f"/ws?token={issuer.access_token(username='dave')}") as websocket:
        assert websocket.receive_text() == "dave"


def test_websocket_query_param_is_ignored_unless_the_app_opts_in(app: FastAPI, issuer: LocalIssuer) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        TestClient(app).websocket_connect(f"/ws?token={issuer.access_token()}"),
    ):
        pass  # pragma: no cover

    assert closed.value.code == 1008


async def test_http_routes_never_read_the_websocket_query_param(verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    app = build_app(CognitoAuth(verifier, websocket_query_param="token"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/me", params={"token": issuer.access_token()})

    assert response.status_code == 401


def test_websocket_subprotocol_token_is_accepted_and_only_the_marker_is_echoed(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = build_app(CognitoAuth(verifier, websocket_subprotocol="bearer"))
    offered = ["bearer", issuer.access_token(username="erin")]

    with TestClient(app).websocket_connect("/ws", subprotocols=offered) as websocket:
        assert websocket.accepted_subprotocol == "bearer"
        assert websocket.receive_text() == "erin"


def test_websocket_subprotocol_marker_without_a_token_is_refused_as_malformed(verifier: CognitoVerifier) -> None:
    app = build_app(CognitoAuth(verifier, websocket_subprotocol="bearer"))

    with (
        pytest.raises(WebSocketDisconnect) as closed,
        TestClient(app).websocket_connect("/ws", subprotocols=["bearer"]),
    ):
        pass  # pragma: no cover

    assert (closed.value.code, closed.value.reason) == (1008, "malformed_token")


# -- robustness -----------------------------------------------------------------------------------------------------


@st.composite
def mutated_tokens(draw: st.DrawFn, token: str) -> bytes:
    """A valid token with one character replaced."""
    position = draw(st.integers(0, len(token) - 1))
    replacement = draw(st.sampled_from(B64URL + ".=+/ \t"))
    return f"Bearer {token[:position]}{replacement}{token[position + 1 :]}".encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_authorization_header_value_ever_yields_a_500(
    app: FastAPI, issuer: LocalIssuer, data: st.DataObject
) -> None:
    token = issuer.access_token()
    value = data.draw(
        st.one_of(
            st.binary(max_size=300),
            st.text(max_size=300).map(lambda text: b"Bearer " + text.encode("utf-8")),
            st.from_regex(rb"\A(?i:bearer) [A-Za-z0-9_=.\-]{0,400}\Z"),
            st.just(token.split(".")).map(lambda parts: b"Bearer " + ".".join(parts[:2]).encode()),
            mutated_tokens(token),
        )
    )

    response = TestClient(app, raise_server_exceptions=False).get("/orders", headers={"Authorization": value})

    assert response.status_code in (401, 403), response.text
    assert set(response.json()) == {"detail", "code"}


# -- malformed bearer headers and non-ASCII challenge text ---------------------------------------------------------


async def test_optional_auth_accepts_a_tab_between_bearer_and_the_token(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="bob")

    response = await client.get("/greeting", headers={"Authorization": f"Bearer\t{token}"})

    assert response.json() == {"hello": "bob"}


@pytest.mark.parametrize("separator", [":", ",", ""])
async def test_optional_auth_with_a_bearer_scheme_glued_to_its_token_is_401(
    client: httpx.AsyncClient, issuer: LocalIssuer, separator: str
) -> None:
    token = issuer.access_token(username="bob")

    response = await client.get("/greeting", headers={"Authorization": f"Bearer{separator}{token}"})

    assert response.status_code == 401
    assert response.json()["code"] == "malformed_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_refusal_naming_a_non_latin_1_claim_is_401_with_an_ascii_challenge(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    nested: object = "deep"
    for _ in range(40):  # deeper than the 32 levels a claim may nest
        nested = [nested]

    response = await client.get("/me", headers=bearer(issuer.access_token(claims={"ü名": nested})))

    assert response.status_code == 401
    assert response.json() == {"detail": "claim 'ü名' is nested too deeply", "code": "invalid_claim"}
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", error_description="claim \'??\' is nested too deeply"'
    )


async def test_a_non_latin_1_realm_is_answered_401_with_an_ascii_challenge(verifier: CognitoVerifier) -> None:
    app = build_app(CognitoAuth(verifier, realm="注文 api"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="?? api"'
