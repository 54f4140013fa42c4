"""Settings from the environment (or any mapping, such as Flask's ``app.config``), checked at start-up.

| variable | meaning |
|---|---|
| ``COGNITO_USER_POOL_ID`` | required, e.g. ``us-east-1_Abc123XYZ`` |
| ``COGNITO_CLIENT_ID`` | required, one app client id or several separated by commas |
| ``COGNITO_TOKEN_USE`` | ``access`` (default), ``id`` or ``any`` |
| ``COGNITO_ISSUER`` | issuer override (emulators, local stand-ins) |
| ``COGNITO_JWKS_URI`` | JWKS URL override |
| ``COGNITO_JWKS_FILE`` | verify offline with the keys in this JWKS file (no network at all) |
| ``COGNITO_LEEWAY`` | seconds of clock skew allowed (default 0) |
| ``COGNITO_JWKS_TTL`` | seconds fetched keys count as fresh before a refresh (default 300, at most 86400) |
| ``COGNITO_JWKS_MAX_STALE`` | seconds past that TTL the keys keep serving while refreshes fail (default 86400) |
| ``COGNITO_REDIS_URL`` | consult the revocation list every worker shares through this Redis (default: no list) |
| ``COGNITO_REVOCATION_MAX_STALENESS`` | with Redis: seconds without contact after which checks answer 503 |

Every problem raises :class:`ConfigurationError` naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._redis import check_redis_url
from .errors import ConfigurationError
from .jwks import StaticKeySet, check_key_url, load_jwks_file
from .revocation import RevocationList
from .verifier import CognitoVerifier, TokenUse, pool_issuers

__all__ = ["SETTING_NAMES", "Settings", "verifier_from_env"]

SETTING_NAMES = (
    "COGNITO_USER_POOL_ID",
    "COGNITO_CLIENT_ID",
    "COGNITO_TOKEN_USE",
    "COGNITO_ISSUER",
    "COGNITO_JWKS_URI",
    "COGNITO_JWKS_FILE",
    "COGNITO_LEEWAY",
    "COGNITO_JWKS_TTL",
    "COGNITO_JWKS_MAX_STALE",
    "COGNITO_REDIS_URL",
    "COGNITO_REVOCATION_MAX_STALENESS",
)
_TOKEN_USES: dict[str, TokenUse | None] = {"access": "access", "id": "id", "any": None}


def _named(name: str, error: ConfigurationError) -> ConfigurationError:
    return error if error.message.startswith(name) else ConfigurationError(f"{name}: {error.message}")


class _Reader:
    """Reads one setting at a time from ``values`` (then ``fallback``), accepting the obvious Python spellings."""

    def __init__(self, values: Mapping[str, Any], fallback: Mapping[str, Any] | None, source: str) -> None:
        self.values, self.fallback, self.source = values, fallback, source

    def raw(self, name: str) -> object:
        value = self.values.get(name)
        if value is None and self.fallback is not None:
            value = self.fallback.get(name)
        return value

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"{name} in the {self.source} must be a string")
        return value.strip() or None

    def client_ids(self) -> tuple[str, ...]:
        name = "COGNITO_CLIENT_ID"
        value = self.raw(name)
        if isinstance(value, (list, tuple)):
            items = [item.strip() for item in value if isinstance(item, str) and item.strip()]
            if len(items) != len(value):
                raise ConfigurationError(f"{name} in the {self.source} must hold non-empty strings")
        else:
            items = [item.strip() for item in (self.text(name) or "").split(",") if item.strip()]
        if not items:
            raise ConfigurationError(f"{name} is not set in the {self.source} (one app client id, or several)")
        return tuple(items)

    def redis_url(self) -> str | None:
        url = self.text("COGNITO_REDIS_URL")
        return None if url is None else check_redis_url(url, "COGNITO_REDIS_URL")

    def revocation_max_staleness(self) -> float | None:
        return self.seconds("COGNITO_REVOCATION_MAX_STALENESS", low=0, high=86400, low_included=False)

    def seconds(self, name: str, *, low: float, high: float, low_included: bool = True) -> float | None:
        """A number of seconds in ``[low, high]`` (``(low, high]`` without ``low_included``), or None when unset."""
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            seconds = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = math.nan
        above_low = low <= seconds if low_included else low < seconds
        if not math.isfinite(seconds) or not (above_low and seconds <= high):
            lowest = f"{low:g}" if low_included else f"more than {low:g}"
            raise ConfigurationError(f"{name} must be a number of seconds from {lowest} to {high:g}, not {value!r}")
        return seconds


@dataclass(frozen=True)
class Settings:
    """The verifier settings an app reads from its environment, each one already checked."""

    user_pool_id: str
    client_id: tuple[str, ...]
    token_use: TokenUse | None = "access"
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks_file: str | None = None
    leeway: float = 0.0
    jwks_ttl: float | None = None
    jwks_max_stale: float | None = None
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    revocation_max_staleness: float | None = None

    @classmethod
    def from_mapping(
        cls,
        values: Mapping[str, Any],
        *,
        source: str = "environment",
        fallback: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Read the ``COGNITO_*`` names from ``values`` (a name absent or ``None`` there is read from ``fallback``).

        Besides strings, ``COGNITO_CLIENT_ID`` may be a list, ``COGNITO_LEEWAY`` a number and ``COGNITO_JWKS_FILE`` a
        path. Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
        """
        read = _Reader(values, fallback, source)
        pool_id = read.text("COGNITO_USER_POOL_ID")
        if pool_id is None:
            raise ConfigurationError(f"COGNITO_USER_POOL_ID is not set in the {source}")
        client_ids = read.client_ids()
        raw_use = (read.text("COGNITO_TOKEN_USE") or "access").lower()
        if raw_use not in _TOKEN_USES:
            raise ConfigurationError(f"COGNITO_TOKEN_USE must be access, id or any, not {raw_use!r}")
        issuer = read.text("COGNITO_ISSUER")
        jwks_uri = read.text("COGNITO_JWKS_URI")
        jwks_file = read.text("COGNITO_JWKS_FILE")
        for name, url in (("COGNITO_ISSUER", issuer), ("COGNITO_JWKS_URI", jwks_uri)):
            if url is not None:
                try:
                    check_key_url(url, name)
                except ConfigurationError as error:
                    raise _named(name, error) from None
        try:
            pool_issuers(pool_id, issuer)
        except ConfigurationError as error:
            raise _named("COGNITO_USER_POOL_ID", error) from None
        if jwks_file is not None:
            if jwks_uri is not None:
                raise ConfigurationError("set COGNITO_JWKS_FILE (offline keys) or COGNITO_JWKS_URI, not both")
            try:
                StaticKeySet(load_jwks_file(jwks_file), source=f"JWKS file {jwks_file!r}")
            except ConfigurationError as error:
                raise _named("COGNITO_JWKS_FILE", error) from None
        return cls(
            user_pool_id=pool_id,
            client_id=client_ids,
            token_use=_TOKEN_USES[raw_use],
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks_file=jwks_file,
            leeway=read.seconds("COGNITO_LEEWAY", low=0, high=86400) or 0.0,
            jwks_ttl=read.seconds("COGNITO_JWKS_TTL", low=0, high=86400, low_included=False),
            jwks_max_stale=read.seconds("COGNITO_JWKS_MAX_STALE", low=0, high=7 * 86400),
            redis_url=read.redis_url(),
            revocation_max_staleness=read.revocation_max_staleness(),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``COGNITO_*`` environment variables; raises :class:`ConfigurationError` naming the bad one."""
        return cls.from_mapping(os.environ if environ is None else environ)

    def revocations(self) -> RevocationList | None:
        """A new revocation list shared through ``COGNITO_REDIS_URL`` (None when it is not set): build one per
        process and hand it to every verifier and sign-in of the app."""
        if self.redis_url is None:
            return None
        return RevocationList(redis_url=self.redis_url, max_staleness=self.revocation_max_staleness)

    def verifier(self, **options: Any) -> CognitoVerifier:
        """Build the :class:`CognitoVerifier`; ``options`` are its other keywords (``scopes=``, ``jwks_cache=``...)
        and win over the environment's settings (``leeway=5`` over ``COGNITO_LEEWAY``).

        With ``COGNITO_JWKS_FILE`` the verifier never touches the network (but for Redis, when
        ``COGNITO_REDIS_URL`` is set: the verifier then consults the shared revocation list, unless
        ``revocations=`` is given).
        """
        settings: dict[str, Any] = {
            "user_pool_id": self.user_pool_id,
            "client_id": list(self.client_id),
            "token_use": self.token_use,
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "jwks": self.jwks_file,
            "leeway": self.leeway,
        }
        if self.redis_url is not None and "revocations" not in options:
            settings["revocations"] = self.revocations()
        # The key-cache timings configure the verifier's own JWKSCache: a jwks_cache given in code replaces them.
        if "jwks_cache" not in options:
            if self.jwks_ttl is not None:
                settings["jwks_ttl"] = self.jwks_ttl
            if self.jwks_max_stale is not None:
                settings["jwks_max_stale"] = self.jwks_max_stale
        return CognitoVerifier(**{**settings, **options})


def revocation_settings(values: Mapping[str, Any], *, source: str = "environment") -> tuple[str | None, float | None]:
    """``COGNITO_REDIS_URL`` and ``COGNITO_REVOCATION_MAX_STALENESS`` read from ``values`` as :class:`Settings` reads
    them (None when unset). Raises :class:`ConfigurationError` naming a bad variable, never echoing the URL."""
    read = _Reader(values, None, source)
    return read.redis_url(), read.revocation_max_staleness()


def verifier_from_env(environ: Mapping[str, str] | None = None, **options: Any) -> CognitoVerifier:
    """One call for apps and workers: a :class:`CognitoVerifier` from the ``COGNITO_*`` environment variables.

    Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
    """
    return Settings.from_env(environ).verifier(**options)
