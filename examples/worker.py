"""Workers: check the Cognito token a job or event carries, offline and without an event loop.

When an API hands work to a queue, the job carries the caller's access token, so the worker can decide on its own who
asked and whether they may: the same checks as the API, with ``verify_sync`` and the pool's keys from a file
(``COGNITO_JWKS_FILE``), so there is no network call per message (nor at all). One verifier per process, built once
from the ``COGNITO_*`` variables; it is thread-safe.

Three entry points, one check (:func:`authorize`):

- :func:`process_order`: a Celery-style task; put ``@celery_app.task`` on it. The producer passes the access token.
- :func:`handler`: an AWS Lambda handler for API Gateway events (token in the ``authorization`` header) and SQS events
  (token in the ``authorization`` message attribute; partial batch responses).
- :func:`consume`: a queue-consumer loop over messages (SQS-shaped records).

Run it::

    python examples/worker.py
        # COGNITO_* unset: DEMO MODE, a local stand-in pool mints sample messages and writes its keys to a JWKS file
    COGNITO_USER_POOL_ID=us-east-1_Abc123XYZ COGNITO_CLIENT_ID=abc COGNITO_JWKS_FILE=jwks.json \\
        python examples/worker.py messages.json   # or - to read the messages from stdin

``messages.json`` is a JSON array of SQS records as Lambda receives them::

    [{"messageId": "1", "body": "{\\"order_id\\": \\"o-1\\"}",
      "messageAttributes": {"authorization": {"stringValue": "<access token>", "dataType": "String"}}}]

Every message goes through every entry point; each prints ACCEPT, REJECT (dropped: the same token would fail again)
or RETRY (no keys: worth another try), and why. Tokens are never printed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cognito_guard import Claims, CognitoVerifier, errors, require, verifier_from_env
from cognito_guard.bearer import bearer_token, error_answer, unauthenticated_answer

REQUIREMENT = require(scopes="orders/read")  # what every job needs on top of a valid token
REALM = "orders-worker"
TOKEN_ATTRIBUTE = "authorization"  # the SQS message attribute carrying the access token


@functools.cache
def get_verifier() -> CognitoVerifier:
    """The process's one verifier, from the ``COGNITO_*`` variables: built on first use, never per message.

    In a Lambda function call it at import time, so the cold start pays for it. Raises ``ConfigurationError``
    naming a missing or invalid variable.
    """
    return verifier_from_env()


def authorize(token: str | None) -> Claims:
    """Verify the token a job carries (bare, or ``Bearer <token>``) and that it grants :data:`REQUIREMENT`.

    Raises ``TokenError`` (refused token, or none), ``AuthorizationError`` (valid, not allowed) or
    ``KeysUnavailableError`` (no keys: only with a JWKS URL instead of a file).
    """
    if not token:
        raise errors.TokenError("the job carries no token")
    if token[:7].lower() == "bearer ":
        token = bearer_token(token) or ""
    claims = get_verifier().verify_sync(token)
    REQUIREMENT.check(claims)
    return claims


def fulfil(order_id: str, claims: Claims) -> dict[str, str]:
    """The work itself, done only for an authorized caller."""
    return {"order_id": order_id, "status": "processed", "for": claims.username or f"client {claims.client_id}"}


# -- 1. a Celery-style task -----------------------------------------------------------------------------------------


def process_order(token: str | None, order_id: str) -> dict[str, str]:
    """Process an order for the caller whose access token the producer sent (``process_order.delay(token, id)``).

    Raises the ``CognitoGuardError`` of a refused token, which fails the task. Retry only on
    ``KeysUnavailableError`` (``autoretry_for=(errors.KeysUnavailableError,)``): a refused token fails again.
    """
    claims = authorize(token)
    return fulfil(order_id, claims)


# -- 2. an AWS Lambda handler ---------------------------------------------------------------------------------------


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point: an SQS event (``Records``) or an API Gateway / function URL event (``headers``).

    SQS: returns ``{"batchItemFailures": [...]}`` naming only the messages worth retrying (enable
    ReportBatchItemFailures on the event source mapping). HTTP: returns the same 200/401/403/503 answer as the web
    adapters.
    """
    records = event.get("Records")
    if isinstance(records, list):
        outcomes = [handle_message(record, source="lambda/sqs") for record in records]
        return {"batchItemFailures": [{"itemIdentifier": item.message_id} for item in outcomes if item.retry]}
    return handle_http(event)


