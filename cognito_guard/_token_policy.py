"""The rules of a client-credentials token source, without I/O: when a token is renewed and when it is no longer handed
out, how a token endpoint's answer becomes a token or a failure, the backoff after failures, and how both are sealed
for (and read back from) a shared cache. Used by :class:`cognito_guard.client.ClientCredentials`."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._oauth_http import OAUTH_ERROR_CODE
from ._token_seal import Vault, number
from .errors import (
    ClientCredentialsError,
    CognitoGuardError,
    HostedUIUnavailableError,
    InvalidClientError,
    InvalidScopeError,
    OAuthError,
    TokenEndpointUnavailableError,
    UnauthorizedClientError,
)

__all__ = ["Failure", "Token", "TokenPolicy", "refused_as_invalid_token"]

logger = logging.getLogger("cognito_guard.client")

_MAX_DOUBLINGS = 64  # more than any backoff / max_backoff ratio needs, well short of float overflow
_MAX_LIFETIME = 366 * 86400  # Cognito's is at most a day; anything beyond a year is not a token lifetime
_MAX_TOKEN_LENGTH = 64 * 1024
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # the token goes into an Authorization header as it is
_INVALID_TOKEN = re.compile(r'(?:^|[\s,])error\s*=\s*"?invalid_token"?(?:$|[\s,])', re.IGNORECASE)
_REFUSALS: dict[str, tuple[type[ClientCredentialsError], str]] = {
    "invalid_client": (InvalidClientError, "the app client id is unknown or the secret is wrong"),
    "invalid_scope": (InvalidScopeError, "a scope does not exist or is not allowed to this app client"),
    "unauthorized_client": (UnauthorizedClientError, "the app client may not use the client-credentials grant"),
}


def refused_as_invalid_token(status: int, challenges: Iterable[str]) -> bool:
    """True for a 401 whose ``WWW-Authenticate`` says ``error="invalid_token"`` (RFC 6750): a new token may help."""
    return status == 401 and any(_INVALID_TOKEN.search(challenge) for challenge in challenges)


@dataclass(frozen=True)
class Token:
    """An access token and its times (Unix seconds), as sealed for the shared cache in ``sealed``."""

    access_token: str
    obtained_at: float
    expires_at: float
    renew_at: float
    usable_until: float
    sealed: str


@dataclass(frozen=True)
class Failure:
    """The ``count``-th failed token request in a row; no new request before ``retry_at``.

    ``oauth_error`` is None when the endpoint could not be heard properly, else the OAuth code Cognito refused with."""

    count: int
    retry_at: float
    reason: str
    oauth_error: str | None
    description: str | None
    sealed: str

    def error(self, client_id: str, now: float) -> CognitoGuardError:
        """A fresh exception for one caller (one instance raised in many threads would share its traceback)."""
        if self.oauth_error is None:
            wait = float(max(1, math.ceil(self.retry_at - now)))
            message = f"no token for app client {client_id!r}: {self.reason}; next try in {wait:.0f} s"
            return TokenEndpointUnavailableError(message, retry_after=wait)
        kind, hint = _REFUSALS.get(self.oauth_error, (ClientCredentialsError, "see the error's description"))
        shown = self.oauth_error if OAUTH_ERROR_CODE.fullmatch(self.oauth_error) else "an unreadable error code"
        return kind(
            f"Cognito's token endpoint refused app client {client_id!r}: {shown} ({hint})",
            error=self.oauth_error,
            description=self.description,
        )


class _Unusable(Exception):
    def __init__(self, reason: str, oauth_error: str | None = None, description: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.oauth_error, self.description = reason, oauth_error, description


def _read_answer(answer: object) -> tuple[str, float]:
    """``(access_token, expires_in)`` of a token endpoint's answer (or of what the request raised instead)."""
    if isinstance(answer, OAuthError):
        shown = answer.error if OAUTH_ERROR_CODE.fullmatch(answer.error) else "an unreadable error code"
        raise _Unusable(f"refused with {shown}", answer.error, answer.description)
    if isinstance(answer, HostedUIUnavailableError):
        raise _Unusable(answer.message)
    if isinstance(answer, BaseException):
        # Not the network's doing (a closed injected client, a bug): keep the traceback for whoever debugs.
        logger.error("unexpected error requesting a client-credentials token", exc_info=answer)
        raise _Unusable(f"the token request failed ({type(answer).__name__})")
    what = "Cognito's token endpoint answered"
    if not isinstance(answer, dict):
        raise _Unusable(f"{what} 200 without a JSON object")
    access_token, expires_in = answer.get("access_token"), number(answer, "expires_in")
    token_type = answer.get("token_type", "Bearer")
    if not isinstance(access_token, str) or len(access_token) > _MAX_TOKEN_LENGTH:
        raise _Unusable(f"{what} without a usable access_token")
    if not _HEADER_SAFE.fullmatch(access_token):
        raise _Unusable(f"{what} with an access_token that cannot go into a header")
    if expires_in is None or not 0 < expires_in <= _MAX_LIFETIME:
        raise _Unusable(f"{what} without a valid expires_in")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _Unusable(f"{what} with a token_type other than Bearer")
    return access_token, expires_in


