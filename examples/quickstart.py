"""Quickstart: verify Cognito tokens offline and see what cognito_guard decides, and why.

Run it with `python examples/quickstart.py`. No AWS account and no network: a LocalIssuer plays the
user pool (it mints Cognito-shaped tokens and publishes its JWKS), and the verifier gets that JWKS preloaded, exactly as
a worker would with COGNITO_JWKS_FILE.
"""

from __future__ import annotations

import asyncio
import time

from cognito_guard import CognitoVerifier, errors
from cognito_guard.testing import LocalIssuer

POOL_ID = "us-east-1_Example1"
CLIENT_ID = "web-client"


def main() -> int:
    pool = LocalIssuer(user_pool_id=POOL_ID, client_id=CLIENT_ID)

    # What an API behind Cognito writes: accept access tokens of our app client that carry the orders/read scope.
    verifier = CognitoVerifier(
        user_pool_id=POOL_ID,
        client_id=CLIENT_ID,
        token_use="access",
        scopes=["orders/read"],
        jwks=pool.jwks,  # offline keys; leave out to fetch https://cognito-idp.../.well-known/jwks.json
    )
    other_pool = LocalIssuer(user_pool_id="us-east-1_SomeoneElse", client_id=CLIENT_ID)
    now = time.time()

    cases = [
        ("alice's access token with orders/read", pool.access_token(username="alice", scopes=["orders/read"])),
        ("a machine-to-machine token", pool.client_credentials_token(client_id=CLIENT_ID, scopes=["orders/read"])),
        ("an expired token", pool.access_token(scopes=["orders/read"], issued_at=now - 7200, expires_in=3600)),
        ("an ID token where access tokens are expected", pool.id_token()),
        ("a token for another app client", pool.access_token(scopes=["orders/read"], client_id="other-client")),
        ("a token from another user pool", other_pool.access_token(scopes=["orders/read"])),
        ("a forged signature", pool.access_token(scopes=["orders/read"], bad_signature=True)),
        ("a token without the orders/read scope", pool.access_token(scopes=["profile"])),
        ("garbage", "not.a.token"),
        ("a pasted header", "Bearer " + pool.access_token(scopes=["orders/read"])),
    ]

    accepted = 0
    for label, token in cases:
        try:
            claims = verifier.verify_sync(token)
        except errors.CognitoGuardError as error:
            print(f"REJECT {error.status_code}  {label:48s} {error.code}: {error.message}")
        else:
            accepted += 1
            who = claims.username or f"client {claims.client_id}"
            print(f"ACCEPT 200  {label:48s} {who}, scopes {sorted(claims.scopes)}")

    # The async path gives the same answers without blocking an event loop.
    claims = asyncio.run(verifier.verify(pool.access_token(username="bob", scopes=["orders/read"])))
    print(f"ACCEPT 200  {'bob, through the async verify()':48s} {claims.username}")
    print(f"\n{accepted + 1} accepted, {len(cases) - accepted} rejected: every rejection has its own error code.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