def handle_http(event: Mapping[str, Any]) -> dict[str, Any]:
    """An API Gateway (REST or HTTP API) or function URL event: the token is in the ``Authorization`` header."""
    headers = event.get("headers")
    # REST APIs keep the header's case, HTTP APIs and function URLs lower-case it: look it up case-insensitively.
    lowered = {str(name).lower(): value for name, value in headers.items()} if isinstance(headers, Mapping) else {}
    header = lowered.get("authorization")
    token = bearer_token(header) if isinstance(header, str) else None
    order_id = order_id_of(event.get("body"))
    if token is None:
        report("lambda/http", order_id, "REJECT", "401 not_authenticated: no bearer token")
        answer = unauthenticated_answer(REALM)
        return http_answer(answer.status, answer.headers, answer.body)
    try:
        claims = authorize(token)
    except errors.CognitoGuardError as error:
        report("lambda/http", order_id, "REJECT", f"{error.status_code} {error.code}: {error.message}")
        answer = error_answer(error, REALM)
        return http_answer(answer.status, answer.headers, answer.body)
    result = fulfil(order_id, claims)
    report("lambda/http", order_id, "ACCEPT", f"{result['for']}: order {order_id} {result['status']}")
    return http_answer(200, {}, result)


def http_answer(status: int, headers: Mapping[str, str], body: Mapping[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**headers, "Content-Type": "application/json"},
        "body": json.dumps(body),
    }


# -- 3. a queue consumer --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one message."""

    message_id: str
    accepted: bool
    retry: bool
    detail: str


def consume(messages: Iterable[Mapping[str, Any]]) -> list[Outcome]:
    """A queue consumer's loop: check each message's token; do the work of the accepted ones.

    With SQS and boto3 the loop is ``receive_message(..., MessageAttributeNames=["authorization"])``, this check,
    then ``delete_message`` for every message that is not to be retried.
    """
    return [handle_message(message, source="queue") for message in messages]


def handle_message(message: Mapping[str, Any], *, source: str) -> Outcome:
    """Check one SQS-shaped message (token in the ``authorization`` attribute, JSON body with ``order_id``)."""
    message_id = str(message.get("messageId", "?"))
    token = attribute_of(message, TOKEN_ATTRIBUTE)
    try:
        claims = authorize(token)
    except errors.KeysUnavailableError as error:
        outcome = Outcome(message_id, False, True, f"{error.status_code} {error.code}: {error.message}")
    except errors.CognitoGuardError as error:
        outcome = Outcome(message_id, False, False, f"{error.status_code} {error.code}: {error.message}")
    else:
        order_id = order_id_of(message.get("body"))
        result = fulfil(order_id, claims)
        outcome = Outcome(message_id, True, False, f"{result['for']}: order {order_id} {result['status']}")
    verdict = "ACCEPT" if outcome.accepted else "RETRY" if outcome.retry else "REJECT"
    report(source, message_id, verdict, outcome.detail)
    return outcome


def attribute_of(message: Mapping[str, Any], name: str) -> str | None:
    """A string message attribute, as Lambda's SQS records spell them (boto3 capitalises: MessageAttributes...)."""
    attributes = message.get("messageAttributes")
    entry = attributes.get(name) if isinstance(attributes, Mapping) else None
    value = entry.get("stringValue") if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) else None


def order_id_of(body: object) -> str:
    """The ``order_id`` of a JSON message body, or ``"unknown"``."""
    try:
        document = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        document = None
    order_id = document.get("order_id") if isinstance(document, dict) else None
    return order_id if isinstance(order_id, str) else "unknown"


def report(source: str, subject: str, verdict: str, detail: str) -> None:
    """One line per decision (stdout is the log in Lambda and most job runners); never the token."""
    print(f"{verdict:6s}  {source:11s}  {subject:10s}  {detail}", flush=True)


# -- the program ----------------------------------------------------------------------------------------------------


def sqs_record(message_id: str, order_id: str, token: str | None) -> dict[str, Any]:
    """An SQS record as Lambda delivers it, carrying ``token`` in the ``authorization`` attribute."""
    attributes = {} if token is None else {TOKEN_ATTRIBUTE: {"stringValue": token, "dataType": "String"}}
    return {"messageId": message_id, "body": json.dumps({"order_id": order_id}), "messageAttributes": attributes}


