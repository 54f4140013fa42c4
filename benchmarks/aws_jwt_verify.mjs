// The aws-jwt-verify side of benchmarks/verify.py: run by it, not by hand.
//
// Usage: node aws_jwt_verify.mjs NODE_DIR INPUT_JSON
//   NODE_DIR   folder holding node_modules/aws-jwt-verify (benchmarks/.node/)
//   INPUT_JSON {userPoolId, clientId, jwks, tokens, warmupTokens, rounds}
// Prints one JSON object on stdout: {version, accepted, rejected, firstError, floor, cold, warm}, where floor/cold/warm
// are per-round microseconds per token, timed with node's own clock so process start-up and IPC are not counted.

import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [nodeDir, inputPath] = process.argv.slice(2);
const require = createRequire(join(nodeDir, "package.json"));
const { CognitoJwtVerifier } = require("aws-jwt-verify");
const packageJson = join(nodeDir, "node_modules", "aws-jwt-verify", "package.json");
const { version } = JSON.parse(readFileSync(packageJson, "utf8"));

const input = JSON.parse(readFileSync(inputPath, "utf8"));
const { userPoolId, clientId, jwks, tokens, warmupTokens, rounds } = input;

function newVerifier() {
  const verifier = CognitoJwtVerifier.create({ userPoolId, tokenUse: "access", clientId });
  verifier.cacheJwks(jwks); // offline: no JWKS download
  return verifier;
}

// The floor: one RSA-SHA256 check per token over pre-split signing input and pre-decoded signature, one key object.
const keys = new Map(jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));
function split(token) {
  const dot = token.lastIndexOf(".");
  const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf(".")), "base64url").toString());
  return {
    data: Buffer.from(token.slice(0, dot)),
    signature: Buffer.from(token.slice(dot + 1), "base64url"),
    key: keys.get(header.kid),
  };
}
const floorInputs = tokens.map(split);
const warmupFloorInputs = warmupTokens.map(split);

function floorPass(inputs) {
  for (const { data, signature, key } of inputs) {
    if (!cryptoVerify("RSA-SHA256", data, key, signature)) throw new Error("floor: bad signature");
  }
}

function verifyPass(verifier, list) {
  for (const token of list) verifier.verifySync(token);
}

function timed(fn) {
  const start = process.hrtime.bigint();
  fn();
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return elapsedNs / 1000 / tokens.length;
}

// Does aws-jwt-verify accept the tokens at all? (A rejection means LocalIssuer mints the wrong shape.)
let accepted = 0;
let rejected = 0;
let firstError = null;
const checker = newVerifier();
for (const token of [...warmupTokens, ...tokens]) {
  try {
    checker.verifySync(token);
    accepted += 1;
  } catch (err) {
    rejected += 1;
    firstError ??= `${err.constructor.name}: ${err.message}`;
  }
}

const result = { version, accepted, rejected, firstError, floor: [], cold: [], warm: [] };
if (rejected === 0) {
  // Warm up the JIT on tokens that are not measured.
  for (let i = 0; i < 3; i += 1) {
    floorPass(warmupFloorInputs);
    verifyPass(newVerifier(), warmupTokens);
  }
  for (let round = 0; round < rounds; round += 1) {
    result.floor.push(timed(() => floorPass(floorInputs)));
    const verifier = newVerifier();
    verifyPass(verifier, warmupTokens); // a running service: keys already turned into key objects
    result.cold.push(timed(() => verifyPass(verifier, tokens)));
    result.warm.push(timed(() => verifyPass(verifier, tokens)));
  }
}
process.stdout.write(`${JSON.stringify(result)}\n`);
