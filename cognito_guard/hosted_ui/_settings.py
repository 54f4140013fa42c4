"""The hosted-UI client's settings: checks of redirect URLs, scopes and options, and reading them from ``COGNITO_*``
environment variables; each check takes the name to show (a keyword such as ``redirect_uri`` or a variable such as
``COGNITO_REDIRECT_URI``) and raises :class:`ConfigurationError` naming it, so a bad setting fails at start-up with a
message the user can act on. The domain check (``hosted_ui_base_url``) lives in the core (``_domains``), shared with
the online check, and is re-exported here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .._domains import hosted_ui_base_url
from .._keys import check_key_url, is_loopback_url
from ..errors import ConfigurationError
from ..verifier import pool_issuers

__all__ = ["_env_settings", "_option", "_redirect_url", "_scopes", "hosted_ui_base_url"]

_ENV_NAMES = {
    "domain": "COGNITO_DOMAIN",
    "user_pool_id": "COGNITO_USER_POOL_ID",
    "client_id": "COGNITO_CLIENT_ID",
    "client_secret": "COGNITO_CLIENT_SECRET",
    "redirect_uri": "COGNITO_REDIRECT_URI",
    "logout_uri": "COGNITO_LOGOUT_URI",
    "issuer": "COGNITO_ISSUER",
    "scopes": "COGNITO_SCOPES",
}


def _redirect_url(url: object, what: str) -> str:
    # Cognito's rule for callback and sign-out URLs: absolute, no fragment, https except http to localhost.
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL: {url!r}") from None
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))
    if not secure or not host or "#" in url or any(char.isspace() for char in url):
        raise ConfigurationError(
            f"{what} must be an absolute https:// URL without fragment (http:// only for localhost)"
        )
    return url


def _scopes(scopes: object, what: str) -> tuple[str, ...]:
    names = scopes.split() if isinstance(scopes, str) else scopes
    if not isinstance(names, Iterable):
        raise ConfigurationError(f"{what} must be scope names")
    try:
        result = tuple(dict.fromkeys(names))
    except TypeError:
        raise ConfigurationError(f"{what} must be scope names") from None
    if not all(isinstance(name, str) and name and not any(c.isspace() for c in name) for name in result):
        raise ConfigurationError(f"{what} must be non-empty scope names without whitespace")
    if "openid" not in result:
        raise ConfigurationError(f"{what} must include 'openid' (without it Cognito returns no ID token)")
    return result


def _option(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string")
    return value


def _env_text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} in the environment must be a string")
    return value.strip() or None


def _env_settings(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor keywords set in ``environ`` and not in ``overrides``, checked so that an error names the
    variable. Raises :class:`ConfigurationError` for a required variable that is missing or one that is invalid."""
    settings: dict[str, Any] = {}
    for keyword, name in _ENV_NAMES.items():
        if keyword not in overrides:
            value = _env_text(environ, name)
            if value is not None:
                settings[keyword] = value
    required = ["domain", "client_id", "redirect_uri"]
    if "verifier" not in overrides:
        required.append("user_pool_id")
    for keyword in required:
        if keyword not in settings and keyword not in overrides:
            raise ConfigurationError(f"{_ENV_NAMES[keyword]} is not set in the environment")
    # Check what came from the environment here, so that the error names the variable, not the keyword.
    if "issuer" in settings:
        check_key_url(settings["issuer"], "COGNITO_ISSUER")
    pool_id = overrides.get("user_pool_id", settings.get("user_pool_id"))
    if "user_pool_id" in settings:
        try:
            pool_issuers(settings["user_pool_id"], overrides.get("issuer", settings.get("issuer")))
        except ConfigurationError as error:
            raise ConfigurationError(f"COGNITO_USER_POOL_ID: {error.message}") from None
    if "domain" in settings:
        hosted_ui_base_url(settings["domain"], pool_id, "COGNITO_DOMAIN")
    if "client_id" in settings and any(c.isspace() or c == "," for c in settings["client_id"]):
        raise ConfigurationError("COGNITO_CLIENT_ID must be one app client id for the hosted UI")
    for keyword in ("redirect_uri", "logout_uri"):
        if keyword in settings:
            _redirect_url(settings[keyword], _ENV_NAMES[keyword])
    if "scopes" in settings:
        settings["scopes"] = _scopes(settings["scopes"], "COGNITO_SCOPES")
    return settings