@contextlib.contextmanager
def demo_environment() -> Iterator[list[dict[str, Any]]]:
    """DEMO MODE: a local stand-in pool, its keys in a temporary JWKS file named by COGNITO_* variables (restored
    afterwards), and sample messages with good and bad tokens."""
    from cognito_guard.testing import LocalIssuer  # the test kit plays Cognito; real workers never import it

    pool = LocalIssuer(user_pool_id="us-east-1_WorkerDemo", client_id="orders-app")
    other_pool = LocalIssuer(user_pool_id="us-east-1_SomeoneElse", client_id="orders-app")
    now = time.time()
    messages = [
        sqs_record("msg-1", "o-1", pool.access_token(username="alice", scopes=["orders/read"])),
        sqs_record("msg-2", "o-2", pool.client_credentials_token(scopes=["orders/read"])),
        sqs_record("msg-3", "o-3", pool.access_token(username="bob", scopes=["profile"])),
        sqs_record("msg-4", "o-4", pool.access_token(scopes=["orders/read"], issued_at=now - 7200, expires_in=3600)),
        sqs_record("msg-5", "o-5", pool.access_token(scopes=["orders/read"], bad_signature=True)),
        sqs_record("msg-6", "o-6", pool.id_token()),
        sqs_record("msg-7", "o-7", other_pool.access_token(scopes=["orders/read"])),
        sqs_record("msg-8", "o-8", None),
    ]
    saved = {name: os.environ.get(name) for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_JWKS_FILE")}
    with tempfile.TemporaryDirectory() as directory:
        jwks_file = Path(directory) / "jwks.json"
        jwks_file.write_text(json.dumps(pool.jwks), encoding="utf-8")
        os.environ.update(
            COGNITO_USER_POOL_ID=pool.user_pool_id, COGNITO_CLIENT_ID=pool.client_id, COGNITO_JWKS_FILE=str(jwks_file)
        )
        get_verifier.cache_clear()
        print("DEMO MODE: COGNITO_USER_POOL_ID is not set, so a local stand-in user pool (LocalIssuer) minted these")
        print(f"messages and its public keys were written to {jwks_file} (COGNITO_JWKS_FILE).")
        print("Set COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_JWKS_FILE, and pass a messages file, to check")
        print("real Cognito tokens.\n")
        try:
            yield messages
        finally:
            get_verifier.cache_clear()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def read_messages(source: str) -> list[dict[str, Any]]:
    """SQS records from a JSON file (``-``: stdin); raises ``ValueError`` if it is not a JSON array of objects."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    messages = json.loads(text)
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        raise ValueError("the messages file must hold a JSON array of SQS records (objects)")
    return messages


def run(messages: list[dict[str, Any]]) -> None:
    """Put every message through every entry point."""
    keys = os.environ.get("COGNITO_JWKS_FILE")
    print(f"keys: {'JWKS file ' + keys if keys else 'fetched from the pool JWKS URL once, then cached'}")
    get_verifier()  # built once, at start: a bad setting stops the worker here, not at the first message

    print("\n== queue consumer: consume(messages)")
    consume(messages)

    print("\n== AWS Lambda, SQS event: handler({'Records': messages}, context)")
    response = handler({"Records": messages}, None)
    print(f"returned {json.dumps(response)}")

    print("\n== AWS Lambda, API Gateway event: handler({'headers': {'authorization': 'Bearer ...'}}, context)")
    for message in messages:
        token = attribute_of(message, TOKEN_ATTRIBUTE)
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        handler({"headers": headers, "body": message.get("body")}, None)

    print("\n== Celery-style task: process_order(token, order_id)")
    for message in messages:
        order_id = order_id_of(message.get("body"))
        try:
            result = process_order(attribute_of(message, TOKEN_ATTRIBUTE), order_id)
        except errors.CognitoGuardError as error:
            report("celery", order_id, "REJECT", f"{error.status_code} {error.code}: {error.message}")
        else:
            report("celery", order_id, "ACCEPT", f"{result['for']}: order {order_id} {result['status']}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not os.environ.get("COGNITO_USER_POOL_ID"):
        if arguments:
            print("set COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_JWKS_FILE to check a messages file")
            return 2
        with demo_environment() as messages:
            run(messages)
        return 0
    if len(arguments) != 1:
        print("usage: python examples/worker.py MESSAGES.json   (or - to read them from stdin)")
        return 2
    try:
        messages = read_messages(arguments[0])
    except (OSError, ValueError) as error:
        print(f"cannot read messages from {arguments[0]}: {error}")
        return 2
    try:
        run(messages)
    except errors.ConfigurationError as error:
        print(f"configuration error: {error.message}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
