"""Minting ID, access and client-credentials tokens shaped like the ones Cognito issues."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..._token import b64url_encode
from .._issuer import SigningKeyPair, sign_compact
from .attributes import is_user_attribute
from .config import AppClient, Group, PoolConfig, User
from .keys import PoolKeys

__all__ = ["SignIn", "TokenMinter", "at_hash", "roles_by_precedence"]


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash``: the left half of the SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url_encode(digest[: len(digest) // 2])


def roles_by_precedence(groups: Iterable[Group]) -> tuple[list[str], str | None]:
    """``cognito:roles`` and ``cognito:preferred_role`` for a user in ``groups``.

    The preferred role is the role of the group with the lowest precedence value (groups without a precedence rank
    last); if groups tied at that value carry different roles, there is no preferred role, as in Cognito.
    """
    with_roles = [group for group in groups if group.role_arn]
    ranked = sorted(with_roles, key=lambda g: (g.precedence is None, g.precedence or 0, g.name))
    roles = list(dict.fromkeys(group.role_arn for group in ranked if group.role_arn))
    if not ranked:
        return roles, None
    best = ranked[0].precedence
    tied = {group.role_arn for group in ranked if group.precedence == best}
    return roles, (ranked[0].role_arn if len(tied) == 1 else None)


@dataclass(frozen=True)
class SignIn:
    """Who signed in to which client with which scopes: what the tokens of one sign-in (and its refreshes) share."""

    user: User
    client: AppClient
    scopes: tuple[str, ...]
    auth_time: int
    origin_jti: str
    nonce: str | None = None


class TokenMinter:
    """Signs tokens for ``config``'s users and clients with ``keys``; the issuer is passed per call (it is the
    stand-in's public URL plus the pool id, so the pool itself does not know it)."""

    def __init__(self, config: PoolConfig, keys: PoolKeys, clock: Callable[[], float]) -> None:
        self.config = config
        self.keys = keys
        self.clock = clock

    def _sign(self, payload: dict[str, Any], key: SigningKeyPair) -> str:
        return sign_compact({"kid": key.kid, "alg": "RS256"}, payload, key)

    def _common(self, issuer: str, sign_in: SignIn, lifetime: int) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": sign_in.user.sub,
            "iss": issuer,
            "origin_jti": sign_in.origin_jti,
            "event_id": str(uuid.uuid4()),
            "auth_time": sign_in.auth_time,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        if sign_in.user.groups:
            claims["cognito:groups"] = list(sign_in.user.groups)
        return claims

    def access_token(self, issuer: str, sign_in: SignIn) -> str:
        claims = self._common(issuer, sign_in, sign_in.client.access_token_validity)
        claims.update(
            {
                "token_use": "access",
                "scope": " ".join(sign_in.scopes),
                "client_id": sign_in.client.client_id,
                "username": sign_in.user.username,
                "version": 2,
            }
        )
        return self._sign(claims, self.keys.access)

    def id_token(self, issuer: str, sign_in: SignIn, access_token: str) -> str:
        # Attributes first: every claim set below wins, so an attribute can never stand in for sub, exp or groups.
        attributes = sign_in.user.attributes
        claims: dict[str, Any] = {name: value for name, value in attributes.items() if is_user_attribute(name)}
        claims.update(self._common(issuer, sign_in, sign_in.client.id_token_validity))
        groups = [self.config.groups[name] for name in sign_in.user.groups]
        roles, preferred = roles_by_precedence(groups)
        if roles:
            claims["cognito:roles"] = roles
        if preferred:
            claims["cognito:preferred_role"] = preferred
        claims.update(
            {
                "aud": sign_in.client.client_id,
                "token_use": "id",
                "cognito:username": sign_in.user.username,
                "at_hash": at_hash(access_token),
            }
        )
        if sign_in.nonce is not None:
            claims["nonce"] = sign_in.nonce
        return self._sign(claims, self.keys.id)

    def user_tokens(self, issuer: str, sign_in: SignIn) -> tuple[str, str | None]:
        """The access token and, when ``openid`` was granted, the ID token of one sign-in or refresh."""
        access = self.access_token(issuer, sign_in)
        if "openid" not in sign_in.scopes:
            return access, None
        return access, self.id_token(issuer, sign_in, access)

    def client_credentials_token(self, issuer: str, client: AppClient, scopes: tuple[str, ...]) -> str:
        """A machine-to-machine access token: ``sub`` is the client id; no username, no groups."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": client.client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "iss": issuer,
            "exp": now + client.access_token_validity,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": client.client_id,
        }
        return self._sign(claims, self.keys.access)
