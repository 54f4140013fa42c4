"""Framework-neutral HTTP semantics shared by the adapters: reading a bearer token, answering 401/403/503.

Answers follow RFC 6750: ``WWW-Authenticate: Bearer realm="..."`` on 401 (with ``error="invalid_token"`` and an
``error_description`` when a token was presented and refused), ``error="insufficient_scope"`` (and ``scope="..."`` for
missing scopes) on 403, ``Retry-After`` on 503. Bodies are ``{"detail": ..., "code": ...}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import CognitoGuardError, KeysUnavailableError, MissingScopeError, TokenError

__all__ = ["ErrorAnswer", "bearer_token", "error_answer", "unauthenticated_answer"]


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
        retry_after = max(1, math.ceil(error.retry_after or 1))
        return ErrorAnswer(503, {"Retry-After": str(retry_after)}, body)
    if error.status_code == 403:
        challenge = f'Bearer realm={_quote(realm)}, error="insufficient_scope"'
        if isinstance(error, MissingScopeError) and error.required:
            challenge += f", scope={_quote(' '.join(error.required))}"
        return ErrorAnswer(403, {"WWW-Authenticate": challenge}, body)
    return ErrorAnswer(500, {}, {"detail": "authentication is misconfigured", "code": error.code})
