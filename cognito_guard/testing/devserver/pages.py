"""The hosted UI's HTML: a plain sign-in form, the page refusing a forged or stale form, and an error page.
Everything echoed is HTML-escaped."""

from __future__ import annotations

from html import escape

from .pool import AuthorizeRequest

__all__ = ["CSRF_FIELD", "GENERIC_SIGN_IN_ERROR", "error_page", "expired_form_page", "sign_in_page"]

CSRF_FIELD = "_csrf"  # the form's copy of the XSRF-TOKEN cookie, as in Cognito's own sign-in form

# One message for unknown users and wrong passwords alike: the page must not reveal which usernames exist.
GENERIC_SIGN_IN_ERROR = "Incorrect username or password."

_STYLE = "body{font-family:sans-serif;max-width:24rem;margin:3rem auto}label,input,button{display:block;margin:.4rem 0}"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def sign_in_page(
    request: AuthorizeRequest, *, pool_id: str, csrf_token: str, error: str | None = None, username: str = ""
) -> str:
    """The sign-in form; hidden fields carry the authorize request, which the form target checks again, and
    ``csrf_token`` (the value of the browser's XSRF-TOKEN cookie). ``username`` refills the field after a failed
    attempt (the password never comes back)."""
    fields = {**request.form_fields(), CSRF_FIELD: csrf_token}
    hidden = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
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


def expired_form_page(restart_url: str | None) -> str:
    """The answer to a sign-in form posted without its XSRF-TOKEN cookie, with another token, or from another site.
    ``restart_url`` (the authorize request the form carried, if it checks out) is offered to start again."""
    restart = (
        f'<p><a href="{escape(restart_url)}">Start the sign-in again</a></p>'
        if restart_url
        else "<p>Go back to the app and start the sign-in again.</p>"
    )
    body = (
        "<h1>This sign-in form has expired</h1>\n"
        "<p>The sign-in form expired or was posted from another site, so nobody was signed in.</p>\n"
        f"{restart}"
    )
    return _page("Sign-in form expired", body)


def error_page(message: str) -> str:
    """An error the browser must not be redirected with (e.g. an unregistered redirect_uri)."""
    return _page("Error", f"<h1>An error was encountered with the requested page.</h1>\n<p>{escape(message)}</p>")
