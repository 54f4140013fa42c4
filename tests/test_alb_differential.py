"""The differential rule for ALB tokens (issue 13, "Done means"): no token that aws-jwt-verify's ``AlbJwtVerifier``
rejects is accepted by AlbVerifier, except where we are deliberately stricter (and docs/alb.md says so).

Both verifiers judge the same corpus of tokens minted by ``LocalAlb`` with the real clock (aws-jwt-verify reads
``Date.now()``), with the same ALB ARN, issuer, client and preloaded keys. aws-jwt-verify runs under Node from
``benchmarks/.node``, installed from the npm registry when missing (as ``make bench`` does); without node, or when
npm cannot install it, the test is skipped and says why.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cognito_guard import AlbVerifier
from cognito_guard.errors import CognitoGuardError
from cognito_guard.testing import AlbKeyPair, LocalAlb

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "benchmarks" / ".node"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"
CLIENT = "client-a"

RUNNER = """
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [nodeDir, inputPath] = process.argv.slice(2);
const require = createRequire(join(nodeDir, "package.json"));
const { AlbJwtVerifier } = require("aws-jwt-verify");
const { albArn, issuer, clientId, keys, tokens } = JSON.parse(readFileSync(inputPath, "utf8"));
const verifier = AlbJwtVerifier.create({ albArn, issuer, clientId });
for (const [kid, pem] of Object.entries(keys)) {
  const jwk = createPublicKey(pem).export({ format: "jwk" });
  verifier.cacheJwks({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] });
}
const results = tokens.map((token) => {
  try {
    verifier.verifySync(token);
    return "accept";
  } catch (err) {
    return `refuse: ${err.constructor.name}`;
  }
});
process.stdout.write(JSON.stringify(results));
"""

ACCEPT, REFUSE = "accept", "refuse"
# Where we refuse what aws-jwt-verify accepts, on purpose (each one is listed in docs/alb.md).
STRICTER = {
    "no exp": "exp is required (an ALB always writes it)",
    "no sub": "sub is required (the user's identity)",
    "iat in the future": "iat, when present, must not be in the future",
    "a single '=' where base64 writes two or none": "padding must be exactly what base64 writes for the length",
    "email_verified 'yes'": "string booleans are 'true' or 'false'",
    "cognito:groups a string": "standard claims must have their JSON type",
    "crit header": "a crit header is refused",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def bogus_padding(alb: LocalAlb, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Signed with one '=' after every segment, where base64 writes two or none (as aws-jwt-verify's own tests pad):
    a filler claim is grown until no segment has the one length (3 mod 4) for which one '=' is right."""

    def bare(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    for size in range(16):
        filled = bare(json.dumps({**payload, "filler": "x" * size}).encode())
        head = bare(json.dumps({**header, "filler": "x" * size}).encode())
        if len(filled) % 4 != 3 and len(head) % 4 != 3:
            signing_input = f"{head}=.{filled}="
            return f"{signing_input}.{bare(alb.key.sign(signing_input.encode()))}="
    raise AssertionError("no filler size gives wrongly padded segments")


def corpus(alb: LocalAlb) -> dict[str, str]:
    """Tokens by what is special about them."""
    now = int(time.time())
    header = {
        "typ": "JWT",
        "kid": alb.key.kid,
        "alg": "ES256",
        "iss": alb.issuer,
        "client": alb.client_id,
        "signer": alb.alb_arn,
        "exp": now + 120,
    }
    payload = {"sub": "u-1", "email_verified": "true", "email": "a@example.com", "username": "a", "exp": now + 120}
    payload["iss"] = alb.issuer

    def signed(header_changes: dict[str, Any] | None = None, payload_changes: dict[str, Any] | None = None) -> str:
        h = {key: value for key, value in {**header, **(header_changes or {})}.items() if value is not None}
        p = {key: value for key, value in {**payload, **(payload_changes or {})}.items() if value is not None}
        return alb.sign(h, p, key=alb.key)

    valid = alb.data_token()
    parts = valid.split(".")
    other_key = AlbKeyPair()
    tokens = {
        "valid, padded": valid,
        "valid, unpadded": alb.data_token(padded=False),
        "userinfo with extra claims": alb.data_token(claims={"name": "A", "identities": "[]", "custom:tier": "gold"}),
        "email_verified false": alb.data_token(claims={"email_verified": "false"}),
        "signature padding stripped": ".".join([*parts[:2], parts[2].rstrip("=")]),
        "another ALB of the region": alb.other_alb().data_token(),
        "no signer": signed({"signer": None}),
        "no client in the header": signed({"client": None}),
        "another app client": alb.data_token(headers={"client": "someone-else"}),
        "another issuer": alb.data_token(claims={"iss": "https://accounts.example.com"}),
        "expired": alb.data_token(expires_in=-60),
        "nbf in the future": signed(payload_changes={"nbf": now + 600}),
        "bad signature": alb.data_token(bad_signature=True),
        "payload of another token": ".".join([parts[0], alb.data_token(username="root").split(".")[1], parts[2]]),
        "RS256 header": alb.data_token(headers={"alg": "RS256"}),
        "HS256 header": alb.data_token(headers={"alg": "HS256"}),
        "alg none": alb.data_token(headers={"alg": "none"}),
        "kid not a UUID": alb.data_token(headers={"kid": "key-1"}),
        "unknown kid": alb.data_token(key=other_key),
        "exp a string": signed(payload_changes={"exp": str(now + 120)}),
        "sub a number": signed(payload_changes={"sub": 7}),
        "standard base64 alphabet": valid.replace("-", "+").replace("_", "/") if "-" in valid or "_" in valid else "",
        "three '=' on the signature": ".".join([*parts[:2], parts[2].rstrip("=") + "==="]),
        "two segments": ".".join(parts[:2]),
        # deliberately stricter
        "no exp": signed({"exp": None}, {"exp": None}),
        "no sub": signed(payload_changes={"sub": None}),
        "iat in the future": signed(payload_changes={"iat": now + 600}),
        "a single '=' where base64 writes two or none": bogus_padding(alb, header, payload),
        "email_verified 'yes'": alb.data_token(claims={"email_verified": "yes"}),
        "cognito:groups a string": alb.data_token(claims={"cognito:groups": "admin"}),
        "crit header": alb.data_token(headers={"crit": ["exp"], "exp": now + 120}),
    }
    return {name: token for name, token in tokens.items() if token}


EXPECTED = {
    "valid, padded": (ACCEPT, ACCEPT),
    "valid, unpadded": (ACCEPT, ACCEPT),
    "userinfo with extra claims": (ACCEPT, ACCEPT),
    "email_verified false": (ACCEPT, ACCEPT),
    "signature padding stripped": (ACCEPT, ACCEPT),
    **{name: (REFUSE, ACCEPT) for name in STRICTER},
}


def ours(verifier: AlbVerifier, token: str) -> str:
    try:
        verifier.verify_sync(token)
    except CognitoGuardError as error:
        return f"{REFUSE}: {error.code}"
    return ACCEPT


@pytest.fixture(scope="module")
def aws_jwt_verify(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], list[str]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the differential test against aws-jwt-verify needs Node.js")
    if not (NODE_DIR / "node_modules" / "aws-jwt-verify" / "package.json").exists():
        # Installed from the npm registry as `make bench` does it (benchmarks/verify.py), into the git-ignored .node.
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else "python3",
                "-c",
                "import sys; sys.path.insert(0, 'benchmarks'); import shutil, verify; "
                "reason = verify.install_aws_jwt_verify(shutil.which('npm')); print(reason or '')",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        reason = done.stdout.strip() if done.returncode == 0 else done.stderr.strip()[-300:]
        if reason:
            pytest.skip(f"aws-jwt-verify could not be installed in {NODE_DIR}: {reason}")
    folder = tmp_path_factory.mktemp("aws-jwt-verify")
    script = folder / "alb.mjs"
    script.write_text(RUNNER)

    def run(document: dict[str, Any]) -> list[str]:
        source = folder / "input.json"
        source.write_text(json.dumps(document))
        done = subprocess.run(
            [node, str(script), str(NODE_DIR), str(source)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        results: list[str] = json.loads(done.stdout)
        return results

    return run


def test_no_alb_token_is_accepted_that_aws_jwt_verify_rejects_except_where_we_are_stricter(
    aws_jwt_verify: Callable[[dict[str, Any]], list[str]],
) -> None:
    alb = LocalAlb(alb_arn=ARN, issuer=ISSUER, client_id=CLIENT)
    tokens = corpus(alb)
    verifier = alb.verifier(clock=time.time)

    theirs = aws_jwt_verify(
        {"albArn": ARN, "issuer": ISSUER, "clientId": CLIENT, "keys": alb.keys, "tokens": list(tokens.values())}
    )
    decisions = {
        name: (ours(verifier, token), their) for (name, token), their in zip(tokens.items(), theirs, strict=True)
    }

    accepted_by_us_only = {name: pair for name, pair in decisions.items() if pair[0] == ACCEPT and pair[1] != ACCEPT}
    assert accepted_by_us_only == {}
    for name, (us, them) in decisions.items():
        expected = EXPECTED.get(name, (REFUSE, REFUSE))
        assert (us.split(":")[0], them.split(":")[0]) == expected, (name, us, them)


def test_with_any_client_accepted_a_token_without_a_client_is_still_refused_where_aws_jwt_verify_accepts_it(
    aws_jwt_verify: Callable[[dict[str, Any]], list[str]],
) -> None:
    alb = LocalAlb(alb_arn=ARN, issuer=ISSUER, client_id=CLIENT)
    verifier = alb.verifier(client_id=None, clock=time.time)
    tokens = {
        "valid": alb.data_token(),
        "another app client": alb.data_token(headers={"client": "someone-else"}),
        "no client in the header": alb.data_token(headers={"client": None}),
    }

    theirs = aws_jwt_verify(
        {"albArn": ARN, "issuer": ISSUER, "clientId": None, "keys": alb.keys, "tokens": list(tokens.values())}
    )
    decisions = {
        name: (ours(verifier, token).split(":")[0], their.split(":")[0])
        for (name, token), their in zip(tokens.items(), theirs, strict=True)
    }

    assert decisions == {
        "valid": (ACCEPT, ACCEPT),
        "another app client": (ACCEPT, ACCEPT),
        "no client in the header": (REFUSE, ACCEPT),  # deliberately stricter: an ALB always names its client
    }
