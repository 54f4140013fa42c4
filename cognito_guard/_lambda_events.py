"""Reading what cognito_guard needs from AWS Lambda events: the Authorization header and the route ARN.

Events are plain dicts, or any mapping over one (AWS Lambda Powertools' event data classes are mappings), in the
shapes API Gateway and Lambda function URLs send: REST API authorizer events (``TOKEN``, ``REQUEST``), HTTP API
authorizer events (payload 2.0), and proxy-integration events (REST payload 1.0, HTTP API payload 2.0, function URLs).
Nothing here trusts the event's shape: a missing or odd field reads as absent, never as an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .bearer import bearer_token, single_authorization

__all__ = ["RouteArn", "header_values", "parse_route_arn", "request_authorization", "token_of"]

# arn:{partition}:execute-api:{region}:{account}:{api id}/{stage}/{method}/{path...}; the path is whatever the caller
# asked for and is never parsed, only kept in the exact-route answer.
_ROUTE_ARN = re.compile(r"(?P<prefix>arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[^/\s]+)/.*", re.DOTALL)


class RouteArn(NamedTuple):
    """The ARN API Gateway asks an authorizer about (``methodArn``, ``routeArn``), and its API stage."""

    arn: str
    stage_prefix: str  # arn:{partition}:execute-api:{region}:{account}:{api id}/{stage}

    @property
    def all_routes(self) -> str:
        """Every method and path of this API stage: ``.../{stage}/*/*``, as Powertools' ``allow_all_routes()``."""
        return f"{self.stage_prefix}/*/*"


def parse_route_arn(value: object) -> RouteArn | None:
    """The event's ``methodArn`` or ``routeArn``, or None if it is not an execute-api ARN."""
    if not isinstance(value, str):
        return None
    match = _ROUTE_ARN.fullmatch(value)
    return None if match is None else RouteArn(value, match["prefix"])


def header_values(event: Mapping[str, Any], name: str) -> list[str]:
    """Every value the request sent for header ``name`` (any case).

    REST API events (payload 1.0) keep the header's case and list repeated headers in ``multiValueHeaders`` (``headers``
    holds only the last one); HTTP APIs and function URLs lower-case names and join repeated values with commas.
    """
    wanted = name.lower()
    for field in ("multiValueHeaders", "headers"):
        headers = event.get(field)
        if not isinstance(headers, Mapping):
            continue
        values: list[str] = []
        for key, value in headers.items():
            if not isinstance(key, str) or key.lower() != wanted:
                continue
            items = value if isinstance(value, list) else [value]
            values.extend(item for item in items if isinstance(item, str))
        if values:
            return values
    return []


def request_authorization(event: object, name: str = "Authorization") -> str | None:
    """The request's one ``Authorization`` header (or header ``name``), None without one.

    Raises :class:`~cognito_guard.errors.MalformedTokenError` for two or more: a proxy and we might read different ones.
    """
    if not isinstance(event, Mapping):
        return None
    return single_authorization(header_values(event, name))


def token_of(value: str | None, *, bare_token: bool) -> str | None:
    """The token of a header value: ``Bearer <token>`` (see :func:`~cognito_guard.bearer.bearer_token`), or with
    ``bare_token`` also a value that is one word and no scheme (what API Gateway's Cognito authorizer takes)."""
    token = bearer_token(value)
    if token is None and bare_token and value is not None:
        word = value.strip(" \t")
        if word and " " not in word and "\t" not in word:
            return word
    return token
