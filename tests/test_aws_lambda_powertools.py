"""cognito_guard.aws_lambda with AWS Lambda Powertools installed: its event data classes in, answers equal to those
its response builders make, and the recipes docs/lambda.md shows. cognito_guard never imports Powertools itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lambda_events import load_event

pytest.importorskip("aws_lambda_powertools")

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    LambdaFunctionUrlEvent,
    event_source,
)
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerResponseV2,
    APIGatewayAuthorizerTokenEvent,
    HttpVerb,
)
from aws_lambda_powertools.utilities.data_classes.common import DictWrapper

from cognito_guard import AuthorizationError, Claims, require
from cognito_guard.aws_lambda import (
    HttpApiAuthorizer,
    RestApiAuthorizer,
    Unauthorized,
    authorizer_context,
    protected,
)
from cognito_guard.testing import LocalIssuer

READ = require(scopes="orders/read")
CONTEXT: Any = None  # the LambdaContext, unused here


@pytest.fixture
def token(issuer: LocalIssuer) -> str:
    return issuer.access_token(username="alice", scopes=["orders/read"])


@pytest.fixture
def claims(issuer: LocalIssuer, token: str) -> Claims:
    return issuer.verifier().verify_sync(token)


# -- event data classes in --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data_class"),
    [
        ("rest_token_authorizer", APIGatewayAuthorizerTokenEvent),
        ("rest_request_authorizer", APIGatewayAuthorizerRequestEvent),
    ],
)
def test_rest_authorizer_takes_powertools_event_classes(
    issuer: LocalIssuer, token: str, name: str, data_class: type[DictWrapper]
) -> None:
    authorizer = RestApiAuthorizer(issuer.verifier(), READ)

    answer = authorizer(data_class(load_event(name, token=token)))

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_http_api_authorizer_takes_the_powertools_v2_event_class(issuer: LocalIssuer, token: str) -> None:
    authorizer = HttpApiAuthorizer(issuer.verifier(), READ)

    assert authorizer(APIGatewayAuthorizerEventV2(load_event("http_api_authorizer", token=token)))["isAuthorized"]


@pytest.mark.parametrize(
    ("name", "data_class"),
    [
        ("rest_proxy", APIGatewayProxyEvent),
        ("http_api_proxy", APIGatewayProxyEventV2),
        ("function_url", LambdaFunctionUrlEvent),
    ],
)
def test_a_protected_handler_under_event_source_gets_the_data_class(
    issuer: LocalIssuer, token: str, name: str, data_class: type[DictWrapper]
) -> None:
    seen: list[object] = []

    @event_source(data_class=data_class)
    @protected(issuer.verifier(), READ)
    def handler(event: DictWrapper, context: Any, claims: Claims) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "body": claims.username or ""}

    assert handler(load_event(name, token=token), CONTEXT) == {"statusCode": 200, "body": "alice"}
    assert isinstance(seen[0], data_class)


def test_a_protected_handler_under_event_source_refuses_without_a_token(issuer: LocalIssuer) -> None:
    @event_source(data_class=APIGatewayProxyEventV2)
    @protected(issuer.verifier(), READ)
    def handler(event: APIGatewayProxyEventV2, context: Any, claims: Claims) -> dict[str, Any]:
        raise AssertionError("not reached")

    assert handler(load_event("http_api_proxy", authorization=None), CONTEXT)["statusCode"] == 401


# -- answers equal to Powertools' response builders ----------------------------------------------------------------


def test_an_allow_for_the_method_equals_powertools_allow_route(issuer: LocalIssuer, token: str, claims: Claims) -> None:
    event = load_event("rest_token_authorizer", token=token)
    builder = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], claims.sub, authorizer_context(claims))
    builder.allow_route(HttpVerb.GET.value, "/orders/o-1001")

    assert RestApiAuthorizer(issuer.verifier(), READ)(event) == builder.asdict()


def test_an_allow_for_all_routes_equals_powertools_allow_all_routes(
    issuer: LocalIssuer, token: str, claims: Claims
) -> None:
    event = load_event("rest_request_authorizer", token=token)
    builder = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], claims.sub, authorizer_context(claims))
    builder.allow_all_routes()

    assert RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)(event) == builder.asdict()


def test_a_deny_for_all_routes_equals_powertools_deny_all_routes(issuer: LocalIssuer) -> None:
    token = issuer.access_token(scopes=["profile"])
    event = load_event("rest_token_authorizer", token=token)
    builder = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], issuer.verifier().verify_sync(token).sub)
    builder.deny_all_routes()

    assert RestApiAuthorizer(issuer.verifier(), READ, all_routes=True)(event) == builder.asdict()


def test_a_simple_response_equals_powertools_v2_response(issuer: LocalIssuer, token: str, claims: Claims) -> None:
    event = load_event("http_api_authorizer", token=token)

    answer = HttpApiAuthorizer(issuer.verifier(), READ)(event)

    assert answer == APIGatewayAuthorizerResponseV2(authorize=True, context=authorizer_context(claims)).asdict()


def test_a_simple_refusal_equals_powertools_v2_response(issuer: LocalIssuer) -> None:
    event = load_event("http_api_authorizer", token=issuer.access_token(scopes=["profile"]))

    assert HttpApiAuthorizer(issuer.verifier(), READ)(event) == APIGatewayAuthorizerResponseV2(authorize=False).asdict()


# -- the recipes of docs/lambda.md ----------------------------------------------------------------------------------


def per_route_authorizer(authorizer: RestApiAuthorizer) -> Any:
    """docs/lambda.md, "Per-route policies with Powertools": our check, Powertools' policy builder."""

    @event_source(data_class=APIGatewayAuthorizerRequestEvent)
    def handler(event: APIGatewayAuthorizerRequestEvent, context: Any) -> dict[str, Any]:
        try:
            claims = authorizer.claims(event)  # Unauthorized (401) and 503-family errors propagate
        except AuthorizationError:
            claims = None
        arn = event.parsed_arn
        policy = APIGatewayAuthorizerResponse(
            principal_id=claims.sub if claims else "unknown",
            region=arn.region,
            aws_account_id=arn.aws_account_id,
            api_id=arn.api_id,
            stage=arn.stage,
            context=authorizer_context(claims) if claims else None,
        )
        if claims is None:
            policy.deny_all_routes()
        elif "admin" in claims.groups:
            policy.allow_all_routes()
        else:
            policy.allow_route(HttpVerb.GET.value, "/orders/*")
        return policy.asdict()

    return handler


