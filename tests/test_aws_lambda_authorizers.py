"""cognito_guard.aws_lambda authorizers: REST API TOKEN / REQUEST (IAM policies) and HTTP API simple responses.

API Gateway's contract: a policy (Allow / Deny: 403) or simple response is an answer it caches; an error whose message
is exactly "Unauthorized" is a 401; any other error is a 500, never cached. The events are the realistic samples in
tests/lambda_events/.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lambda_events import add_header, api_gateway_decision, load_event

from cognito_guard import Claims, ConfigurationError, RevocationList, errors, require
from cognito_guard.aws_lambda import HttpApiAuthorizer, RestApiAuthorizer, Unauthorized, authorizer_context
from cognito_guard.testing import LocalIssuer

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/prod/GET/orders/o-1001"
STAGE = "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/prod"
READ = require(scopes="orders/read")


@pytest.fixture
def token(issuer: LocalIssuer) -> str:
    return issuer.access_token(username="alice", scopes=["orders/read"], groups=["staff", "ops"])


@pytest.fixture
def authorizer(issuer: LocalIssuer) -> RestApiAuthorizer:
    return RestApiAuthorizer(issuer.verifier(), READ)


@pytest.fixture
def http_authorizer(issuer: LocalIssuer) -> HttpApiAuthorizer:
    return HttpApiAuthorizer(issuer.verifier(), READ)


@pytest.fixture
def keys_down(issuer: LocalIssuer) -> Iterator[Any]:
    """A verifier whose key server answers 503 (no keys cached): every check is a KeysUnavailableError."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    verifier = issuer.verifier(jwks_uri="https://keys.example.com/jwks.json", http_client=client)
    yield verifier
    client.close()


def refusal(call: Any, event: dict[str, Any]) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        call(event)
    return caught.value


# -- REST API TOKEN authorizer ---------------------------------------------------------------------------------------


def test_token_authorizer_allows_a_valid_token_for_the_method_asked_about(
    authorizer: RestApiAuthorizer, token: str
) -> None:
    answer = authorizer(load_event("rest_token_authorizer", token=token), None)

    assert answer["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [METHOD_ARN]}],
    }


def test_token_authorizer_names_the_token_sub_as_principal_id(
    authorizer: RestApiAuthorizer, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(sub="5b6c7d8e-0000-4000-8000-00000000a11c", scopes=["orders/read"])

    answer = authorizer(load_event("rest_token_authorizer", token=token))

    assert answer["principalId"] == "5b6c7d8e-0000-4000-8000-00000000a11c"


def test_authorizer_context_carries_the_identity_as_flat_strings(
    authorizer: RestApiAuthorizer, token: str, issuer: LocalIssuer
) -> None:
    answer = authorizer(load_event("rest_token_authorizer", token=token))

    claims = issuer.verifier().verify_sync(token)
    assert answer["context"] == {
        "sub": claims.sub,
        "token_use": "access",
        "username": "alice",
        "client_id": "client-a",
        "scope": "orders/read",
        "groups": "staff ops",
    }


def test_token_authorizer_without_a_token_raises_exactly_unauthorized(authorizer: RestApiAuthorizer) -> None:
    error = refusal(authorizer, load_event("rest_token_authorizer", authorization=None))

    assert str(error) == "Unauthorized"
    assert error.reason == "not_authenticated"


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        (lambda issuer: issuer.access_token(scopes=["orders/read"], expires_in=-10), "token_expired"),
        (lambda issuer: issuer.access_token(scopes=["orders/read"], bad_signature=True), "invalid_signature"),
        (lambda issuer: issuer.id_token(), "invalid_token_use"),
        (lambda issuer: issuer.access_token(scopes=["orders/read"], client_id="other-client"), "client_not_allowed"),
        (lambda issuer: "not.a.token", "malformed_token"),
    ],
    ids=["expired", "bad-signature", "id-token", "other-client", "garbage"],
)
def test_a_refused_token_raises_exactly_unauthorized_for_a_401(
    authorizer: RestApiAuthorizer, issuer: LocalIssuer, mint: Any, reason: str
) -> None:
    error = refusal(authorizer, load_event("rest_token_authorizer", token=mint(issuer)))

    assert str(error) == "Unauthorized"  # API Gateway answers 401 to this message only; anything else is a 500
    assert error.reason == reason
    assert isinstance(error.__cause__, errors.TokenError)


