"""Framework-neutral HTTP semantics shared by the adapters: reading a bearer token, answering 401/403/503.

Answers follow RFC 6750: ``WWW-Authenticate: Bearer realm="..."`` on 401 (with ``error="invalid_token"`` and an
``error_description`` when a token was presented and refused), ``error="insufficient_scope"`` (and ``scope="..."`` for
missing scopes) on 403, ``Retry-After`` on 503. Bodies are ``{"detail": ..., "code": ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import (
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    MalformedTokenError,
    MissingScopeError,
    TokenError,
)

__all__ = [
    "DEFAULT_REALM",
    "ErrorAnswer",
    "asgi_authorization",
    "bearer_token",
    "check_realm",
    "error_answer",
    "single_authorization",
    "unauthenticated_answer",
    "websocket_close_code",
]

DEFAULT_REALM = "api"
"""The ``realm`` of ``WWW-Authenticate`` challenges unless an adapter is given one."""
WEBSOCKET_POLICY_VIOLATION = 1008
WEBSOCKET_INTERNAL_ERROR = 1011


def check_realm(realm: object) -> str:
    """``realm`` itself; raises :class:`ConfigurationError` unless it is a non-empty string."""
    if not isinstance(realm, str) or not realm:
        raise ConfigurationError("realm must be a non-empty string")
    return realm


def single_authorization(values: Sequence[str]) -> str | None:
    """The request's one ``Authorization`` header value, ``None`` without one.

    Two or more are refused (:class:`MalformedTokenError`): a proxy and we might each read a different one.
    """
    if not values:
        return None
    if len(values) > 1:
        raise MalformedTokenError("send a single Authorization header")
    return values[0]


def asgi_authorization(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """:func:`single_authorization` over raw ASGI headers (lower-case byte names), without building a Headers object."""
    return single_authorization([value.decode("latin-1") for name, value in headers if name == b"authorization"])


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else ``None``.

    A header with another scheme counts as no bearer token; ``Bearer`` with nothing after it gives ``""`` (which the
    verifier refuses as malformed).
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def _quote(value: str) -> str:
    # RFC 7235 quoted-string: escape backslash and quote; drop control characters so a header can never be split.
    cleaned = "".join(char for char in value if char >= " " and char != "\x7f")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP answer to a refused request: status, headers and a JSON body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)


def unauthenticated_answer(realm: str) -> ErrorAnswer:
    """401 for a request that presented no bearer token at all."""
    return ErrorAnswer(
        401,
        {"WWW-Authenticate": f"Bearer realm={_quote(realm)}"},
        {"detail": "Not authenticated", "code": "not_authenticated"},
    )


def error_answer(error: CognitoGuardError, realm: str) -> ErrorAnswer:
    """The answer for an error raised while checking a presented token."""
    body = {"detail": error.message, "code": error.code}
    if isinstance(error, TokenError):
        challenge = f'Bearer realm={_quote(realm)}, error="invalid_token", error_description={_quote(error.message)}'
        return ErrorAnswer(401, {"WWW-Authenticate": challenge}, body)
    if isinstance(error, KeysUnavailableError):
        wait = error.retry_after
        retry_after = max(1, math.ceil(wait)) if wait is not None and math.isfinite(wait) else 1
        return ErrorAnswer(503, {"Retry-After": str(retry_after)}, body)
    if error.status_code == 403:
        challenge = f'Bearer realm={_quote(realm)}, error="insufficient_scope"'
        if isinstance(error, MissingScopeError) and error.required:
            challenge += f", scope={_quote(' '.join(error.required))}"
        return ErrorAnswer(403, {"WWW-Authenticate": challenge}, body)
    return ErrorAnswer(500, {}, {"detail": "authentication is misconfigured", "code": error.code})


def websocket_close_code(answer: ErrorAnswer) -> int:
    """The close code for a refused WebSocket handshake: 1008 (policy violation), 1011 if we are misconfigured."""
    return WEBSOCKET_INTERNAL_ERROR if answer.status == 500 else WEBSOCKET_POLICY_VIOLATION
