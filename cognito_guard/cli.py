"""The ``cognito-guard`` command: ``decode`` a token (unverified) or ``verify`` it against a user pool."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