def test_a_revoked_token_raises_unauthorized(issuer: LocalIssuer, token: str) -> None:
    revocations = RevocationList(clock=issuer.clock)
    verifier = issuer.verifier(revocations=revocations)
    revocations.revoke_claims(verifier.verify_sync(token))

    error = refusal(RestApiAuthorizer(verifier), load_event("rest_token_authorizer", token=token))

    assert error.reason == "token_revoked"


@pytest.mark.parametrize("header", ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer a b"])
def test_a_header_that_is_not_one_bearer_token_raises_unauthorized(authorizer: RestApiAuthorizer, header: str) -> None:
    assert str(refusal(authorizer, load_event("rest_token_authorizer", authorization=header))) == "Unauthorized"


def test_a_bare_token_is_refused_by_default(authorizer: RestApiAuthorizer, token: str) -> None:
    assert refusal(authorizer, load_event("rest_token_authorizer", authorization=token)).reason == "not_authenticated"


def test_a_bare_token_is_accepted_with_bare_token(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), bare_token=True)

    answer = authorizer(load_event("rest_token_authorizer", authorization=token))

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_a_valid_token_without_the_required_scope_gets_a_deny_for_a_403(
    authorizer: RestApiAuthorizer, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(scopes=["profile"])

    answer = authorizer(load_event("rest_token_authorizer", token=token))

    assert answer == {
        "principalId": issuer.verifier().verify_sync(token).sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [METHOD_ARN]}],
        },
    }


def test_a_deny_from_the_verifiers_own_requirement_names_no_user(issuer: LocalIssuer) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(scopes="orders/write"))

    answer = authorizer(load_event("rest_token_authorizer", token=issuer.access_token(scopes=["orders/read"])))

    assert answer["principalId"] == "unknown"
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_a_failing_predicate_denies(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), require(predicate=lambda claims: claims.username == "bob"))

    answer = authorizer(load_event("rest_token_authorizer", token=token))

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


# -- the authorizer cache and all_routes ---------------------------------------------------------------------------


def test_all_routes_names_every_method_and_path_of_the_stage(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)

    answer = authorizer(load_event("rest_token_authorizer", token=token))

    assert answer["policyDocument"]["Statement"][0]["Resource"] == [f"{STAGE}/*/*"]


def test_with_all_routes_a_cached_allow_lets_the_caller_reach_other_routes(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)
    cached = authorizer(load_event("rest_token_authorizer", token=token))  # first request: GET /orders/o-1001

    # Within the TTL API Gateway answers the same token's next requests from this cached policy.
    assert api_gateway_decision(cached, f"{STAGE}/GET/orders/o-1001") == 200
    assert api_gateway_decision(cached, f"{STAGE}/GET/orders") == 200
    assert api_gateway_decision(cached, f"{STAGE}/POST/orders/o-1002/cancel") == 200
    assert api_gateway_decision(cached, f"{STAGE}/GET/") == 200


def test_with_all_routes_a_cached_allow_stays_inside_its_api_and_stage(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)
    cached = authorizer(load_event("rest_token_authorizer", token=token))

    assert api_gateway_decision(cached, "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/dev/GET/orders") == 403
    assert api_gateway_decision(cached, "arn:aws:execute-api:eu-west-1:123456789012:zz9zz9zz9z/prod/GET/orders") == 403


def test_without_all_routes_a_cached_allow_refuses_the_callers_other_routes(
    authorizer: RestApiAuthorizer, token: str
) -> None:
    cached = authorizer(load_event("rest_token_authorizer", token=token))

    assert api_gateway_decision(cached, f"{STAGE}/GET/orders/o-1001") == 200
    assert api_gateway_decision(cached, f"{STAGE}/GET/orders") == 403  # the failure all_routes exists for


def test_with_all_routes_a_cached_deny_refuses_every_route(issuer: LocalIssuer) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)
    cached = authorizer(load_event("rest_token_authorizer", token=issuer.access_token(scopes=["profile"])))

    assert api_gateway_decision(cached, f"{STAGE}/GET/orders") == 403
    assert api_gateway_decision(cached, f"{STAGE}/POST/orders") == 403


# -- REST API REQUEST authorizer -------------------------------------------------------------------------------------


def test_request_authorizer_reads_the_authorization_header(authorizer: RestApiAuthorizer, token: str) -> None:
    answer = authorizer(load_event("rest_request_authorizer", token=token))

    assert answer["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [METHOD_ARN],
    }


