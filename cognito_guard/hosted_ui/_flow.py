"""The values a hosted-UI sign-in carries between requests: :class:`PendingSignIn` (what the callback needs to
finish it, kept server-side or in a sealed cookie), :class:`AuthorizationRequest` (it plus the ``/oauth2/authorize``
URL) and :class:`TokenSet` (a signed-in user's tokens); ``from_dict`` checks each stored copy, since it comes back
from a browser or a store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ..errors import SignInError, SignInStateError

__all__ = ["AuthorizationRequest", "PendingSignIn", "TokenSet", "_is_time"]


def _is_time(value: object) -> TypeGuard[float]:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


@dataclass(frozen=True)
class PendingSignIn:
    """One browser's sign-in in progress: what the callback needs to finish it.

    Store it server-side or in a signed, encrypted session (``to_dict``/``from_dict``) keyed by ``state``; the
    secrets are left out of ``repr``.
    """

    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    next_path: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "state": self.state,
            "code_verifier": self.code_verifier,
            "nonce": self.nonce,
            "next_path": self.next_path,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingSignIn:
        """Rebuild from :meth:`to_dict`'s output; other keys are ignored. Raises :class:`SignInStateError` when a
        field is missing or of the wrong type (a damaged or forged session: the user has to start again)."""
        if not isinstance(data, Mapping):
            raise SignInStateError("the stored sign-in is not an object; start the sign-in again")
        for name in ("state", "code_verifier", "nonce"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise SignInStateError(f"the stored sign-in lacks '{name}'; start the sign-in again")
        if not isinstance(data.get("next_path"), str) or not _is_time(data.get("created_at")):
            raise SignInStateError("the stored sign-in has a bad 'next_path' or 'created_at'; start the sign-in again")
        return cls(data["state"], data["code_verifier"], data["nonce"], data["next_path"], float(data["created_at"]))


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser (``url``) and what to keep until the callback (``pending``, keyed by its state)."""

    url: str
    pending: PendingSignIn


@dataclass(frozen=True)
class TokenSet:
    """The tokens of a signed-in user (left out of ``repr``); ``expires_at`` is Unix seconds."""

    access_token: str = field(repr=False)
    id_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """Rebuild from :meth:`to_dict`'s output; raises :class:`SignInError` when the shape or a type is wrong."""
        if not isinstance(data, Mapping):
            raise SignInError("the stored tokens are not an object; sign in again")
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise SignInError("the stored tokens lack 'access_token'; sign in again")
        for name in ("id_token", "refresh_token"):
            if data.get(name) is not None and not (isinstance(data[name], str) and data[name]):
                raise SignInError(f"the stored '{name}' is not a string; sign in again")
        token_type = data.get("token_type", "Bearer")
        if not _is_time(data.get("expires_at")) or not isinstance(token_type, str):
            raise SignInError("the stored tokens have a bad 'expires_at' or 'token_type'; sign in again")
        return cls(access, data.get("id_token"), data.get("refresh_token"), float(data["expires_at"]), token_type)

    def expired(self, now: float, *, margin: float = 60.0) -> bool:
        """True when ``now`` is within ``margin`` seconds of ``expires_at`` or past it (time to refresh)."""
        return now >= self.expires_at - margin
