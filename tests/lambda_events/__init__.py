"""Sample AWS Lambda events as API Gateway and function URLs send them, with the caller's Authorization set per test.

The JSON files are the events of one request (``GET /orders/o-1001`` with ``Authorization: Bearer <access token>``)
in each shape: REST API ``TOKEN`` and ``REQUEST`` authorizers, HTTP API authorizer (payload 2.0), REST API proxy
(payload 1.0), HTTP API proxy (payload 2.0) and a Lambda function URL. :func:`load_event` puts the test's header value
everywhere the event carries it (or takes the header out), keeping the event's own header-name case.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

AUTHORIZER_EVENTS = ("rest_token_authorizer", "rest_request_authorizer", "http_api_authorizer")
PROXY_EVENTS = ("rest_proxy", "http_api_proxy", "function_url")
_UNSET: Any = object()


def load_event(
    name: str,
    authorization: str | None = _UNSET,
    *,
    token: str | None = None,
    method_arn: str | None = None,
) -> dict[str, Any]:
    """The sample event ``name``; ``token`` sets ``Authorization: Bearer <token>``, ``authorization`` the raw header
    value (``None``: no header at all). ``method_arn`` replaces the route ARN an authorizer is asked about."""
    event: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    if authorization is _UNSET:
        authorization = None if token is None else f"Bearer {token}"
    set_authorization(event, authorization)
    if method_arn is not None:
        event["routeArn" if "routeArn" in event else "methodArn"] = method_arn
    return event


def set_authorization(event: dict[str, Any], value: str | None) -> None:
    """Put ``value`` where API Gateway puts the Authorization header of this event (None removes it)."""
    if event.get("type") == "TOKEN":
        if value is None:
            event.pop("authorizationToken", None)
        else:
            event["authorizationToken"] = value
        return
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if not isinstance(headers, dict):
            continue
        names = [key for key in headers if key.lower() == "authorization"]
        name = names[0] if names else "authorization"
        for key in names:
            del headers[key]
        if value is not None:
            headers[name] = [value] if field == "multiValueHeaders" else value
    if "identitySource" in event:
        event["identitySource"] = [] if value is None else [value]


def add_header(event: dict[str, Any], name: str, value: str) -> None:
    """Add one more value of header ``name``, as API Gateway reports a repeated header in this event's shape."""
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        existing = next((key for key in multi if key.lower() == name.lower()), name)
        multi[existing] = [*multi.get(existing, []), value]
        event["headers"][existing] = value  # REST keeps the last value in headers
        return
    headers = event["headers"]
    key = name.lower()
    headers[key] = f"{headers[key]},{value}" if key in headers else value  # HTTP APIs join repeated values


def _arn_pattern(resource: str) -> re.Pattern[str]:
    # IAM resource wildcards: * is any run of characters (slashes included), ? any one character.
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource))


def api_gateway_decision(answer: dict[str, Any], method_arn: str) -> int:
    """What API Gateway does with an authorizer's IAM policy (fresh or from its cache) for a request to
    ``method_arn``: 200 (the integration runs) or 403 (an explicit Deny, or no Allow naming the method)."""
    allowed = False
    for statement in answer["policyDocument"]["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if statement["Action"] != "execute-api:Invoke" or not any(
            _arn_pattern(resource).fullmatch(method_arn) for resource in resources
        ):
            continue
        if statement["Effect"] == "Deny":
            return 403
        allowed = allowed or statement["Effect"] == "Allow"
    return 200 if allowed else 403
