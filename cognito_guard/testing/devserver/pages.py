"""The hosted UI's HTML: a plain sign-in form and an error page. Everything echoed is HTML-escaped."""

from __future__ import annotations

from html import escape

from .pool import AuthorizeRequest

__all__ = ["GENERIC_SIGN_IN_ERROR", "error_page", "sign_in_page"]

# One message for unknown users and wrong passwords alike: the page must not reveal which usernames exist.
GENERIC_SIGN_IN_ERROR = "Incorrect username or password."

_STYLE = "body{font-family:sans-serif;max-width:24rem;margin:3rem auto}label,input,button{display:block;margin:.4rem 0}"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def sign_in_page(request: AuthorizeRequest, *, pool_id: str, error: str | None = None, username: str = "") -> str:
    """The sign-in form; hidden fields carry the authorize request, which the form target checks again.
    ``username`` refills the field after a failed attempt (the password never comes back)."""
    hidden = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in request.form_fields().items()
    )
    message = f'<p role="alert" class="error">{escape(error)}</p>\n' if error else ""
    body = (
        f"<h1>Sign in</h1>\n<p>Local Cognito stand-in, user pool {escape(pool_id)}, "
        f"app client {escape(request.client.client_id)}</p>\n{message}"
        '<form method="post" action="/login">\n'
        f"{hidden}\n"
        '<label for="username">Username</label>'
        f'<input id="username" name="username" value="{escape(username)}" autocomplete="username" required autofocus>\n'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>\n'
        '<button type="submit">Sign in</button>\n</form>'
    )
    return _page("Sign in", body)


def error_page(message: str) -> str:
    """An error the browser must not be redirected with (e.g. an unregistered redirect_uri)."""
    return _page("Error", f"<h1>An error was encountered with the requested page.</h1>\n<p>{escape(message)}</p>")
