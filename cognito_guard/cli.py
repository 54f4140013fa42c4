"""The ``cognito-guard`` command: ``decode`` a token (unverified), ``verify`` it against a user pool, ``revoke`` a
sign-in, token or user on the shared revocation list, or run the local Cognito stand-in (``dev``) and mint tokens from
it (``dev token``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _token
from .config import Settings
from .errors import CognitoGuardError, ConfigurationError
from .verifier import CognitoVerifier

__all__ = ["main"]


def _read_token(value: str | None) -> str:
    # Reading from stdin by default keeps tokens out of shell history and process lists.
    raw = sys.stdin.read() if value in (None, "-") else value
    return (raw or "").strip()


def _revoke(args: argparse.Namespace) -> int:
    # Imported here: the other commands need no Redis (nor redis-py).
    from .revocation import RevocationList

    url = args.redis_url or os.environ.get("COGNITO_REDIS_URL", "").strip()
    try:
        if not url:
            raise ConfigurationError("revoke needs --redis-url or COGNITO_REDIS_URL (the list every worker follows)")
        if args.at is not None and args.user is None:
            raise ConfigurationError("--at goes with --user")
        from ._redis import check_redis_url

        with RevocationList(redis_url=check_redis_url(url, "--redis-url"), namespace=args.namespace) as revocations:
            if args.origin_jti is not None:
                revocations.revoke_family(args.origin_jti)
                done = f"revoked sign-in family origin_jti={args.origin_jti}"
            elif args.jti is not None:
                revocations.revoke_token(args.jti)
                done = f"revoked token jti={args.jti}"
            else:
                revocations.sign_out_user(args.user, at=args.at)
                until = "now" if args.at is None else f"{args.at:.15g} (Unix seconds)"
                done = f"signed out user sub={args.user} (tokens signed in until {until} are refused)"
    except CognitoGuardError as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 1
    print(done)
    return 0


def _decode(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    try:
        header, payload, _, _ = _token.split(token, 1 << 20)
        decoded: dict[str, Any] = {
            "header": _token.decode_json_object(header, "header"),
            "payload": _token.decode_json_object(payload, "payload"),
        }
    except CognitoGuardError as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 1
    print("warning: decoded only, NOT verified", file=sys.stderr)
    print(json.dumps(decoded, indent=2, sort_keys=True))
    return 0


def _build_verifier(args: argparse.Namespace) -> CognitoVerifier:
    # The options override the COGNITO_* environment variables of the same meaning; Settings checks them all.
    given = {
        "COGNITO_USER_POOL_ID": args.user_pool_id,
        "COGNITO_CLIENT_ID": ["(any)"] if args.any_client else args.client_id,
        "COGNITO_TOKEN_USE": args.token_use,
        "COGNITO_ISSUER": args.issuer,
        "COGNITO_JWKS_URI": args.jwks_uri,
        "COGNITO_JWKS_FILE": args.jwks_file,
        "COGNITO_LEEWAY": args.leeway,
    }
    settings = Settings.from_mapping(given, source="options or environment", fallback=os.environ)
    return CognitoVerifier(
        user_pool_id=settings.user_pool_id,
        client_id=None if args.any_client else list(settings.client_id),
        token_use=settings.token_use,
        issuer=settings.issuer,
        jwks_uri=settings.jwks_uri,
        jwks=settings.jwks_file,
        leeway=settings.leeway,
        scopes=args.scope,
        groups=args.group,
    )


def _verify(args: argparse.Namespace) -> int:
    try:
        verifier = _build_verifier(args)
    except ConfigurationError as error:
        print(f"configuration_error: {error.message}", file=sys.stderr)
        return 2
    try:
        claims = verifier.verify_sync(_read_token(args.token))
    except CognitoGuardError as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 1
    finally:
        verifier.close()
    print(json.dumps(claims.to_dict(), indent=2, sort_keys=True))
    return 0


def _dev_pool(args: argparse.Namespace, *, create_keys: bool) -> Any:
    from .testing.devserver import DEFAULT_APP_URLS, LocalUserPool, PoolKeys, default_config, load_config

    app_urls = getattr(args, "app_url", None)
    rotation = getattr(args, "refresh_token_rotation", False)
    grace = getattr(args, "retry_grace_period", None)
    if args.config and app_urls:
        raise ConfigurationError("--app-url is for the built-in pool: list callback_urls in your --config file instead")
    if args.config and (rotation or grace is not None):
        raise ConfigurationError(
            "--refresh-token-rotation and --retry-grace-period are for the built-in pool: "
            "set them in your --config file instead"
        )
    if grace is not None and not rotation:
        raise ConfigurationError("--retry-grace-period goes with --refresh-token-rotation")
    if args.config:
        config = load_config(args.config)
    else:
        config = default_config(
            app_urls or DEFAULT_APP_URLS, refresh_token_rotation=rotation, retry_grace_period_seconds=grace or 0
        )
    keys = None
    if args.keys:
        keys = PoolKeys.load_or_create(args.keys) if create_keys else PoolKeys.load(args.keys)
    return LocalUserPool(config, keys=keys)


def _public_url(args: argparse.Namespace) -> str:
    """--public-url, or the address ``dev`` was started on (127.0.0.1 for every interface): the issuer's base."""
    from .testing.devserver.config import origin
    from .testing.devserver.serve import default_public_url

    if args.public_url:
        return origin(args.public_url, "--public-url")
    return default_public_url(args.host, args.port)


