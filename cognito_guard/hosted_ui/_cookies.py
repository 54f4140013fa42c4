"""The cookie rules shared by ``Sessions`` and ``PendingSignIns``: checks of cookie names, paths and the
``__Secure-``/``__Host-`` prefixes (a bad setting fails at start-up, not silently in the browser), the automatic
``Secure`` flag (set unless the request is plain http to localhost or a loopback address; an http site on any other
host still gets it, so browsers drop the cookie: secure by default, opt out explicitly) and the ``Set-Cookie`` value
itself (always ``HttpOnly``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .._keys import is_loopback_url
from ..errors import ConfigurationError

__all__ = [
    "_MAX_COOKIE_CHARS",
    "_check_cookie_name",
    "_check_cookie_path",
    "_check_cookie_prefix",
    "_is_secure",
    "_set_cookie",
]

_MAX_COOKIE_CHARS = 4096  # name + "=" + value; what every browser keeps
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 / RFC 2616 token
_COOKIE_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]*")  # no controls, spaces or ";"


def _check_cookie_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
        raise ConfigurationError(f"{what} must be a cookie name of letters, digits and !#$%&'*+-.^_`|~: {name!r}")


def _check_cookie_path(path: str, what: str) -> None:
    if not isinstance(path, str) or not _COOKIE_PATH.fullmatch(path):
        raise ConfigurationError(f"{what} must start with '/' and contain no spaces, controls or ';': {path!r}")


def _check_cookie_prefix(name: str, secure: bool | None, path: str, domain: str | None) -> None:
    """Browsers refuse __Secure-/__Host- cookies that break the prefix's rules; fail at start-up instead."""
    if name.startswith(("__Secure-", "__Host-")) and secure is False:
        raise ConfigurationError(f"cookie name {name!r} requires Secure; do not set secure=False")
    if name.startswith("__Host-") and (path != "/" or domain is not None):
        raise ConfigurationError(f"cookie name {name!r} requires path='/' and no domain")


def _is_secure(setting: bool | None, name: str, request_url: str) -> bool:
    if setting is not None:
        return setting
    if name.startswith(("__Secure-", "__Host-")):
        return True
    try:
        plain_http = urlsplit(request_url).scheme == "http"
    except ValueError:
        return True
    return not (plain_http and is_loopback_url(request_url))


def _set_cookie(
    name: str, value: str, *, path: str, domain: str | None, max_age: int, same_site: str, secure: bool
) -> str:
    attributes = [f"{name}={value}", f"Path={path}"]
    if domain is not None:
        attributes.append(f"Domain={domain}")
    attributes += [f"Max-Age={max_age}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)