def test_per_route_recipe_allows_reading_orders_to_users(issuer: LocalIssuer, token: str) -> None:
    handler = per_route_authorizer(RestApiAuthorizer(issuer.verifier(), READ))

    answer = handler(load_event("rest_request_authorizer", token=token), None)

    stage = "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/prod"
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{stage}/GET/orders/*"]}
    ]


def test_per_route_recipe_still_raises_unauthorized_for_a_bad_token(issuer: LocalIssuer) -> None:
    handler = per_route_authorizer(RestApiAuthorizer(issuer.verifier(), READ))
    token = issuer.access_token(scopes=["orders/read"], expires_in=-1)

    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        handler(load_event("rest_request_authorizer", token=token), None)


def resolver_app(issuer: LocalIssuer) -> Any:
    """docs/lambda.md, "Powertools event handler": the guard in front, the claims in app.context."""
    app = APIGatewayHttpResolver()

    @app.get("/orders/<order_id>")
    def get_order(order_id: str) -> dict[str, str]:
        claims: Claims = app.context["claims"]
        return {"order": order_id, "for": claims.username or claims.sub}

    @protected(issuer.verifier(), READ)
    def handler(event: dict[str, Any], context: Any, claims: Claims) -> dict[str, Any]:
        app.append_context(claims=claims)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        return app.resolve(event, context)

    return handler


def test_powertools_resolver_routes_get_the_claims(issuer: LocalIssuer, token: str) -> None:
    answer = resolver_app(issuer)(load_event("http_api_proxy", token=token), None)

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"order": "o-1001", "for": "alice"}


def test_powertools_resolver_is_not_reached_without_a_token(issuer: LocalIssuer) -> None:
    answer = resolver_app(issuer)(load_event("http_api_proxy", authorization=None), None)

    assert answer["statusCode"] == 401