def test_request_authorizer_reads_the_header_in_any_case(authorizer: RestApiAuthorizer, token: str) -> None:
    event = load_event("rest_request_authorizer", authorization=None)
    event["headers"]["authorization"] = f"Bearer {token}"
    event["multiValueHeaders"]["authorization"] = [f"Bearer {token}"]

    assert authorizer(event)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_request_authorizer_without_the_header_raises_unauthorized(authorizer: RestApiAuthorizer) -> None:
    assert refusal(authorizer, load_event("rest_request_authorizer", authorization=None)).reason == "not_authenticated"


def test_request_authorizer_refuses_two_authorization_headers(authorizer: RestApiAuthorizer, token: str) -> None:
    event = load_event("rest_request_authorizer", token=token)
    add_header(event, "Authorization", "Bearer another.token.value")

    assert refusal(authorizer, event).reason == "malformed_token"


def test_request_authorizer_reads_the_header_it_is_given(issuer: LocalIssuer, token: str) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), header="X-Orders-Token")
    event = load_event("rest_request_authorizer", authorization=None)
    event["headers"]["X-Orders-Token"] = f"Bearer {token}"
    event["multiValueHeaders"]["X-Orders-Token"] = [f"Bearer {token}"]

    assert authorizer(event)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_rest_authorizer_answers_http_api_events_with_a_policy_for_the_route_arn(
    authorizer: RestApiAuthorizer, token: str
) -> None:
    event = load_event("http_api_authorizer", token=token)  # payload 2.0 without simple responses

    answer = authorizer(event)

    assert answer["policyDocument"]["Statement"][0]["Resource"] == [event["routeArn"]]