def _dev(args: argparse.Namespace) -> int:
    try:
        # Imported first, so that a missing extra is reported before --keys DIR is created.
        import uvicorn

        from .testing.devserver.app import create_app
        from .testing.devserver.serve import listens_everywhere

        public_url = _public_url(args)
        pool = _dev_pool(args, create_keys=True)
    except ConfigurationError as error:
        print(f"configuration_error: {error.message}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(
            f"cognito-guard dev needs starlette and uvicorn ({error}): pip install cognito-guard[dev-server]",
            file=sys.stderr,
        )
        return 2
    print(pool.config.describe())
    print(f"issuer {pool.issuer(public_url)}\nhosted UI {public_url}/oauth2/authorize", flush=True)
    if not args.public_url and listens_everywhere(args.host):
        print(
            f"listening on every interface, but tokens name {public_url} in their issuer: pass --public-url with the "
            "address other machines use (and the same to `dev token`)",
            file=sys.stderr,
        )
    if not args.keys:
        print("keys are new and in memory: pass --keys DIR to keep tokens valid across restarts", file=sys.stderr)
    uvicorn.run(create_app(pool=pool, public_url=public_url), host=args.host, port=args.port, log_level="info")
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    if not args.keys:
        print("dev token needs --keys DIR, the same directory as the running `cognito-guard dev`", file=sys.stderr)
        return 2
    if not Path(args.keys).is_dir():
        print(
            f"dev token: no keys directory {args.keys}: pass the --keys DIR of the running `cognito-guard dev`",
            file=sys.stderr,
        )
        return 2
    if (args.user is None) == (args.client is None):
        print("dev token needs exactly one of --user NAME or --client CLIENT_ID", file=sys.stderr)
        return 2
    try:
        base_url = _public_url(args)
        pool = _dev_pool(args, create_keys=False)  # new keys would sign tokens the running stand-in refuses
        scopes = tuple(args.scope) if args.scope else None
        if args.user is not None:
            tokens = pool.sign_in(args.user, base_url=base_url, client_id=args.client_id, scopes=scopes)
            token = tokens.id_token if args.id_token else tokens.access_token
            if token is None:
                raise ConfigurationError("no ID token without the openid scope")
        else:
            token = pool.client_credentials(args.client, base_url=base_url, scopes=scopes)
    except ConfigurationError as error:
        print(f"configuration_error: {error.message}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _dev_options(*, defaults: bool) -> argparse.ArgumentParser:
    """The options ``dev`` and ``dev token`` share. On ``token`` they default to nothing at all, so that an option
    given before ``token`` (``dev --keys K token``) is not overwritten by the subcommand's default."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--host", default=default("127.0.0.1"), help="address to listen on (default: loopback only)")
    options.add_argument("--port", type=int, default=default(9229), help="port (default 9229)")
    options.add_argument(
        "--config", default=default(None), help="pool configuration, .toml or .json (default: the built-in pool)"
    )
    options.add_argument(
        "--keys",
        default=default(None),
        help="directory to load the signing keys from, or (dev only) to save new ones to",
    )
    options.add_argument(
        "--public-url",
        default=default(None),
        metavar="URL",
        help="the stand-in's address in issuers and discovery, whatever Host a request carries "
        "(default http://HOST:PORT; http://127.0.0.1:PORT when HOST is 0.0.0.0 or ::)",
    )
    return options


def _add_dev(commands: Any) -> None:
    dev = commands.add_parser(
        "dev",
        parents=[_dev_options(defaults=True)],
        help="run a local Cognito stand-in (user pool + hosted UI) for development",
    )
    dev.add_argument(
        "--app-url",
        action="append",
        metavar="URL",
        help="your app, e.g. http://localhost:5000: local-client accepts its /auth/callback and sign-out to URL/ "
        "(repeatable; default http://localhost:8000 and http://127.0.0.1:8000; built-in pool only)",
    )
    dev.add_argument(
        "--refresh-token-rotation",
        action="store_true",
        help="local-client rotates refresh tokens on refresh, as a Cognito app client with rotation on (built-in pool)",
    )
    dev.add_argument(
        "--retry-grace-period",
        type=int,
        metavar="SECONDS",
        help="with --refresh-token-rotation: how long a rotated refresh token keeps working, 0-60 (default 0)",
    )
    dev.set_defaults(run=_dev)
    dev_commands = dev.add_subparsers(dest="dev_command")
    token = dev_commands.add_parser(
        "token",
        parents=[_dev_options(defaults=False)],
        help="print a fresh token of the stand-in (same --keys/--host/--port as it)",
    )
    token.add_argument("--user", help="a configured user: an access token as after a hosted-UI sign-in")
    token.add_argument("--client", help="a confidential client: a client-credentials access token")
    token.add_argument("--client-id", default="local-client", help="the app client a --user signs in to")
    token.add_argument("--scope", action="append", help="scope to grant, repeatable (default: all the client's)")
    token.add_argument("--id-token", action="store_true", help="print the ID token instead (--user only)")
    token.set_defaults(run=_dev_token)


def _add_revoke(commands: Any) -> None:
    revoke = commands.add_parser(
        "revoke",
        help="put a sign-in, a token or a user on the revocation list every worker follows (Redis)",
        description="Workers whose verifiers consult the list (COGNITO_REDIS_URL) refuse the tokens within a second. "
        "Exit 0 with a one-line confirmation, exit 1 with the error code.",
    )
    revoke.add_argument("--redis-url", help="the list's Redis (default: COGNITO_REDIS_URL)")
    revoke.add_argument("--namespace", default="cognito_guard", help="prefix of the list's keys (default %(default)s)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--origin-jti", metavar="ID", help="a whole sign-in: every token sharing this origin_jti")
    which.add_argument("--jti", metavar="ID", help="one token")
    which.add_argument("--user", metavar="SUB", help="every token of this user (sub) signed in until now")
    revoke.add_argument("--at", type=float, help="with --user: the sign-out time in Unix seconds (default now)")
    revoke.set_defaults(run=_revoke)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cognito-guard", description="Verify and inspect Amazon Cognito tokens.")
    commands = parser.add_subparsers(dest="command", required=True)

    decode = commands.add_parser("decode", help="print a token's header and payload WITHOUT verifying it")
    decode.add_argument("token", nargs="?", help="the token, or - / nothing to read it from stdin")
    decode.set_defaults(run=_decode)

    verify = commands.add_parser(
        "verify",
        help="verify a token; print its claims as JSON (exit 0) or the error code and message (exit 1)",
        description="Options default to the COGNITO_* environment variables of the same meaning.",
    )
    verify.add_argument("token", nargs="?", help="the token, or - / nothing to read it from stdin")
    verify.add_argument("--user-pool-id", help="e.g. us-east-1_Abc123XYZ (COGNITO_USER_POOL_ID)")
    verify.add_argument("--client-id", action="append", help="accepted app client id, repeatable (COGNITO_CLIENT_ID)")
    verify.add_argument("--any-client", action="store_true", help="accept tokens of any app client (opt-out)")
    verify.add_argument("--token-use", choices=("access", "id", "any"), help="(COGNITO_TOKEN_USE)")
    verify.add_argument("--issuer", help="issuer override for emulators and local stand-ins (COGNITO_ISSUER)")
    verify.add_argument("--jwks-uri", help="JWKS URL override (COGNITO_JWKS_URI)")
    verify.add_argument("--jwks-file", help="verify offline with the keys in this JWKS file (COGNITO_JWKS_FILE)")
    verify.add_argument("--leeway", type=float, help="seconds of clock skew allowed (COGNITO_LEEWAY)")
    verify.add_argument("--scope", action="append", help="required scope, repeatable (all required)")
    verify.add_argument("--group", action="append", help="required group, repeatable (any one suffices)")
    verify.set_defaults(run=_verify)
    _add_revoke(commands)
    _add_dev(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
