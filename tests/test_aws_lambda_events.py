"""Whatever shape an event takes, the Lambda adapters answer within the taxonomy: ``Unauthorized`` or a 401 for an
event without a valid token, never another exception (a 500) and never an Allow; any path in a method ARN is read."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_events import load_event

from cognito_guard import Claims
from cognito_guard.aws_lambda import HttpApiAuthorizer, RestApiAuthorizer, Unauthorized, protected
from cognito_guard.testing import LocalIssuer

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/prod/GET/orders/o-1001"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
header_values = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["Bearer", "Bearer ", "bearer x.y.z", "Basic abc", "Bearer a, Bearer b", "Bearer\ta.b.c"]),
    st.lists(st.text(max_size=20), max_size=3),
)
headers = st.dictionaries(st.sampled_from(["Authorization", "authorization", "AUTHORIZATION", "Host"]), header_values)
events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["TOKEN", "REQUEST", "token", ""]) | json_values,
        "version": st.sampled_from(["1.0", "2.0"]) | json_values,
        "methodArn": st.sampled_from([METHOD_ARN, f"{METHOD_ARN} with space", "arn:aws:s3:::b"]) | json_values,
        "routeArn": st.sampled_from([METHOD_ARN]) | json_values,
        "authorizationToken": header_values | json_values,
        "headers": headers | json_values,
        "multiValueHeaders": st.dictionaries(st.sampled_from(["Authorization", "authorization"]), header_values)
        | json_values,
    },
)
RUNS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def ok(event: Any, context: Any, claims: Claims) -> dict[str, Any]:
    return {"statusCode": 200}


@RUNS
@given(event=events)
def test_rest_authorizer_answers_any_event_without_a_valid_token_with_unauthorized(
    issuer: LocalIssuer, event: Any
) -> None:
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        RestApiAuthorizer(issuer.verifier())(event)


@RUNS
@given(event=events)
def test_http_api_authorizer_answers_any_event_without_a_valid_token_with_unauthorized(
    issuer: LocalIssuer, event: Any
) -> None:
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        HttpApiAuthorizer(issuer.verifier())(event)


@RUNS
@given(event=events | json_values)
def test_protected_handler_answers_any_event_without_a_valid_token_with_a_401(issuer: LocalIssuer, event: Any) -> None:
    assert protected(issuer.verifier())(ok)(event, None)["statusCode"] == 401


@RUNS
@given(path=st.text(max_size=30))
def test_any_path_in_the_method_arn_is_answered(issuer: LocalIssuer, path: str) -> None:
    token = issuer.access_token()
    event = load_event("rest_token_authorizer", token=token, method_arn=f"{METHOD_ARN.rsplit('/', 2)[0]}/{path}")

    answer = RestApiAuthorizer(issuer.verifier(), all_routes=True)(event)

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
