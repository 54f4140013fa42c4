"""The online check of the stand-in's access tokens, shared by ``/oauth2/userInfo``, ``GetUser`` and
``GlobalSignOut``: signature, issuer and expiry as any verifier checks them, then revocation, which only the pool
itself can see (a revoked token still passes an offline check, as with Cognito)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from ...claims import Claims
from ...errors import ConfigurationError, ExpiredTokenError, TokenError
from ...verifier import CognitoVerifier
from .state import DevState

__all__ = ["AccessTokenRefused", "AccessTokens"]

Refusal = Literal["invalid", "expired", "revoked"]


class AccessTokenRefused(Exception):
    """An access token the pool does not honour: ``reason`` is ``"invalid"``, ``"expired"`` or ``"revoked"``."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(f"access token {reason}")
        self.reason: Refusal = reason


class AccessTokens:
    """Checks access tokens of the pool ``user_pool_id`` signed with the keys of ``jwks`` against ``state``."""

    def __init__(self, user_pool_id: str, jwks: dict[str, Any], state: DevState, clock: Callable[[], float]) -> None:
        self._user_pool_id = user_pool_id
        self._jwks = jwks
        self._state = state
        self._clock = clock
        self._verifiers: dict[str, CognitoVerifier] = {}

    def _verifier(self, issuer: str) -> CognitoVerifier:
        verifier = self._verifiers.get(issuer)
        if verifier is None:
            if len(self._verifiers) > 16:  # one per base URL a caller passes: keep the cache bounded
                self._verifiers.clear()
            verifier = CognitoVerifier(
                user_pool_id=self._user_pool_id,
                client_id=None,  # any of this pool's clients
                token_use="access",
                issuer=issuer,
                jwks=self._jwks,
                clock=self._clock,
            )
            self._verifiers[issuer] = verifier
        return verifier

    def live(self, token: str, issuer: str) -> Claims:
        """The claims of an access token of this pool (``issuer``) that is neither expired nor revoked.
        Raises :class:`AccessTokenRefused`."""
        try:
            claims = self._verifier(issuer).verify_sync(token)
        except ExpiredTokenError:
            raise AccessTokenRefused("expired") from None
        except (TokenError, ConfigurationError):
            raise AccessTokenRefused("invalid") from None
        if self._state.is_revoked(claims.origin_jti):
            raise AccessTokenRefused("revoked")
        return claims
