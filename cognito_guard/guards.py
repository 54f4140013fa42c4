"""Authorization requirements on verified claims: scopes, groups, roles and custom predicates.

A :class:`Requirement` is checked after the token is verified; a failure raises an :class:`AuthorizationError`
subclass (HTTP 403). Verifiers hold one as their default; framework adapters add per-route ones. Build them with
:func:`require`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .claims import Claims
from .errors import (
    AuthorizationError,
    ConfigurationError,
    MissingGroupError,
    MissingScopeError,
    RoleNotAllowedError,
)

__all__ = ["Match", "Predicate", "Requirement", "require"]

Match = Literal["all", "any"]
Predicate = Callable[[Claims], bool | Awaitable[bool]]


def _names(value: str | Iterable[str] | None, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, (str, Iterable)):
        raise ConfigurationError(f"{what} must be a string or a list of strings")
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be non-empty strings")
    if what == "scopes" and any(len(item.split()) != 1 or item != item.strip() for item in items):
        # A scope never holds whitespace (RFC 6749, 3.3): "a b" would be a requirement no token can meet.
        raise ConfigurationError("scopes must be listed one by one: ['a', 'b'], not 'a b'")
    return frozenset(items)


def _is_async(predicate: Predicate) -> bool:
    call = getattr(predicate, "__call__", None)  # noqa: B004 - callable objects with an async __call__ count too
    return inspect.iscoroutinefunction(predicate) or inspect.iscoroutinefunction(call)


@dataclass(frozen=True)
class Requirement:
    """What a verified token must also grant.

    - ``scopes``: OAuth scopes (access tokens); all of them by default, any one with ``scopes_match="any"``.
    - ``groups``: ``cognito:groups``; any one of them by default, all with ``groups_match="all"``. A token without
      the claim has no groups.
    - ``roles``: IAM role ARNs; any one of them must be in ``cognito:roles`` (ID tokens).
    - ``preferred_role``: the token's ``cognito:preferred_role`` must be one of these ARNs (ID tokens).
    - ``predicates``: callables taking :class:`Claims` and returning (or, if async, resolving to) a bool; ``False``
      denies with code ``denied``. A predicate may also raise an :class:`AuthorizationError` of its own.
    """

    scopes: frozenset[str] = frozenset()
    scopes_match: Match = "all"
    groups: frozenset[str] = frozenset()
    groups_match: Match = "any"
    roles: frozenset[str] = frozenset()
    preferred_role: frozenset[str] = frozenset()
    predicates: tuple[Predicate, ...] = ()

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
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Requirement:
        """Validate and normalise user input; raises :class:`ConfigurationError` on bad values."""
        if scopes_match not in ("all", "any") or groups_match not in ("all", "any"):
            raise ConfigurationError("scopes_match and groups_match must be 'all' or 'any'")
        if predicate is None:
            predicates: tuple[Predicate, ...] = ()
        elif callable(predicate):
            predicates = (predicate,)
        elif isinstance(predicate, Iterable) and not isinstance(predicate, str):
            predicates = tuple(predicate)
        else:
            predicates = (predicate,)  # refused just below
        if not all(callable(item) for item in predicates):
            raise ConfigurationError("predicate must be a callable taking Claims (or a list of them)")
        return cls(
            scopes=_names(scopes, "scopes"),
            scopes_match=scopes_match,
            groups=_names(groups, "groups"),
            groups_match=groups_match,
            roles=_names(roles, "roles"),
            preferred_role=_names(preferred_role, "preferred_role"),
            predicates=predicates,
        )

    def __bool__(self) -> bool:
        return bool(self.scopes or self.groups or self.roles or self.preferred_role or self.predicates)

    @property
    def is_async(self) -> bool:
        """True when a predicate is async: then only :meth:`check_async` can evaluate this requirement."""
        return any(_is_async(predicate) for predicate in self.predicates)

    def check(self, claims: Claims) -> None:
        """Raise the matching :class:`AuthorizationError` subclass unless ``claims`` meet this requirement.

        Raises :class:`ConfigurationError` if a predicate turns out to be async (use :meth:`check_async`).
        """
        self._check_claims(claims)
        for predicate in self.predicates:
            result = predicate(claims)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited: close it so Python does not warn
                raise ConfigurationError("an async predicate needs the async path (check_async / verify)")
            if result is not True:
                raise AuthorizationError("access denied by a policy of this route")

    async def check_async(self, claims: Claims) -> None:
        """Like :meth:`check`, awaiting async predicates."""
        self._check_claims(claims)
        for predicate in self.predicates:
            result = predicate(claims)
            if inspect.isawaitable(result):
                result = await result
            if result is not True:
                raise AuthorizationError("access denied by a policy of this route")

    def _check_claims(self, claims: Claims) -> None:
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


def require(
    *,
    scopes: str | Iterable[str] | None = None,
    scopes_match: Match = "all",
    groups: str | Iterable[str] | None = None,
    groups_match: Match = "any",
    roles: str | Iterable[str] | None = None,
    preferred_role: str | Iterable[str] | None = None,
    predicate: Predicate | Iterable[Predicate] | None = None,
) -> Requirement:
    """A :class:`Requirement`: ``require(scopes="orders/read")``, ``require(groups=["admin", "ops"])``,
    ``require(scopes=["a", "b"], scopes_match="any")``, ``require(predicate=lambda claims: ...)``.

    Raises :class:`ConfigurationError` on bad values.
    """
    return Requirement.build(
        scopes=scopes,
        scopes_match=scopes_match,
        groups=groups,
        groups_match=groups_match,
        roles=roles,
        preferred_role=preferred_role,
        predicate=predicate,
    )
