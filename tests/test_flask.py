"""Specification of the Flask adapter (issue 3, sections 2 and 5): CognitoGuard, its decorators and current_claims.

Keys are preloaded (``issuer.verifier``) or come from a JWKS file; the 503 case uses an ``httpx.MockTransport``. The
only sockets are the werkzeug server on 127.0.0.1 of the concurrency test.
"""

from __future__ import annotations

import json
import string
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from conftest import Clock
from flask import Flask
from flask.views import MethodView
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import serve_wsgi
from werkzeug.exceptions import Unauthorized
from werkzeug.test import TestResponse

from cognito_guard import Claims, CognitoGuardError, CognitoVerifier, ConfigurationError, Requirement, require
from cognito_guard.bearer import error_answer
from cognito_guard.flask import CognitoGuard, current_claims, get_current_claims
from cognito_guard.testing import LocalIssuer, SigningKeyPair

POOL_ID = "eu-west-1_TestPool1"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/admin"
READER_ROLE = "arn:aws:iam::123456789012:role/reader"
B64URL = string.ascii_letters + string.digits + "-_"


# -- fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_cognito_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test sets, never from the environment the tests run in."""
    for name in (
        "COGNITO_USER_POOL_ID",
        "COGNITO_CLIENT_ID",
        "COGNITO_TOKEN_USE",
        "COGNITO_ISSUER",
        "COGNITO_JWKS_URI",
        "COGNITO_JWKS_FILE",
        "COGNITO_LEEWAY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def live_issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """The test pool on the real clock: for verifiers built from settings, which use the real clock too."""
    access_key, id_key = session_keys
    return LocalIssuer(user_pool_id=POOL_ID, client_id="client-a", access_key=access_key, id_key=id_key)


@pytest.fixture
def jwks_file(tmp_path: Path, live_issuer: LocalIssuer) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(live_issuer.jwks), encoding="utf-8")
    return path


def build_app(guard: CognitoGuard, config: dict[str, object] | None = None) -> Flask:
    """An app with one route per way of guarding a view, each answering with what it saw; then ``init_app``."""
    app = Flask(__name__)
    app.testing = True
    app.config.update(config or {})

    def seen() -> dict[str, Any]:
        claims = get_current_claims()
        return {"username": None if claims is None else claims.username}

    @app.get("/bare")
    @guard.required
    def bare() -> dict[str, Any]:
        return seen()

    @app.get("/called")
    @guard.required()
    def called() -> dict[str, Any]:
        return seen()

    @app.get("/orders")
    @guard.required(scopes="orders/read")
    def orders() -> dict[str, Any]:
        return seen()

    @app.get("/either-scope")
    @guard.required(scopes=["orders/read", "orders/write"], scopes_match="any")
    def either_scope() -> dict[str, Any]:
        return seen()

    @app.get("/admin")
    @guard.required(groups="admin")
    def admin() -> dict[str, Any]:
        return seen()

    @app.get("/both-groups")
    @guard.required(groups=["admin", "ops"], groups_match="all")
    def both_groups() -> dict[str, Any]:
        return seen()

    @app.get("/role")
    @guard.required(roles=ADMIN_ROLE)
    def role() -> dict[str, Any]:
        return seen()

    @app.get("/preferred-role")
    @guard.required(preferred_role=ADMIN_ROLE)
    def preferred_role() -> dict[str, Any]:
        return seen()

    @app.get("/gold")
    @guard.required(predicate=lambda claims: claims.custom.get("tier") == "gold")
    def gold() -> dict[str, Any]:
        return seen()

    @app.get("/maybe")
    @guard.optional
    def maybe() -> dict[str, Any]:
        return {**seen(), "truthy": bool(current_claims)}

    @app.get("/maybe-called")
    @guard.optional()
    def maybe_called() -> dict[str, Any]:
        return seen()

    @app.get("/proxy")
    @guard.required
    def proxy() -> dict[str, Any]:
        return {"sub": current_claims.sub, "scopes": sorted(current_claims.scopes)}

    @app.get("/unguarded")
    def unguarded() -> dict[str, Any]:
        return {"sub": current_claims.sub}

    @app.get("/peek")
    def peek() -> dict[str, Any]:
        return {"has_claims": get_current_claims() is not None}

    guard.init_app(app)
    return app


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    """Access and ID tokens of the test pool (roles live in ID tokens)."""
    return issuer.verifier(token_use=None)


@pytest.fixture
def app(verifier: CognitoVerifier) -> Flask:
    return build_app(CognitoGuard(verifier=verifier, realm="orders-api"))


@pytest.fixture
def keyless_verifier(clock: Clock) -> Iterator[CognitoVerifier]:
    """A verifier whose JWKS endpoint always answers 500: it never has keys."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    yield CognitoVerifier(
        user_pool_id=POOL_ID, client_id="client-a", token_use="access", http_client=client, clock=clock
    )
    client.close()


