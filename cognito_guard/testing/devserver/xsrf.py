"""The sign-in form's defence against login CSRF: a random ``XSRF-TOKEN`` cookie that the form must echo back.

Without it, any site could post a form to ``/login`` carrying an attacker's credentials and sign the visitor in as
the attacker (login CSRF). Cognito ties its sign-in form to the same cookie. A site cannot read the cookie, so it
cannot put the matching value in the form; and as browsers share cookies between the ports of one host (an app on
127.0.0.1:8000 receives the stand-in's cookies), a post whose ``Sec-Fetch-Site`` says it came from another origin is
refused even when the pair matches.
"""

from __future__ import annotations

import hmac
import re
import secrets

__all__ = ["XSRF_COOKIE", "form_token", "is_genuine_post"]

XSRF_COOKIE = "XSRF-TOKEN"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) returns
# "none" is a navigation the user started (a reload, the address bar): no other site can produce it.
_OWN_FETCH_SITES = frozenset(("same-origin", "none"))


def form_token(cookie: str | None) -> str:
    """The token for a new sign-in form: the browser's current one when it has one, so that two sign-in tabs open
    at once both work, else a fresh random one (set it as the cookie with the form)."""
    if cookie and _TOKEN.fullmatch(cookie):
        return cookie
    return secrets.token_urlsafe(32)


def is_genuine_post(cookie: str | None, field: str | None, fetch_site: str | None) -> bool:
    """True when a posted sign-in form carries the token of its browser's cookie (compared in constant time) and,
    if the browser says where it came from (``Sec-Fetch-Site``), it came from the stand-in's own pages."""
    if fetch_site is not None and fetch_site.lower() not in _OWN_FETCH_SITES:
        return False
    if not cookie or not field or not _TOKEN.fullmatch(cookie):
        return False
    return hmac.compare_digest(cookie.encode("ascii"), field.encode("utf-8", "surrogatepass"))
