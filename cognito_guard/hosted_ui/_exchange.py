"""What the sign-in routes exchange with an adapter, as plain data: the request it saw, the answer to send, the
signed-in user; and the small pages and checks they share (``next`` paths, OAuth error codes)."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

from ..claims import Claims
from ..errors import ServiceUnavailableError
from ._flow import TokenSet

__all__ = ["_NO_STORE", "SignedInUser", "WebRequest", "WebResponse", "_Check", "_page", "_shown", "safe_next_path"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_NEXT = 2048
_OAUTH_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_URL_SYNTAX = "/?#[]@!$&'()*+,;=:%-._~"  # RFC 3986 reserved and unreserved characters, and existing %-escapes


def safe_next_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/profile?tab=1``), else ``default``: never an open redirect.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host`` as ``//host``),
    control characters, anything not starting with a single ``/``.
    """
    if not value or not value.startswith("/") or value.startswith("//") or _CONTROL.search(value):
        return default
    # Percent-encode what is not URL syntax (spaces, non-ASCII): a Location header must be ASCII. The length limit
    # applies to the encoded form (up to 9 times longer), which travels in the pending sign-in's cookie.
    encoded = quote(value, safe=_URL_SYNTAX)
    return encoded if len(encoded) <= _MAX_NEXT else default


def _cookie_pairs(headers: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The name-value pairs of ``Cookie`` request headers (HTTP/2 may split one into several). Values are taken as
    sent, quotes included: the sign-in's own cookies are base64url and never quoted."""
    for header in headers:
        for item in header.split(";"):
            name, equals, value = item.partition("=")
            name = name.strip()
            if equals and name:
                yield name, value.strip()


def _unambiguous(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each name with its value, or with ``""`` when it comes more than once: present, but never trusted."""
    values: dict[str, str] = {}
    for name, value in pairs:
        values[name] = "" if name in values else value
    return values


def _repeated(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Every value of each name that comes more than once."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return {name: tuple(each) for name, each in values.items() if len(each) > 1}


@dataclass(frozen=True)
class WebRequest:
    """What the sign-in needs from a request: its full URL, path with query, query parameters, cookies and Accept."""

    url: str
    path_with_query: str
    query: Mapping[str, str]
    cookies: Mapping[str, str]
    accept: str = ""
    repeated_cookies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_raw(
        cls,
        *,
        url: str,
        path: str,
        query_string: bytes,
        cookie_headers: Iterable[str],
        accept: str = "",
    ) -> WebRequest:
        """Build one from what every framework has: the URL without its query, the path, the raw query bytes and the
        raw ``Cookie`` headers.

        The query is decoded here, the same in every adapter, and bytes that are not UTF-8 become U+FFFD instead of
        an error (Starlette and Werkzeug raise on them: a 500). A name that comes twice gets the empty value
        (frameworks differ: Starlette keeps the last value, Flask the first). Two session cookies mean one was
        planted, for instance by a sibling subdomain with a longer ``Path`` so that browsers send it first; two
        ``state`` or ``code`` parameters mean a forged callback. Neither is guessed at: the request counts as signed
        out, or its callback as incomplete, while the name stays present so that signing out still clears that
        cookie (and ends the genuine session: see :meth:`cookie_readings`).
        """
        query = query_string.decode("utf-8", "replace")
        cookies = list(_cookie_pairs(cookie_headers))
        return cls(
            url=url,
            path_with_query=path + (f"?{query}" if query else ""),
            query=_unambiguous(parse_qsl(query, keep_blank_values=True, errors="replace")),
            cookies=_unambiguous(cookies),
            accept=accept,
            repeated_cookies=_repeated(cookies),
        )

    def cookie_readings(self, names: Iterable[str], limit: int = 64) -> Iterator[Mapping[str, str]]:
        """:attr:`cookies`, or when some of ``names`` came twice, each way of choosing one value for each of those (at
        most ``limit``; other repeated names keep their empty value). Only for ending sessions: signing out tries every
        reading, so a planted cookie next to the genuine one cannot keep the genuine session alive."""
        repeated = {name: self.repeated_cookies[name] for name in names if name in self.repeated_cookies}
        if not repeated:
            yield self.cookies
            return
        for choice in itertools.islice(itertools.product(*repeated.values()), limit):
            yield {**self.cookies, **dict(zip(repeated, choice, strict=True))}

    @property
    def wants_html(self) -> bool:
        """A browser navigation (redirect it to sign in) rather than an API call (answer 401)."""
        return "text/html" in self.accept.lower()


@dataclass
class WebResponse:
    """An answer for the adapter to send: status, optional redirect, ``Set-Cookie`` values, body."""

    status: int
    location: str | None = None
    set_cookies: list[str] = field(default_factory=list)
    body: str = ""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=lambda: dict(_NO_STORE))


@dataclass(frozen=True)
class SignedInUser:
    """The signed-in user of a request: the verified ID token's claims and the session's tokens."""

    claims: Claims
    tokens: TokenSet

    @property
    def sub(self) -> str:
        return self.claims.sub

    @property
    def username(self) -> str | None:
        return self.claims.username

    @property
    def email(self) -> str | None:
        return self.claims.email

    @property
    def groups(self) -> tuple[str, ...]:
        return self.claims.groups

    @property
    def access_token(self) -> str:
        """For calling your APIs on the user's behalf; never log it."""
        return self.tokens.access_token


@dataclass
class _Check:
    """The outcome of looking at a request's session: who (or nobody), and cookies to set (after a refresh)."""

    user: SignedInUser | None
    set_cookies: list[str] = field(default_factory=list)
    unavailable: ServiceUnavailableError | None = None


def _shown(oauth_error: str) -> str:
    """An OAuth error code fit to show: whoever sent the browser to the callback wrote it, so only a short code of
    RFC 6749's ``error`` shape (``access_denied``, ``invalid_request``) is echoed, never free text."""
    return oauth_error if _OAUTH_ERROR_CODE.fullmatch(oauth_error) else "unrecognised error"


def _page(title: str, message: str, link: tuple[str, str] | None = None) -> str:
    anchor = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{anchor}</body></html>"
    )
