"""Framework-neutral HTTP semantics shared by the adapters: reading a bearer token, answering 401/403/503.

Answers follow RFC 6750: ``WWW-Authenticate: Bearer realm="..."`` on 401 (with ``error="invalid_token"`` and an
``error_description`` when a token was presented and refused), ``error="insufficient_scope"`` (and ``scope="..."`` for
missing scopes) on 403, ``Retry-After`` on 503. Bodies are ``{"detail": ..., "code": ...}``. Header values are always
printable ASCII, whatever the realm, message or scope names hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import (
    CognitoGuardError,
    ConfigurationError,
    MalformedTokenError,
    MissingScopeError,
    ServiceUnavailableError,
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
    """The token of an ``Authorization: Bearer <token>`` header, else ``None`` (no header, or another scheme).

    The scheme is case-insensitive, and spaces or tabs (any number) may separate it from the token and surround both.
    A header that means Bearer but is not ``Bearer <token>`` (``Bearer``, ``Bearer:token``, ``Bearertoken``, a token
    with whitespace inside) gives ``""``, which the verifier refuses as malformed: such a request is answered 401,
    never treated as anonymous.
    """
    # RFC 7235 asks for one space (credentials = auth-scheme [ 1*SP token68 ]); tabs and runs of whitespace are
    # common enough to accept, as long as what is left is one scheme and one token. Only SP and HTAB separate.
    if authorization and authorization[:7].lower() == "bearer " and "\t" not in authorization:
        token = authorization[7:].strip(" ")  # the usual header, on every request: no copies beyond this one
        return token if token and " " not in token else ""
    words = [word for word in (authorization or "").replace("\t", " ").split(" ") if word]
    if not words:
        return None
    scheme = words[0].lower()
    if scheme == "bearer":
        return words[1] if len(words) == 2 else ""
    # "Bearer:token", "Bearer,token": someone meant to send a bearer token, and it must not pass for none at all.
    return "" if scheme.startswith("bearer") else None


# RFC 6750 allows only %x20-21 / %x23-5B / %x5D-7E in error_description and scope (no quote, no backslash).
_RFC_6750_UNSAFE = '"\\'


def _header_text(value: str, unsafe: str = "") -> str:
    # Control characters are dropped, so a header can never be split. Anything else outside printable ASCII becomes
    # "?": servers write headers as Latin-1 or ASCII (FastAPI and Starlette fail with a 500 on other characters),
    # and RFC 6750 asks for ASCII. The JSON body keeps the exact message.
    return "".join("?" if char > "~" or char in unsafe else char for char in value if char >= " " and char != "\x7f")


def _quote(value: str) -> str:
    """``value`` as an RFC 7235 quoted-string of printable ASCII (for the realm): quote and backslash escaped."""
    return '"' + _header_text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_rfc_6750(value: str) -> str:
    """``value`` quoted for ``error_description`` or ``scope``: printable ASCII, quote and backslash become ``?``."""
    return '"' + _header_text(value, _RFC_6750_UNSAFE) + '"'


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
        description = _quote_rfc_6750(error.message)
        challenge = f'Bearer realm={_quote(realm)}, error="invalid_token", error_description={description}'
        return ErrorAnswer(401, {"WWW-Authenticate": challenge}, body)
    if isinstance(error, ServiceUnavailableError):
        wait = error.retry_after
        retry_after = max(1, math.ceil(wait)) if wait is not None and math.isfinite(wait) else 1
        return ErrorAnswer(503, {"Retry-After": str(retry_after)}, body)
    if error.status_code == 403:
        challenge = f'Bearer realm={_quote(realm)}, error="insufficient_scope"'
        if isinstance(error, MissingScopeError) and error.required:
            challenge += f", scope={_quote_rfc_6750(' '.join(error.required))}"
        return ErrorAnswer(403, {"WWW-Authenticate": challenge}, body)
    return ErrorAnswer(500, {}, {"detail": "authentication is misconfigured", "code": error.code})


def websocket_close_code(answer: ErrorAnswer) -> int:
    """The close code for a refused WebSocket handshake: 1008 (policy violation), 1011 if we are misconfigured."""
    return WEBSOCKET_INTERNAL_ERROR if answer.status == 500 else WEBSOCKET_POLICY_VIOLATION