@dataclass(frozen=True)
class TokenPolicy:
    """When tokens are renewed and retired, and how long failures hold (see ClientCredentials for each setting)."""

    renew_after: float
    expiry_margin: float
    backoff: float
    max_backoff: float

    def timed(self, access_token: str, obtained_at: float, expires_at: float, sealed: str) -> Token:
        lifetime = max(0.0, expires_at - obtained_at)
        # The margin takes at most half a lifetime: a very short-lived token is still good for its first half.
        usable_until = expires_at - min(self.expiry_margin, lifetime / 2)
        renew_at = min(obtained_at + lifetime * self.renew_after, usable_until)
        return Token(access_token, obtained_at, expires_at, renew_at, usable_until, sealed)

    def interpret(self, answer: object, started: float, previous_failures: int, vault: Vault) -> Token | Failure:
        """The token in ``answer`` (requested at ``started``), or the failure it amounts to: the one after
        ``previous_failures`` failures in a row, with its backoff."""
        try:
            access_token, expires_in = _read_answer(answer)
        except _Unusable as unusable:
            count = previous_failures + 1
            delay = min(self.max_backoff, self.backoff * 2 ** min(count - 1, _MAX_DOUBLINGS))
            retry_at = started + delay
            document = {
                "n": count,
                "r": retry_at,
                "m": unusable.reason,
                "x": unusable.oauth_error,
                "d": unusable.description,
            }
            sealed = vault.seal("failure", document)
            return Failure(count, retry_at, unusable.reason, unusable.oauth_error, unusable.description, sealed)
        # Times from our clock when we asked: a token is never thought to live longer than it does.
        expires_at = started + expires_in
        sealed = vault.seal("token", {"t": access_token, "o": started, "e": expires_at})
        return self.timed(access_token, started, expires_at, sealed)

    def open_token(self, value: str | None, vault: Vault) -> Token | None:
        document = vault.open("token", value)
        if document is None or value is None:
            return None
        access_token, obtained_at, expires_at = document.get("t"), number(document, "o"), number(document, "e")
        if not isinstance(access_token, str) or obtained_at is None or expires_at is None:
            return None
        return self.timed(access_token, obtained_at, expires_at, value)

    def open_failure(self, value: str | None, vault: Vault) -> Failure | None:
        document = vault.open("failure", value)
        if document is None or value is None:
            return None
        count, retry_at = number(document, "n"), number(document, "r")
        reason, oauth_error, description = document.get("m"), document.get("x"), document.get("d")
        if count is None or retry_at is None or not isinstance(reason, str):
            return None
        return Failure(
            int(count),
            retry_at,
            reason,
            oauth_error if isinstance(oauth_error, str) else None,
            description if isinstance(description, str) else None,
            value,
        )