def get(app: Flask, path: str, authorization: str | None = None) -> TestResponse:
    headers = {} if authorization is None else {"Authorization": authorization}
    return app.test_client().get(path, headers=headers)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def code_of(response: TestResponse) -> object:
    """The ``code`` of a JSON refusal (``None`` if the body is not one)."""
    body = response.get_json(silent=True)
    return body.get("code") if isinstance(body, dict) else None


def cognito_config(**values: object) -> dict[str, object]:
    return {f"COGNITO_{name.upper()}": value for name, value in values.items()}


# -- configuration: app.config, then the environment ----------------------------------------------------------------


def test_settings_are_read_from_app_config(live_issuer: LocalIssuer, jwks_file: Path) -> None:
    app = build_app(
        CognitoGuard(), cognito_config(user_pool_id=POOL_ID, client_id="client-a", jwks_file=str(jwks_file))
    )

    assert get(app, "/bare", bearer(live_issuer.access_token())).status_code == 200


def test_settings_absent_from_app_config_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, live_issuer: LocalIssuer, jwks_file: Path
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(jwks_file))

    app = build_app(CognitoGuard(), cognito_config(client_id="client-a"))

    assert get(app, "/bare", bearer(live_issuer.access_token())).status_code == 200


def test_app_config_takes_precedence_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, live_issuer: LocalIssuer, jwks_file: Path
) -> None:
    monkeypatch.setenv("COGNITO_CLIENT_ID", "someone-else")

    app = build_app(
        CognitoGuard(), cognito_config(user_pool_id=POOL_ID, client_id="client-a", jwks_file=str(jwks_file))
    )

    assert get(app, "/bare", bearer(live_issuer.access_token())).status_code == 200


def test_a_setting_of_none_in_app_config_falls_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, live_issuer: LocalIssuer, jwks_file: Path
) -> None:
    monkeypatch.setenv("COGNITO_CLIENT_ID", "client-a")

    app = build_app(CognitoGuard(), cognito_config(user_pool_id=POOL_ID, client_id=None, jwks_file=str(jwks_file)))

    assert get(app, "/bare", bearer(live_issuer.access_token())).status_code == 200


def test_client_id_list_in_app_config_accepts_each_client(live_issuer: LocalIssuer, jwks_file: Path) -> None:
    config = cognito_config(user_pool_id=POOL_ID, client_id=["client-b", "client-a"], jwks_file=jwks_file)
    app = build_app(CognitoGuard(), config)

    assert get(app, "/bare", bearer(live_issuer.access_token(client_id="client-a"))).status_code == 200
    assert get(app, "/bare", bearer(live_issuer.access_token(client_id="client-b"))).status_code == 200
    assert get(app, "/bare", bearer(live_issuer.access_token(client_id="client-c"))).status_code == 401


