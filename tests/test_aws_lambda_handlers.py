"""cognito_guard.aws_lambda.protected: proxy-integration handlers (REST and HTTP API proxy events, function URLs).

The handler runs only for a valid bearer token meeting the requirement, and gets the claims; refusals are the JSON
401/403/503 answers every cognito_guard adapter gives, with RFC 6750 ``WWW-Authenticate`` headers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lambda_events import PROXY_EVENTS, add_header, load_event

from cognito_guard import Claims, CognitoVerifier, ConfigurationError, RevocationList, errors, require
from cognito_guard.aws_lambda import protected, proxy_response, request_authorization, warm_up
from cognito_guard.bearer import bearer_token, error_answer, unauthenticated_answer
from cognito_guard.testing import LocalIssuer

Handler = Any


@pytest.fixture
def calls() -> list[tuple[object, object, Claims]]:
    return []


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


@pytest.fixture
def handler(verifier: CognitoVerifier, calls: list[tuple[object, object, Claims]]) -> Handler:
    @protected(verifier, require(scopes="orders/read"), realm="orders")
    def handle(event: dict[str, Any], context: object, claims: Claims) -> dict[str, Any]:
        calls.append((event, context, claims))
        return {"statusCode": 200, "body": json.dumps({"hello": claims.username})}

    return handle


@pytest.fixture
def token(issuer: LocalIssuer) -> str:
    return issuer.access_token(username="alice", scopes=["orders/read"])


def ok(event: Any, context: Any, claims: Claims) -> dict[str, Any]:
    return {"statusCode": 200}


def body(answer: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(answer["body"])
    return parsed


@pytest.mark.parametrize("name", PROXY_EVENTS)
def test_a_valid_token_reaches_the_handler_with_its_claims(
    handler: Handler, calls: list[tuple[object, object, Claims]], token: str, name: str
) -> None:
    event = load_event(name, token=token)
    context = object()

    answer = handler(event, context)

    assert answer == {"statusCode": 200, "body": '{"hello": "alice"}'}
    assert calls[0][0] is event
    assert calls[0][1] is context
    assert calls[0][2].username == "alice"


@pytest.mark.parametrize("name", PROXY_EVENTS)
def test_no_token_is_a_401_with_a_bearer_challenge(
    handler: Handler, calls: list[tuple[object, object, Claims]], name: str
) -> None:
    answer = handler(load_event(name, authorization=None), None)

    assert answer["statusCode"] == 401
    assert answer["headers"] == {"WWW-Authenticate": 'Bearer realm="orders"', "Content-Type": "application/json"}
    assert body(answer) == {"detail": "Not authenticated", "code": "not_authenticated"}
    assert not calls


def test_an_expired_token_is_a_401_invalid_token(handler: Handler, issuer: LocalIssuer) -> None:
    token = issuer.access_token(scopes=["orders/read"], expires_in=-10)

    answer = handler(load_event("http_api_proxy", token=token), None)

    assert answer["statusCode"] == 401
    assert answer["headers"]["WWW-Authenticate"].startswith('Bearer realm="orders", error="invalid_token"')
    assert body(answer)["code"] == "token_expired"


def test_a_revoked_token_is_a_401(issuer: LocalIssuer, token: str) -> None:
    revocations = RevocationList(clock=issuer.clock)
    verifier = issuer.verifier(revocations=revocations)
    revocations.revoke_claims(verifier.verify_sync(token))
    handle = protected(verifier)(ok)

    answer = handle(load_event("function_url", token=token), None)

    assert answer["statusCode"] == 401
    assert body(answer)["code"] == "token_revoked"


def test_a_missing_scope_is_a_403_naming_the_scope(
    handler: Handler, issuer: LocalIssuer, calls: list[tuple[object, object, Claims]]
) -> None:
    answer = handler(load_event("rest_proxy", token=issuer.access_token(scopes=["profile"])), None)

    assert answer["statusCode"] == 403
    assert answer["headers"]["WWW-Authenticate"] == (
        'Bearer realm="orders", error="insufficient_scope", scope="orders/read"'
    )
    assert body(answer)["code"] == "missing_scope"
    assert not calls


def test_another_scheme_is_answered_as_no_token(handler: Handler) -> None:
    answer = handler(load_event("http_api_proxy", authorization="Basic YWxpY2U6c2VjcmV0"), None)

    assert answer["statusCode"] == 401
    assert body(answer)["code"] == "not_authenticated"


def test_a_malformed_bearer_header_is_a_401_never_anonymous(handler: Handler) -> None:
    answer = handler(load_event("http_api_proxy", authorization="Bearer"), None)

    assert answer["statusCode"] == 401
    assert body(answer)["code"] == "malformed_token"


@pytest.mark.parametrize("name", PROXY_EVENTS)
def test_two_authorization_headers_are_a_401(handler: Handler, token: str, name: str) -> None:
    event = load_event(name, token=token)
    add_header(event, "Authorization", f"Bearer {token}")

    answer = handler(event, None)

    assert answer["statusCode"] == 401


def test_rest_header_names_are_read_in_any_case(handler: Handler, token: str) -> None:
    event = load_event("rest_proxy", authorization=None)
    event["headers"]["authorization"] = f"Bearer {token}"
    event["multiValueHeaders"]["authorization"] = [f"Bearer {token}"]

    assert handler(event, None)["statusCode"] == 200


def test_an_event_that_is_not_a_mapping_is_a_401(handler: Handler) -> None:
    assert handler(None, None)["statusCode"] == 401


@pytest.fixture
def keys_down(issuer: LocalIssuer) -> Iterator[CognitoVerifier]:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    yield issuer.verifier(jwks_uri="https://keys.example.com/jwks.json", http_client=client)
    client.close()


def test_without_keys_the_answer_is_a_503_with_retry_after(keys_down: CognitoVerifier, token: str) -> None:
    handle = protected(keys_down)(ok)

    answer = handle(load_event("http_api_proxy", token=token), None)

    assert answer["statusCode"] == 503
    assert int(answer["headers"]["Retry-After"]) >= 1
    assert body(answer)["code"] == "keys_unavailable"


def test_refusals_never_carry_or_log_the_token(
    handler: Handler, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = [
        issuer.access_token(scopes=["orders/read"], expires_in=-10),
        issuer.access_token(scopes=["orders/read"], bad_signature=True),
        issuer.access_token(scopes=["profile"]),
    ]
    with caplog.at_level(logging.DEBUG, logger="cognito_guard"):
        answers = [handler(load_event("rest_proxy", token=token), None) for token in tokens]

    text = caplog.text + json.dumps(answers)
    assert not [token for token in tokens if token.rsplit(".", 1)[1] in text]
    assert [answer["statusCode"] for answer in answers] == [401, 401, 403]


def test_the_guarded_handler_keeps_the_handlers_name(handler: Handler) -> None:
    assert handler.__name__ == "handle"


def test_an_async_predicate_is_refused_at_decoration(verifier: CognitoVerifier) -> None:
    async def predicate(claims: Claims) -> bool:
        return True

    with pytest.raises(ConfigurationError, match="synchronously"):
        protected(verifier, require(predicate=predicate))


@pytest.mark.parametrize(
    "options",
    [{"verifier": None}, {"requirement": "orders/read"}, {"realm": ""}],
    ids=["verifier", "requirement", "realm"],
)
def test_bad_settings_are_configuration_errors(verifier: CognitoVerifier, options: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"verifier": verifier, **options}

    with pytest.raises(ConfigurationError):
        protected(**settings)


# -- cold start -----------------------------------------------------------------------------------------------------


def test_keys_are_fetched_once_per_container_at_warm_up(issuer: LocalIssuer, token: str) -> None:
    fetches: list[httpx.Request] = []

    def key_server(request: httpx.Request) -> httpx.Response:
        fetches.append(request)
        return httpx.Response(200, json=issuer.jwks)

    with httpx.Client(transport=httpx.MockTransport(key_server)) as client:
        verifier = issuer.verifier(jwks_uri="https://keys.example.com/jwks.json", http_client=client)
        warm_up(verifier)  # module level, during the cold start
        assert len(fetches) == 1
        handle = protected(verifier)(ok)

        answers = [handle(load_event("function_url", token=token), None) for _ in range(5)]

    assert [answer["statusCode"] for answer in answers] == [200] * 5
    assert len(fetches) == 1


def test_warm_up_without_keys_logs_a_warning_and_lets_the_container_start(
    keys_down: CognitoVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        warm_up(keys_down)

    assert "keys_unavailable" in caplog.text


def test_warm_up_with_require_keys_fails_the_cold_start(keys_down: CognitoVerifier) -> None:
    with pytest.raises(errors.KeysUnavailableError):
        warm_up(keys_down, require_keys=True)


def test_warm_up_with_a_keys_file_needs_no_network(tmp_path: Path, issuer: LocalIssuer, token: str) -> None:
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(issuer.jwks), encoding="utf-8")
    verifier = issuer.verifier(jwks=keys)

    warm_up(verifier, require_keys=True)

    assert protected(verifier)(ok)(load_event("http_api_proxy", token=token), None)["statusCode"] == 200


# -- building blocks (docs/lambda.md, "one function, several routes") ------------------------------------------------


def several_routes(verifier: CognitoVerifier) -> Any:
    needs_by_method = {"GET": require(scopes="orders/read"), "POST": require(scopes="orders/write")}

    def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
        needs = needs_by_method.get(event["requestContext"]["http"]["method"])
        if needs is None:
            return {"statusCode": 405}
        try:
            token = bearer_token(request_authorization(event))
            if token is None:
                return proxy_response(unauthenticated_answer("orders"))
            claims = verifier.verify_sync(token)
            needs.check(claims)
        except errors.CognitoGuardError as error:
            return proxy_response(error_answer(error, "orders"))
        return {"statusCode": 200, "body": f"hello {claims.username}"}

    return handle


def test_building_blocks_let_each_route_ask_for_its_own_scope(verifier: CognitoVerifier, token: str) -> None:
    handle = several_routes(verifier)
    read = load_event("http_api_proxy", token=token)
    write = load_event("http_api_proxy", token=token)
    write["requestContext"]["http"]["method"] = "POST"

    assert handle(read, None) == {"statusCode": 200, "body": "hello alice"}
    assert handle(write, None)["statusCode"] == 403
    assert handle(load_event("http_api_proxy", authorization=None), None) == proxy_response(
        unauthenticated_answer("orders")
    )


def test_request_authorization_refuses_two_headers(token: str) -> None:
    event = load_event("rest_proxy", token=token)
    add_header(event, "authorization", f"Bearer {token}")

    with pytest.raises(errors.MalformedTokenError):
        request_authorization(event)
