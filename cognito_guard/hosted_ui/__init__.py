"""Sign users of server-rendered web apps in through Cognito's hosted UI (managed login).

Framework-neutral pieces; the Starlette/FastAPI and Flask routes live in ``cognito_guard.hosted_ui.starlette`` and
``cognito_guard.hosted_ui.flask``.
"""