def test_numeric_leeway_in_app_config_is_seconds_of_allowed_skew(live_issuer: LocalIssuer, jwks_file: Path) -> None:
    app = build_app(
        CognitoGuard(), cognito_config(user_pool_id=POOL_ID, client_id="client-a", jwks_file=jwks_file, leeway=120)
    )
    expired_a_minute_ago = live_issuer.access_token(issued_at=time.time() - 3660, expires_in=3600)

    assert get(app, "/bare", bearer(expired_a_minute_ago)).status_code == 200


@pytest.mark.parametrize(
    ("config", "variable"),
    [
        (cognito_config(client_id="client-a"), "COGNITO_USER_POOL_ID"),
        (cognito_config(user_pool_id=POOL_ID), "COGNITO_CLIENT_ID"),
        (cognito_config(user_pool_id=POOL_ID, client_id=" , "), "COGNITO_CLIENT_ID"),
        (cognito_config(user_pool_id=POOL_ID, client_id="client-a", token_use="refresh"), "COGNITO_TOKEN_USE"),
        (cognito_config(user_pool_id=POOL_ID, client_id="client-a", leeway="soon"), "COGNITO_LEEWAY"),
        (cognito_config(user_pool_id=POOL_ID, client_id="client-a", leeway=-1), "COGNITO_LEEWAY"),
        (cognito_config(user_pool_id=POOL_ID, client_id="client-a", issuer=42), "COGNITO_ISSUER"),
    ],
    ids=["no-pool", "no-client", "blank-client", "token-use", "leeway-text", "leeway-negative", "issuer-type"],
)
def test_missing_or_invalid_setting_is_a_configuration_error_naming_the_variable(
    config: dict[str, object], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        build_app(CognitoGuard(), config)


def test_guard_given_the_app_checks_settings_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoGuard(Flask(__name__))


def test_unreadable_jwks_file_is_a_configuration_error_at_init(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    with pytest.raises(ConfigurationError, match=r"missing\.json"):
        build_app(CognitoGuard(), cognito_config(user_pool_id=POOL_ID, client_id="client-a", jwks_file=str(missing)))


def test_explicit_verifier_needs_no_cognito_settings(issuer: LocalIssuer) -> None:
    app = build_app(CognitoGuard(verifier=issuer.verifier()))

    assert get(app, "/bare", bearer(issuer.access_token())).status_code == 200


def test_one_guard_serves_several_apps_each_with_its_own_verifier(live_issuer: LocalIssuer, jwks_file: Path) -> None:
    guard = CognitoGuard()
    first = build_app(guard, cognito_config(user_pool_id=POOL_ID, client_id="client-a", jwks_file=jwks_file))
    second = build_app(guard, cognito_config(user_pool_id=POOL_ID, client_id="client-b", jwks_file=jwks_file))
    token = bearer(live_issuer.access_token(client_id="client-a"))

    assert guard.verifier_for(first) is not guard.verifier_for(second)
    assert get(first, "/bare", token).status_code == 200
    assert get(second, "/bare", token).status_code == 401


def test_verifier_for_is_the_one_verifier_shared_by_the_app(app: Flask, verifier: CognitoVerifier) -> None:
    guard: CognitoGuard = next(iter(app.extensions["cognito_guard"]))

    with app.app_context():
        assert guard.verifier_for() is verifier
    assert guard.verifier_for(app) is verifier


def test_guarded_view_of_an_app_without_init_app_fails_loudly(issuer: LocalIssuer) -> None:
    guard = CognitoGuard(verifier=issuer.verifier())
    app = Flask(__name__)
    app.testing = True

    @app.get("/")
    @guard.required
    def index() -> str:
        return "never"

    with pytest.raises(RuntimeError, match="init_app"):
        get(app, "/", bearer(issuer.access_token()))


def test_empty_realm_is_a_configuration_error(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError, match="realm"):
        CognitoGuard(verifier=issuer.verifier(), realm="")


# -- decoration time -------------------------------------------------------------------------------------------------


def test_async_predicate_is_refused_at_decoration_time(issuer: LocalIssuer) -> None:
    async def is_gold(claims: Claims) -> bool:
        return claims.custom.get("tier") == "gold"

    guard = CognitoGuard(verifier=issuer.verifier())

    with pytest.raises(ConfigurationError, match="non-async"):
        guard.required(predicate=is_gold)


def test_positional_requirement_is_refused_at_decoration_time(issuer: LocalIssuer) -> None:
    guard = CognitoGuard(verifier=issuer.verifier())

    with pytest.raises(ConfigurationError, match="keywords"):
        guard.required("orders/read")  # type: ignore[call-overload]


def test_unknown_match_mode_is_refused_at_decoration_time(issuer: LocalIssuer) -> None:
    guard = CognitoGuard(verifier=issuer.verifier())

    with pytest.raises(ConfigurationError, match="scopes_match"):
        guard.required(scopes="orders/read", scopes_match="some")  # type: ignore[call-overload]


def test_guarded_views_keep_their_names_as_endpoints(app: Flask) -> None:
    assert app.view_functions["orders"].__name__ == "orders"
    assert app.view_functions["maybe"].__name__ == "maybe"


# -- required: valid tokens and requirements ------------------------------------------------------------------------


def test_bare_decorator_lets_a_valid_token_through(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/bare", bearer(issuer.access_token(username="alice")))

    assert response.status_code == 200
    assert response.json == {"username": "alice"}


def test_called_decorator_without_arguments_lets_a_valid_token_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/called", bearer(issuer.access_token())).status_code == 200


def test_bearer_scheme_is_case_insensitive(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/bare", f"bEaReR {issuer.access_token()}").status_code == 200


def test_token_with_the_required_scope_is_let_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/orders", bearer(issuer.access_token(scopes=["orders/read"]))).status_code == 200


def test_any_scope_mode_lets_one_of_the_scopes_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/either-scope", bearer(issuer.access_token(scopes=["orders/write"]))).status_code == 200


def test_member_of_the_required_group_is_let_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/admin", bearer(issuer.access_token(groups=["staff", "admin"]))).status_code == 200


def test_all_groups_mode_lets_a_member_of_every_group_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/both-groups", bearer(issuer.access_token(groups=["admin", "ops"]))).status_code == 200


def test_all_groups_mode_refuses_a_member_of_only_one_group_with_403(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/both-groups", bearer(issuer.access_token(groups=["admin"])))

    assert response.status_code == 403
    assert code_of(response) == "missing_group"


def test_id_token_with_an_allowed_role_is_let_through(app: Flask, issuer: LocalIssuer) -> None:
    token = issuer.id_token(roles=[READER_ROLE, ADMIN_ROLE])

    assert get(app, "/role", bearer(token)).status_code == 200


def test_token_without_an_allowed_role_gets_403_role_not_allowed(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/role", bearer(issuer.id_token(roles=[READER_ROLE])))

    assert response.status_code == 403
    assert code_of(response) == "role_not_allowed"


def test_allowed_preferred_role_is_let_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/preferred-role", bearer(issuer.id_token(preferred_role=ADMIN_ROLE))).status_code == 200


def test_preferred_role_not_allowed_gets_403_role_not_allowed(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/preferred-role", bearer(issuer.id_token(preferred_role=READER_ROLE)))

    assert response.status_code == 403
    assert code_of(response) == "role_not_allowed"


def test_predicate_returning_true_lets_the_token_through(app: Flask, issuer: LocalIssuer) -> None:
    assert get(app, "/gold", bearer(issuer.id_token(custom={"tier": "gold"}))).status_code == 200


def test_predicate_returning_false_gets_403_denied(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/gold", bearer(issuer.id_token(custom={"tier": "silver"})))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api", error="insufficient_scope"'
    assert code_of(response) == "denied"


def test_async_view_runs_behind_the_guard_with_flask_async(issuer: LocalIssuer) -> None:
    pytest.importorskip("asgiref", reason="async views need flask[async]")
    app = Flask(__name__)
    guard = CognitoGuard(app, verifier=issuer.verifier())

    @app.get("/async")
    @guard.required
    async def view() -> dict[str, Any]:
        return {"username": current_claims.username}

    assert get(app, "/async", bearer(issuer.access_token(username="alice"))).json == {"username": "alice"}


def test_method_view_takes_the_decorator_in_its_decorators(issuer: LocalIssuer) -> None:
    app = Flask(__name__)
    guard = CognitoGuard(app, verifier=issuer.verifier())

    class Orders(MethodView):
        decorators: ClassVar[list[Callable[..., Any]]] = [guard.required(scopes="orders/read")]

        def get(self) -> dict[str, Any]:
            return {"username": current_claims.username}

    app.add_url_rule("/orders", view_func=Orders.as_view("orders"))

    assert get(app, "/orders").status_code == 401
    assert get(app, "/orders", bearer(issuer.access_token(scopes=["orders/read"]))).json == {"username": "alice"}


def test_cors_preflight_options_is_answered_by_flask_without_a_token(app: Flask) -> None:
    assert app.test_client().options("/orders").status_code == 200


# -- required: refusals and their headers ---------------------------------------------------------------------------


def test_request_without_token_gets_401_with_a_bare_bearer_challenge(app: Flask) -> None:
    response = get(app, "/bare")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'
    assert response.json == {"detail": "Not authenticated", "code": "not_authenticated"}


def test_other_authorization_scheme_counts_as_no_token(app: Flask) -> None:
    response = get(app, "/bare", "Basic YWxpY2U6c2VjcmV0")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'


def test_expired_token_gets_401_invalid_token_with_a_description(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/bare", bearer(issuer.access_token(expires_in=-10)))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="orders-api", error="invalid_token", error_description="'
    )
    assert code_of(response) == "token_expired"


def test_forged_signature_gets_401_invalid_signature(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/bare", bearer(issuer.access_token(bad_signature=True)))

    assert response.status_code == 401
    assert code_of(response) == "invalid_signature"


def test_empty_bearer_credentials_get_401_malformed_token(app: Flask) -> None:
    response = get(app, "/bare", "Bearer ")

    assert response.status_code == 401
    assert code_of(response) == "malformed_token"


def test_missing_scope_gets_403_insufficient_scope_naming_the_scope(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/orders", bearer(issuer.access_token(scopes=["profile"])))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="orders-api", error="insufficient_scope", scope="orders/read"'
    )
    assert code_of(response) == "missing_scope"


def test_missing_group_gets_403_insufficient_scope_without_a_scope(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/admin", bearer(issuer.access_token(groups=["staff"])))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api", error="insufficient_scope"'
    assert code_of(response) == "missing_group"


def test_unavailable_keys_get_503_with_retry_after(keyless_verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    app = build_app(CognitoGuard(verifier=keyless_verifier))

    response = get(app, "/bare", bearer(issuer.access_token()))

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers
    assert code_of(response) == "keys_unavailable"


@pytest.mark.parametrize(
    ("path", "requirement", "make_token"),
    [
        ("/bare", require(), lambda issuer: issuer.access_token(expires_in=-1)),
        ("/bare", require(), lambda issuer: "not.a.token"),
        ("/bare", require(), lambda issuer: issuer.access_token(client_id="intruder")),
        ("/orders", require(scopes="orders/read"), lambda issuer: issuer.access_token(scopes=["profile"])),
        ("/admin", require(groups="admin"), lambda issuer: issuer.access_token()),
        ("/gold", require(predicate=lambda claims: False), lambda issuer: issuer.id_token()),
    ],
    ids=["expired", "malformed", "client", "scope", "group", "predicate"],
)
def test_refusals_are_the_shared_answers_every_adapter_gives(
    app: Flask,
    issuer: LocalIssuer,
    verifier: CognitoVerifier,
    path: str,
    requirement: Requirement,
    make_token: Callable[[LocalIssuer], str],
) -> None:
    token = make_token(issuer)
    with pytest.raises(CognitoGuardError) as raised:
        requirement.check(verifier.verify_sync(token))
    expected = error_answer(raised.value, "orders-api")

    response = get(app, path, bearer(token))

    assert response.status_code == expected.status
    assert response.json == expected.body
    assert response.mimetype == "application/json"
    assert {name: response.headers.get(name) for name in expected.headers} == expected.headers


def test_refusal_never_echoes_the_token(app: Flask, issuer: LocalIssuer) -> None:
    token = issuer.access_token(bad_signature=True)

    response = get(app, "/bare", bearer(token))

    signature = token.rsplit(".", 1)[1]
    assert signature not in response.get_data(as_text=True)
    assert signature not in str(response.headers)


def test_app_error_handler_for_401_can_restyle_the_refusal(app: Flask) -> None:
    def sign_in_page(error: Unauthorized) -> tuple[str, int, dict[str, str]]:
        assert error.response is not None
        return "please sign in", 401, {"WWW-Authenticate": error.response.headers["WWW-Authenticate"]}

    app.register_error_handler(401, sign_in_page)

    response = get(app, "/bare")

    assert response.status_code == 401
    assert response.get_data(as_text=True) == "please sign in"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'


# -- optional ----------------------------------------------------------------------------------------------------------


def test_optional_view_without_token_runs_with_no_claims(app: Flask) -> None:
    response = get(app, "/maybe")

    assert response.status_code == 200
    assert response.json == {"username": None, "truthy": False}


def test_called_optional_decorator_without_token_runs_with_no_claims(app: Flask) -> None:
    assert get(app, "/maybe-called").json == {"username": None}


def test_optional_view_with_a_valid_token_gets_its_claims(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/maybe", bearer(issuer.access_token(username="bob")))

    assert response.json == {"username": "bob", "truthy": True}


def test_optional_view_with_an_invalid_token_gets_401(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/maybe", bearer(issuer.access_token(expires_in=-10)))

    assert response.status_code == 401
    assert code_of(response) == "token_expired"


def test_optional_view_with_another_scheme_runs_anonymously(app: Flask) -> None:
    assert get(app, "/maybe", "Basic YWxpY2U6c2VjcmV0").json == {"username": None, "truthy": False}


def test_optional_view_with_unavailable_keys_gets_503(keyless_verifier: CognitoVerifier, issuer: LocalIssuer) -> None:
    app = build_app(CognitoGuard(verifier=keyless_verifier))

    assert get(app, "/maybe", bearer(issuer.access_token())).status_code == 503


# -- current_claims ----------------------------------------------------------------------------------------------------


def test_current_claims_is_the_verified_claims_of_the_request(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/proxy", bearer(issuer.access_token(sub="user-42", scopes=["b", "a"])))

    assert response.json == {"sub": "user-42", "scopes": ["a", "b"]}


def test_current_claims_outside_a_guarded_view_raises_runtime_error(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="current_claims"):
        get(app, "/unguarded")


def test_get_current_claims_outside_a_request_is_none() -> None:
    assert get_current_claims() is None


def test_claims_of_one_request_are_not_seen_by_the_next(app: Flask, issuer: LocalIssuer) -> None:
    client = app.test_client()
    client.get("/maybe", headers={"Authorization": bearer(issuer.access_token(username="alice"))})

    assert client.get("/maybe").json == {"username": None, "truthy": False}


def test_claims_end_with_their_request_even_when_the_app_context_outlives_it(app: Flask, issuer: LocalIssuer) -> None:
    client = app.test_client()
    with app.app_context():  # requests inside it share its flask.g
        client.get("/maybe", headers={"Authorization": bearer(issuer.access_token())})

        assert client.get("/peek").json == {"has_claims": False}


# -- threads and hostile input ---------------------------------------------------------------------------------------


def test_concurrent_requests_under_a_threaded_server_each_see_their_own_claims(issuer: LocalIssuer) -> None:
    users = [f"user-{number}" for number in range(8)]
    all_in_flight = threading.Barrier(len(users))
    app = Flask(__name__)
    guard = CognitoGuard(app, verifier=issuer.verifier())

    @app.get("/whoami")
    @guard.required
    def whoami() -> dict[str, Any]:
        before = current_claims.username
        all_in_flight.wait(timeout=10)  # every request is inside a view at once before any answers
        return {"before": before, "after": current_claims.username}

    tokens = {user: issuer.access_token(username=user) for user in users}
    with serve_wsgi(app) as base, httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda user: client.get("/whoami", headers={"Authorization": bearer(tokens[user])}), users)
        )

    assert [answer.status_code for answer in answers] == [200] * len(users)
    assert [answer.json() for answer in answers] == [{"before": user, "after": user} for user in users]


def test_concurrent_good_and_bad_tokens_each_get_their_own_answer(issuer: LocalIssuer) -> None:
    app = Flask(__name__)
    guard = CognitoGuard(app, verifier=issuer.verifier())

    @app.get("/orders")
    @guard.required(scopes="orders/read")
    def orders() -> dict[str, Any]:
        return {"username": current_claims.username}

    cases = [(bearer(issuer.access_token(username=f"u{n}", scopes=["orders/read"])), 200) for n in range(16)] + [
        (bearer(issuer.access_token(scopes=["profile"])), 403),
        (bearer(issuer.access_token(expires_in=-5)), 401),
        (bearer(issuer.access_token(bad_signature=True)), 401),
        ("Bearer garbage", 401),
    ] * 4
    with serve_wsgi(app) as base, httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda case: client.get("/orders", headers={"Authorization": case[0]}).status_code, cases)
        )

    assert statuses == [status for _, status in cases]


_header_text = st.text(st.characters(blacklist_characters="\r\n"), max_size=80)
_segments = st.lists(st.text(B64URL + "=.+/ \t\x00é", max_size=40), max_size=5).map(".".join)
_schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Bearer\t", "Basic", "Token", "", " "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/bare", "/orders", "/maybe", "/gold"]),
    authorization=st.one_of(
        _header_text,
        st.builds(lambda scheme, body: f"{scheme} {body}", _schemes, st.one_of(_segments, _header_text)),
        st.builds(lambda scheme, body: f"{scheme}  {body}", _schemes, _segments),
    ),
)
def test_no_authorization_header_value_ever_yields_a_500(app: Flask, path: str, authorization: str) -> None:
    response = get(app, path, authorization)

    assert response.status_code in (200, 401)
    if response.status_code == 401:
        assert response.json is not None
        assert set(response.json) == {"detail", "code"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_mutation_of_a_real_token_ever_yields_a_500(app: Flask, issuer: LocalIssuer, data: st.DataObject) -> None:
    token = issuer.access_token(scopes=["orders/read"])
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.text(st.characters(blacklist_characters="\r\n"), max_size=3))
    mutated = token[:position] + replacement + token[position + 1 :]

    response = get(app, "/orders", bearer(mutated))

    assert response.status_code in (200, 401, 403)


# -- malformed bearer headers ----------------------------------------------------------------------------------------


def test_optional_view_accepts_a_tab_between_bearer_and_the_token(app: Flask, issuer: LocalIssuer) -> None:
    response = get(app, "/maybe", f"Bearer\t{issuer.access_token(username='bob')}")

    assert response.json == {"username": "bob", "truthy": True}


@pytest.mark.parametrize("separator", [":", ",", ""])
def test_optional_view_with_a_bearer_scheme_glued_to_its_token_gets_401(
    app: Flask, issuer: LocalIssuer, separator: str
) -> None:
    response = get(app, "/maybe", f"Bearer{separator}{issuer.access_token(username='bob')}")

    assert response.status_code == 401
    assert code_of(response) == "malformed_token"
