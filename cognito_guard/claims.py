"""Typed, read-only view of a verified token's claims."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, NoReturn

__all__ = ["Claims", "freeze"]


class _FrozenDict(dict[str, Any]):
    """A dict that refuses mutation; JSON-serialisable like any dict.

    Verified claims are shared between requests by the result cache, so nested values must not be changeable.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("verified claims are read-only; use Claims.to_dict() for a mutable copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse


_MAX_DEPTH = 32  # Cognito's claims are at most two levels deep; deeper nesting is junk, refused before it overflows


def freeze(value: Any, depth: int = 0) -> Any:
    """JSON arrays become tuples and objects read-only dicts, all the way down.

    Raises ValueError for nesting deeper than 32 levels.
    """
    if type(value) is list:
        try:
            "".join(value)  # an array of strings, the common case (groups, roles): one C-level pass
            return tuple(value)
        except TypeError:
            pass
        if depth >= _MAX_DEPTH:
            raise ValueError("claims are nested too deeply")
        return tuple([freeze(item, depth + 1) for item in value])
    if type(value) is dict:
        if depth >= _MAX_DEPTH:
            raise ValueError("claims are nested too deeply")
        return _FrozenDict([(key, freeze(item, depth + 1)) for key, item in value.items()])
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    if isinstance(value, dict):
        return {key: _thaw(item) for key, item in value.items()}
    return value


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


class Claims(Mapping[str, Any]):
    """The claims of a verified Cognito token: a read-only mapping of the raw claims plus typed properties.

    JSON arrays appear as tuples and objects as read-only dicts. Properties never raise on a missing optional
    claim: they return ``None`` or an empty collection. ``to_dict()`` gives a mutable, JSON-ready copy.
    """

    __slots__ = ("__dict__", "_raw")
    _raw: dict[str, Any]

    def __init__(self, claims: Mapping[str, Any]) -> None:
        raw = dict(claims)
        for key, value in raw.items():
            if isinstance(value, (list, dict)):
                raw[key] = freeze(value)
        object.__setattr__(self, "_raw", raw)

    @classmethod
    def from_frozen(cls, claims: dict[str, Any]) -> Claims:
        """Wrap a dict whose arrays and objects are already frozen (the verifier's fast path; takes ownership)."""
        self = _new(cls)
        _set_raw(self, claims)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("verified claims are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("verified claims are read-only")

    # Mapping protocol ---------------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"Claims(sub={self.sub!r}, token_use={self.token_use!r}, username={self.username!r})"

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the raw claims (arrays as lists), ready for ``json.dumps``."""
        return {key: _thaw(value) for key, value in self._raw.items()}

    # Identity ------------------------------------------------------------------------------------------------------
    @property
    def sub(self) -> str:
        """The subject: the user's stable id, or the app client id for client-credentials tokens."""
        return str(self._raw.get("sub", ""))

    @property
    def token_use(self) -> str:
        """``"id"`` or ``"access"``."""
        return str(self._raw.get("token_use", ""))

    @property
    def is_access_token(self) -> bool:
        return self._raw.get("token_use") == "access"

    @property
    def is_id_token(self) -> bool:
        return self._raw.get("token_use") == "id"

    @property
    def username(self) -> str | None:
        """``username`` (access) or ``cognito:username`` (ID); ``None`` for client-credentials tokens."""
        value = self._raw.get("username")
        if value is None:
            value = self._raw.get("cognito:username")
        return value if isinstance(value, str) else None

    @property
    def client_id(self) -> str | None:
        """The app client: ``client_id`` of an access token, ``aud`` of an ID token."""
        value = self._raw.get("client_id") if self.is_access_token else self._raw.get("aud")
        return value if isinstance(value, str) else None

    @property
    def issuer(self) -> str:
        return str(self._raw.get("iss", ""))

    @property
    def is_machine(self) -> bool:
        """True for machine-to-machine (client-credentials) access tokens: no user behind them."""
        return self.is_access_token and self.username is None

    @property
    def email(self) -> str | None:
        value = self._raw.get("email")
        return value if isinstance(value, str) else None

    @property
    def email_verified(self) -> bool:
        value = self._raw.get("email_verified")
        return value is True or value == "true"

    @property
    def jti(self) -> str | None:
        value = self._raw.get("jti")
        return value if isinstance(value, str) else None

    @property
    def origin_jti(self) -> str | None:
        """Shared by all tokens of one sign-in and its refreshes: the key for a revocation denylist."""
        value = self._raw.get("origin_jti")
        return value if isinstance(value, str) else None

    # Authorization ---------------------------------------------------------------------------------------------------
    @cached_property
    def scopes(self) -> frozenset[str]:
        """The OAuth scopes of an access token (empty for ID tokens)."""
        value = self._raw.get("scope")
        if not isinstance(value, str):
            return frozenset()
        # RFC 6749, section 3.3: separated by 0x20 only. str.split() would also split on "\u00a0" and grant two scopes.
        return frozenset(part for part in value.split(" ") if part)

    @cached_property
    def groups(self) -> tuple[str, ...]:
        """``cognito:groups`` in the order Cognito lists them; empty when the claim is absent."""
        value = self._raw.get("cognito:groups")
        return tuple(item for item in value if isinstance(item, str)) if isinstance(value, tuple) else ()

    @cached_property
    def roles(self) -> tuple[str, ...]:
        """``cognito:roles`` (IAM role ARNs of the user's groups; ID tokens)."""
        value = self._raw.get("cognito:roles")
        return tuple(item for item in value if isinstance(item, str)) if isinstance(value, tuple) else ()

    @property
    def preferred_role(self) -> str | None:
        """``cognito:preferred_role`` (ID tokens): the role of the group with the lowest precedence value."""
        value = self._raw.get("cognito:preferred_role")
        return value if isinstance(value, str) else None

    @cached_property
    def custom(self) -> Mapping[str, str]:
        """The ``custom:NAME`` attributes keyed by ``NAME`` (string values only, as Cognito stores them)."""
        return _FrozenDict(
            (key[7:], value) for key, value in self._raw.items() if key.startswith("custom:") and isinstance(value, str)
        )

    # Time ------------------------------------------------------------------------------------------------------------
    @property
    def expires_at(self) -> datetime:
        """``exp`` as an aware UTC datetime."""
        return _timestamp(self._raw.get("exp")) or datetime.fromtimestamp(0, tz=timezone.utc)

    @property
    def issued_at(self) -> datetime:
        """``iat`` as an aware UTC datetime."""
        return _timestamp(self._raw.get("iat")) or datetime.fromtimestamp(0, tz=timezone.utc)

    @property
    def auth_time(self) -> datetime | None:
        """When the user authenticated (``auth_time``), if present."""
        return _timestamp(self._raw.get("auth_time"))


# The fast path of from_frozen: create and fill a Claims without going through __init__ or __setattr__.
_new = object.__new__
_set_raw = Claims._raw.__set__  # type: ignore[attr-defined]
