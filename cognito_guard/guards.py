"""Authorization requirements on verified claims: scopes, groups and roles.

A :class:`Requirement` is checked after the token is verified; a failure raises an :class:`AuthorizationError`
subclass (HTTP 403). Verifiers hold one as their default; framework adapters add per-route ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .claims import Claims
from .errors import ConfigurationError, MissingGroupError, MissingScopeError, RoleNotAllowedError

__all__ = ["Match", "Requirement"]

Match = Literal["all", "any"]


def _names(value: str | Iterable[str] | None, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be non-empty strings")
    return frozenset(items)


@dataclass(frozen=True)
class Requirement:
    """What a verified token must also grant.

    - ``scopes``: OAuth scopes (access tokens); all of them by default, any one with ``scopes_match="any"``.
    - ``groups``: ``cognito:groups``; any one of them by default, all with ``groups_match="all"``. A token without
      the claim has no groups.
    - ``roles``: IAM role ARNs; any one of them must be in ``cognito:roles`` (ID tokens).
    - ``preferred_role``: the token's ``cognito:preferred_role`` must be one of these ARNs (ID tokens).
    """

    scopes: frozenset[str] = frozenset()
    scopes_match: Match = "all"
    groups: frozenset[str] = frozenset()
    groups_match: Match = "any"
    roles: frozenset[str] = frozenset()
    preferred_role: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        scopes: str | Iterable[str] | None = None,
        scopes_match: Match = "all",
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
    ) -> Requirement:
        """Validate and normalise user input; raises :class:`ConfigurationError` on bad values."""
        if scopes_match not in ("all", "any") or groups_match not in ("all", "any"):
            raise ConfigurationError("scopes_match and groups_match must be 'all' or 'any'")
        return cls(
            scopes=_names(scopes, "scopes"),
            scopes_match=scopes_match,
            groups=_names(groups, "groups"),
            groups_match=groups_match,
            roles=_names(roles, "roles"),
            preferred_role=_names(preferred_role, "preferred_role"),
        )

    def __bool__(self) -> bool:
        return bool(self.scopes or self.groups or self.roles or self.preferred_role)

    def check(self, claims: Claims) -> None:
        """Raise the matching :class:`AuthorizationError` subclass unless ``claims`` meet this requirement."""
        if self.scopes:
            granted = claims.scopes
            ok = self.scopes <= granted if self.scopes_match == "all" else not self.scopes.isdisjoint(granted)
            if not ok:
                required = tuple(sorted(self.scopes))
                raise MissingScopeError(
                    f"token lacks {'a required scope' if self.scopes_match == 'all' else 'any of the scopes'}: "
                    + " ".join(required),
                    required=required,
                )
        if self.groups:
            member = self.groups.intersection(claims.groups)
            if not (member == self.groups if self.groups_match == "all" else member):
                raise MissingGroupError(
                    f"user is not in {'every' if self.groups_match == 'all' else 'any'} required group: "
                    + ", ".join(sorted(self.groups))
                )
        if self.roles and self.roles.isdisjoint(claims.roles):
            raise RoleNotAllowedError("token has none of the required roles")
        if self.preferred_role and claims.preferred_role not in self.preferred_role:
            raise RoleNotAllowedError("token's preferred role is not allowed")
