"""Cognito's domains: the hosted-UI (managed login) base URL from a domain as users write it, and the user-pool API
endpoint of a pool's issuer. Core-level, so that the hosted UI and the online check read ``COGNITO_DOMAIN`` alike.
Each check takes the name to show (a keyword or an environment variable) and raises :class:`ConfigurationError`
naming it."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ._keys import is_loopback_url
from .errors import ConfigurationError

__all__ = ["REGION", "hosted_ui_base_url", "user_pool_api_url"]

REGION = r"[a-z]{2,4}(?:-[a-z]+)+-\d+"
_REGIONAL_POOL_ID = re.compile(rf"({REGION})_[0-9A-Za-z]+")
_COGNITO_ISSUER = re.compile(rf"https://(?:issuer-)?cognito-idp\.({REGION})\.(amazonaws\.com(?:\.cn)?)/[^/]+")
_DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _region(user_pool_id: str | None, what: str) -> str:
    match = _REGIONAL_POOL_ID.fullmatch(user_pool_id) if isinstance(user_pool_id, str) else None
    if match is None:
        raise ConfigurationError(
            f"{what} is a domain prefix: a Cognito user_pool_id such as 'us-east-1_Abc123XYZ' is needed for its region"
        )
    return match.group(1)


def hosted_ui_base_url(domain: object, user_pool_id: str | None, what: str = "domain") -> str:
    """``https://host[:port]`` for a host, an https URL, an http URL to loopback, or a bare prefix (region taken
    from the pool id); no path, query, fragment or user name. Shared by ``HostedUIClient``, FastAPI's ``HostedUI``
    and ``CognitoOnlineCheck``.
    """
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"{what} must be a non-empty string such as 'auth.example.com'")
    value = domain.strip()
    if _DOMAIN_PREFIX.fullmatch(value) and value != "localhost":
        return f"https://{value}.auth.{_region(user_pool_id, what)}.amazoncognito.com"
    url = value if "://" in value else f"https://{value}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid host or URL: {domain!r}") from None
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))
    if (
        not secure
        or not (_HOST_NAME.fullmatch(host) or _is_ip(host))
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or "?" in url
        or "#" in url
    ):
        raise ConfigurationError(
            f"{what} must be a host, an https:// URL without path, or http:// to localhost: {domain!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def user_pool_api_url(issuer: str) -> str | None:
    """``https://cognito-idp.{region}.amazonaws.com/`` (``.com.cn`` in China) of a Cognito pool's issuer; ``None``
    for any other issuer (an emulator's, a custom one), whose API endpoint must be given."""
    match = _COGNITO_ISSUER.fullmatch(issuer)
    return None if match is None else f"https://cognito-idp.{match.group(1)}.{match.group(2)}/"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