def test_rest_authorizer_refuses_an_event_that_is_not_an_authorizer_event(
    authorizer: RestApiAuthorizer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cognito_guard"):
        error = refusal(authorizer, load_event("rest_proxy", token=token))

    assert error.reason == "not_an_authorizer_event"
    assert "not a REST API authorizer event" in caplog.text


def test_rest_authorizer_refuses_a_method_arn_that_is_not_an_execute_api_arn(
    authorizer: RestApiAuthorizer, token: str
) -> None:
    event = load_event("rest_token_authorizer", token=token, method_arn="arn:aws:s3:::bucket/key")

    assert refusal(authorizer, event).reason == "not_an_authorizer_event"


# -- failures of the check itself: fail closed, never cached ---------------------------------------------------------


def test_without_keys_the_authorizer_raises_the_503_error_not_unauthorized_nor_a_policy(
    keys_down: Any, token: str
) -> None:
    authorizer = RestApiAuthorizer(keys_down, READ, all_routes=True)

    with pytest.raises(errors.KeysUnavailableError) as caught:
        authorizer(load_event("rest_token_authorizer", token=token))

    assert str(caught.value) != "Unauthorized"  # API Gateway: a 500, not cached; a Deny would be cached for the TTL
    assert isinstance(caught.value, errors.ServiceUnavailableError)


def test_without_keys_the_http_api_authorizer_raises_the_503_error(keys_down: Any, token: str) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        HttpApiAuthorizer(keys_down)(load_event("http_api_authorizer", token=token))


def test_an_unreachable_key_server_is_logged_as_a_warning(
    keys_down: Any, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cognito_guard"), pytest.raises(errors.KeysUnavailableError):
        RestApiAuthorizer(keys_down)(load_event("rest_token_authorizer", token=token))

    assert "keys_unavailable" in caplog.text


def test_authorizers_never_log_or_raise_the_token(
    authorizer: RestApiAuthorizer, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = [
        issuer.access_token(scopes=["orders/read"], expires_in=-10),
        issuer.access_token(scopes=["orders/read"], bad_signature=True),
        issuer.access_token(scopes=["profile"]),
        issuer.access_token(scopes=["orders/read"]),
    ]
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="cognito_guard"):
        for token in tokens:
            try:
                seen.append(repr(authorizer(load_event("rest_token_authorizer", token=token))))
            except Unauthorized as error:
                seen.append(f"{error} {error!r} {error.__cause__!r}")
    text = caplog.text + " ".join(seen)
    assert not [token for token in tokens if token.rsplit(".", 1)[1] in text]
    assert "token_expired" in caplog.text


# -- HTTP API (payload 2.0, simple responses) ----------------------------------------------------------------------


def test_http_api_authorizer_allows_with_the_context(http_authorizer: HttpApiAuthorizer, token: str) -> None:
    answer = http_authorizer(load_event("http_api_authorizer", token=token), None)

    assert answer["isAuthorized"] is True
    assert answer["context"]["username"] == "alice"


def test_http_api_authorizer_answers_not_authorized_for_a_missing_scope(
    http_authorizer: HttpApiAuthorizer, issuer: LocalIssuer
) -> None:
    answer = http_authorizer(load_event("http_api_authorizer", token=issuer.access_token(scopes=["profile"])))

    assert answer == {"isAuthorized": False}


def test_http_api_authorizer_raises_unauthorized_for_a_refused_token(
    http_authorizer: HttpApiAuthorizer, issuer: LocalIssuer
) -> None:
    event = load_event("http_api_authorizer", token=issuer.access_token(scopes=["orders/read"], expires_in=-1))

    error = refusal(http_authorizer, event)

    assert str(error) == "Unauthorized"
    assert error.reason == "token_expired"


def test_http_api_authorizer_raises_unauthorized_without_a_token(http_authorizer: HttpApiAuthorizer) -> None:
    assert str(refusal(http_authorizer, load_event("http_api_authorizer", authorization=None))) == "Unauthorized"


def test_http_api_authorizer_refuses_repeated_authorization_headers(
    http_authorizer: HttpApiAuthorizer, token: str
) -> None:
    event = load_event("http_api_authorizer", token=token)
    add_header(event, "Authorization", "Bearer another.token.value")  # HTTP APIs join them with a comma

    assert str(refusal(http_authorizer, event)) == "Unauthorized"


def test_http_api_authorizer_refuses_a_payload_1_0_event(http_authorizer: HttpApiAuthorizer, token: str) -> None:
    event = load_event("rest_request_authorizer", token=token)

    assert refusal(http_authorizer, event).reason == "not_an_authorizer_event"


# -- context --------------------------------------------------------------------------------------------------------


def test_a_custom_context_is_sent_without_its_none_values(issuer: LocalIssuer, token: str) -> None:
    def context(claims: Claims) -> dict[str, object]:
        return {**authorizer_context(claims), "tenant": claims.get("custom:tenant"), "admin": False, "level": 3}

    answer = HttpApiAuthorizer(issuer.verifier(), context=context)(load_event("http_api_authorizer", token=token))

    assert answer["context"]["admin"] is False
    assert answer["context"]["level"] == 3
    assert "tenant" not in answer["context"]


@pytest.mark.parametrize("value", [["staff"], {"a": 1}, float("nan"), b"bytes"])
def test_a_context_value_api_gateway_cannot_take_is_a_configuration_error(
    issuer: LocalIssuer, token: str, value: object
) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), context=lambda claims: {"bad": value})

    with pytest.raises(ConfigurationError, match="'bad'"):
        authorizer(load_event("rest_token_authorizer", token=token))


def test_client_credentials_context_has_no_username(authorizer: RestApiAuthorizer, issuer: LocalIssuer) -> None:
    token = issuer.client_credentials_token(scopes=["orders/read"])

    answer = authorizer(load_event("rest_token_authorizer", token=token))

    assert answer["principalId"] == "client-a"
    assert "username" not in answer["context"]


# -- settings -------------------------------------------------------------------------------------------------------


async def _async_predicate(claims: Claims) -> bool:
    return True


@pytest.mark.parametrize("build", [RestApiAuthorizer, HttpApiAuthorizer])
def test_an_async_predicate_is_refused_when_the_authorizer_is_built(issuer: LocalIssuer, build: Any) -> None:
    with pytest.raises(ConfigurationError, match="synchronously"):
        build(issuer.verifier(), require(predicate=_async_predicate))


@pytest.mark.parametrize(
    "options",
    [
        {"verifier": "not a verifier"},
        {"requirement": {"scopes": "orders/read"}},
        {"header": ""},
        {"context": {"static": "value"}},
        {"all_routes": "yes"},
        {"bare_token": "no"},
    ],
    ids=["verifier", "requirement", "header", "context", "all_routes", "bare_token"],
)
def test_bad_settings_are_configuration_errors(issuer: LocalIssuer, options: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"verifier": issuer.verifier(), **options}

    with pytest.raises(ConfigurationError):
        RestApiAuthorizer(**settings)
