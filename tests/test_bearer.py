"""Specification of the framework-neutral HTTP semantics (issue 3, section 3 "Responses", shared by every adapter).

Reading ``Authorization: Bearer`` (a malformed one is refused, never taken for no token), refusing duplicate headers,
and answering refused requests per RFC 6750: 401 with a ``WWW-Authenticate`` challenge, 403 with
``insufficient_scope``, 503 with ``Retry-After``, 500 without details; header values in printable ASCII; JSON bodies
``{"detail", "code"}``; WebSocket close codes.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cognito_guard import errors
from cognito_guard.bearer import (
    DEFAULT_REALM,
    ErrorAnswer,
    asgi_authorization,
    bearer_token,
    check_realm,
    error_answer,
    single_authorization,
    unauthenticated_answer,
    websocket_close_code,
)
from cognito_guard.errors import (
    AuthorizationError,
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    MalformedTokenError,
    MissingGroupError,
    MissingScopeError,
    RoleNotAllowedError,
    TokenError,
)
from cognito_guard.testing import LocalIssuer

TOKEN_ERRORS = sorted(
    (cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, TokenError)),
    key=lambda cls: cls.__name__,
)
# Every 403 except a missing scope, which alone names the scope it lacks.
FORBIDDEN_WITHOUT_SCOPE = [AuthorizationError, MissingGroupError, RoleNotAllowedError]
_AUTH_PARAM = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"(?:, |$)', re.DOTALL)
# RFC 6750 section 3: the characters error_description and scope values may hold.
_RFC_6750_VALUE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def challenge_params(value: str) -> dict[str, str]:
    """Parse ``Bearer name="quoted", ...`` strictly (RFC 7235 quoted-strings) into unescaped parameters."""
    assert value.startswith("Bearer "), value
    rest, position, params = value[len("Bearer ") :], 0, {}
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        assert match is not None, f"not a list of quoted parameters: {rest[position:]!r}"
        params[match[1]] = re.sub(r"\\(.)", r"\1", match[2], flags=re.DOTALL)
        position = match.end()
    return params


# -- bearer_token ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER abc.def.ghi", "abc.def.ghi"),
        ("BeArEr abc.def.ghi", "abc.def.ghi"),
    ],
)
def test_the_bearer_scheme_is_case_insensitive(authorization: str, token: str) -> None:
    assert bearer_token(authorization) == token


@pytest.mark.parametrize(
    "authorization",
    ["  Bearer abc.def.ghi", "Bearer abc.def.ghi  ", "Bearer    abc.def.ghi", " \tBearer abc.def.ghi\t "],
    ids=repr,
)
def test_whitespace_around_the_token_is_ignored(authorization: str) -> None:
    assert bearer_token(authorization) == "abc.def.ghi"


@pytest.mark.parametrize(
    "authorization", ["Bearer\tabc.def.ghi", "bearer \t abc.def.ghi", "Bearer\t\tabc.def.ghi"], ids=repr
)
def test_tabs_may_separate_the_scheme_from_the_token(authorization: str) -> None:
    assert bearer_token(authorization) == "abc.def.ghi"


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Basic\tdXNlcjpwYXNz", "Token abc.def.ghi", "Digest username=alice", "abc.def.ghi"],
    ids=repr,
)
def test_another_scheme_is_no_bearer_token(authorization: str) -> None:
    assert bearer_token(authorization) is None


@pytest.mark.parametrize(
    "authorization",
    ["Bearer:abc.def.ghi", "Bearer,abc.def.ghi", "bearer=abc.def.ghi", "BEARER;abc.def.ghi", "Bearerabc.def.ghi"],
)
def test_a_bearer_scheme_glued_to_its_token_gives_an_empty_token(authorization: str) -> None:
    assert bearer_token(authorization) == ""


@pytest.mark.parametrize("authorization", ["Bearer abc.def.ghi extra", "Bearer abc\tdef", "Bearer Bearer abc.def.ghi"])
def test_a_bearer_token_with_whitespace_inside_gives_an_empty_token(authorization: str) -> None:
    assert bearer_token(authorization) == ""


@pytest.mark.parametrize(
    "authorization", ["Bearer\nabc.def.ghi", "Bearer\xa0abc.def.ghi", "Bearer\x0babc.def.ghi"], ids=repr
)
def test_only_spaces_and_tabs_separate_the_scheme_from_the_token(authorization: str) -> None:
    assert bearer_token(authorization) == ""


def test_a_malformed_bearer_header_is_refused_as_malformed_by_the_verifier(issuer: LocalIssuer) -> None:
    token = bearer_token(f"Bearer:{issuer.access_token()}")

    assert token is not None
    with pytest.raises(MalformedTokenError):
        issuer.verifier().verify_sync(token)


@pytest.mark.parametrize("authorization", [None, "", "   "], ids=repr)
def test_no_authorization_is_no_bearer_token(authorization: str | None) -> None:
    assert bearer_token(authorization) is None


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "  bearer  "], ids=repr)
def test_bearer_alone_gives_an_empty_token(authorization: str) -> None:
    assert bearer_token(authorization) == ""


# -- one Authorization header ---------------------------------------------------------------------------------------


def test_single_authorization_of_no_header_is_none() -> None:
    assert single_authorization([]) is None


def test_single_authorization_of_one_header_is_its_value() -> None:
    assert single_authorization(["Bearer abc"]) == "Bearer abc"


@pytest.mark.parametrize("values", [["Bearer a", "Bearer b"], ["Bearer a", "Bearer a"], ["Basic x", "Bearer a", ""]])
def test_single_authorization_refuses_two_headers_as_malformed(values: list[str]) -> None:
    with pytest.raises(MalformedTokenError):
        single_authorization(values)


def test_asgi_authorization_without_the_header_is_none() -> None:
    assert asgi_authorization([(b"host", b"example.com"), (b"accept", b"*/*")]) is None


def test_asgi_authorization_reads_the_one_header_among_others() -> None:
    headers = [(b"host", b"example.com"), (b"authorization", b"Bearer abc"), (b"accept", b"*/*")]
    assert asgi_authorization(headers) == "Bearer abc"


def test_asgi_authorization_decodes_the_value_as_latin_1() -> None:
    assert asgi_authorization([(b"authorization", b"Bearer caf\xe9")]) == "Bearer café"


def test_asgi_authorization_refuses_two_headers_as_malformed() -> None:
    headers = [(b"authorization", b"Bearer a"), (b"host", b"example.com"), (b"authorization", b"Bearer b")]
    with pytest.raises(MalformedTokenError):
        asgi_authorization(headers)


def test_two_authorization_headers_are_answered_with_401() -> None:
    with pytest.raises(MalformedTokenError) as caught:
        single_authorization(["Bearer a", "Bearer b"])
    assert error_answer(caught.value, DEFAULT_REALM).status == 401


# -- 401 ------------------------------------------------------------------------------------------------------------


def test_no_token_is_answered_with_401_and_a_bare_challenge() -> None:
    answer = unauthenticated_answer("orders")
    assert answer.status == 401
    assert answer.headers == {"WWW-Authenticate": 'Bearer realm="orders"'}


def test_no_token_has_a_not_authenticated_body() -> None:
    assert unauthenticated_answer("orders").body == {"detail": "Not authenticated", "code": "not_authenticated"}


@pytest.mark.parametrize("error_class", TOKEN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_token_error_is_answered_with_401(error_class: type[TokenError]) -> None:
    assert error_answer(error_class("refused"), "api").status == 401


@pytest.mark.parametrize("error_class", TOKEN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_token_error_challenges_with_invalid_token(error_class: type[TokenError]) -> None:
    params = challenge_params(error_answer(error_class("refused"), "api").headers["WWW-Authenticate"])
    assert params == {"realm": "api", "error": "invalid_token", "error_description": "refused"}


def test_a_refused_token_challenge_reads_exactly_as_rfc_6750_shows() -> None:
    answer = error_answer(errors.ExpiredTokenError("token has expired"), "orders")
    assert answer.headers == {
        "WWW-Authenticate": 'Bearer realm="orders", error="invalid_token", error_description="token has expired"'
    }


def test_a_refused_token_body_carries_its_message_and_code() -> None:
    answer = error_answer(errors.ExpiredTokenError("token has expired"), "api")
    assert answer.body == {"detail": "token has expired", "code": "token_expired"}


# -- 403 ------------------------------------------------------------------------------------------------------------


def test_a_missing_scope_is_answered_with_403_naming_the_scopes() -> None:
    error = MissingScopeError("token lacks a required scope", required=("orders/read", "orders/write"))
    answer = error_answer(error, "api")
    assert answer.status == 403
    assert answer.headers == {
        "WWW-Authenticate": 'Bearer realm="api", error="insufficient_scope", scope="orders/read orders/write"'
    }


def test_a_missing_scope_without_required_scopes_has_no_scope_attribute() -> None:
    answer = error_answer(MissingScopeError("token lacks a required scope"), "api")
    assert challenge_params(answer.headers["WWW-Authenticate"]) == {"realm": "api", "error": "insufficient_scope"}


@pytest.mark.parametrize("error_class", FORBIDDEN_WITHOUT_SCOPE, ids=lambda cls: cls.__name__)
def test_other_refusals_are_answered_with_403_insufficient_scope_without_scope(
    error_class: type[AuthorizationError],
) -> None:
    answer = error_answer(error_class("not allowed"), "api")
    assert answer.status == 403
    assert answer.headers == {"WWW-Authenticate": 'Bearer realm="api", error="insufficient_scope"'}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MissingScopeError("lacks orders/read", required=("orders/read",)), "missing_scope"),
        (MissingGroupError("lacks admin"), "missing_group"),
        (RoleNotAllowedError("lacks the role"), "role_not_allowed"),
        (AuthorizationError("denied by policy"), "denied"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_a_403_body_carries_the_message_and_code(error: AuthorizationError, code: str) -> None:
    assert error_answer(error, "api").body == {"detail": error.message, "code": code}


# -- 503 ------------------------------------------------------------------------------------------------------------


def test_unavailable_keys_are_answered_with_503() -> None:
    assert error_answer(KeysUnavailableError("signing keys are unavailable", retry_after=5), "api").status == 503


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(None, "1"), (0, "1"), (-5, "1"), (0.001, "1"), (1, "1"), (2.0, "2"), (2.1, "3"), (29.5, "30")],
    ids=repr,
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(retry_after: float | None, header: str) -> None:
    answer = error_answer(KeysUnavailableError("signing keys are unavailable", retry_after=retry_after), "api")
    assert answer.headers["Retry-After"] == header


@given(retry_after=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e9))
def test_retry_after_is_always_a_positive_integer_no_sooner_than_asked(retry_after: float) -> None:
    value = error_answer(KeysUnavailableError("down", retry_after=retry_after), "api").headers["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", value)
    assert int(value) >= retry_after


@pytest.mark.parametrize("retry_after", [math.nan, math.inf], ids=repr)
def test_a_non_finite_retry_after_still_gives_a_503(retry_after: float) -> None:
    answer = error_answer(KeysUnavailableError("down", retry_after=retry_after), "api")
    assert (answer.status, answer.headers["Retry-After"]) == (503, "1")


def test_unavailable_keys_body_carries_the_message_and_code() -> None:
    answer = error_answer(KeysUnavailableError("signing keys are unavailable", retry_after=5), "api")
    assert answer.body == {"detail": "signing keys are unavailable", "code": "keys_unavailable"}


# -- 500 ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error_class", [ConfigurationError, CognitoGuardError], ids=lambda cls: cls.__name__)
def test_a_misconfiguration_is_answered_with_500(error_class: type[CognitoGuardError]) -> None:
    assert error_answer(error_class("COGNITO_JWKS_FILE: cannot read /etc/secret/jwks.json"), "api").status == 500


def test_a_misconfiguration_body_is_generic_and_hides_the_message() -> None:
    answer = error_answer(ConfigurationError("COGNITO_JWKS_FILE: cannot read /etc/secret/jwks.json"), "api")
    assert answer.body["code"] == "configuration_error"
    assert answer.body["detail"]
    assert "/etc/secret" not in answer.body["detail"]
    assert "COGNITO_JWKS_FILE" not in answer.body["detail"]


def test_a_misconfiguration_is_not_a_challenge() -> None:
    assert "WWW-Authenticate" not in error_answer(ConfigurationError("bad"), "api").headers


# -- header values are always well formed ----------------------------------------------------------------------------


def test_quotes_and_backslashes_in_the_realm_are_escaped() -> None:
    answer = unauthenticated_answer('say "hi" \\ bye')
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="say \\"hi\\" \\\\ bye"'


def test_line_breaks_in_the_realm_cannot_split_the_header() -> None:
    answer = unauthenticated_answer("api\r\nSet-Cookie: session=stolen")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="apiSet-Cookie: session=stolen"'


def test_quotes_and_backslashes_in_an_error_description_become_question_marks() -> None:
    answer = error_answer(errors.ClaimError("claim 'x\"y\\z' is bad\r\n"), "api")
    assert challenge_params(answer.headers["WWW-Authenticate"])["error_description"] == "claim 'x?y?z' is bad"


def test_non_ascii_characters_in_an_error_description_become_question_marks() -> None:
    answer = error_answer(errors.ClaimError("claim 'ü名' is nested too deeply"), "api")
    assert (
        challenge_params(answer.headers["WWW-Authenticate"])["error_description"] == "claim '??' is nested too deeply"
    )


def test_non_ascii_characters_in_the_realm_become_question_marks() -> None:
    assert unauthenticated_answer("注文 api").headers["WWW-Authenticate"] == 'Bearer realm="?? api"'


def test_non_ascii_scope_names_become_question_marks() -> None:
    answer = error_answer(MissingScopeError("lacks a scope", required=("注文/read", "orders/write")), "api")
    assert challenge_params(answer.headers["WWW-Authenticate"])["scope"] == "??/read orders/write"


def test_the_body_keeps_the_exact_message() -> None:
    answer = error_answer(errors.ClaimError("claim 'ü名' is nested too deeply"), "api")
    assert answer.body["detail"] == "claim 'ü名' is nested too deeply"


def all_answers(realm: str, message: str) -> list[ErrorAnswer]:
    return [
        unauthenticated_answer(realm),
        error_answer(errors.SignatureError(message), realm),
        error_answer(MissingScopeError(message, required=(message or "s",)), realm),
        error_answer(MissingGroupError(message), realm),
    ]


@settings(max_examples=500)
@given(realm=st.text(min_size=1), message=st.text())
@example(realm='a "quoted" \\ realm\r\n', message='evil", error="none\r\nSet-Cookie: x=1\x7f\x00\t')
@example(realm="注文", message="claim 'ü名' is nested too deeply \U0001f600")
def test_challenges_are_printable_ascii_whatever_the_realm_and_message(realm: str, message: str) -> None:
    for answer in all_answers(realm, message):
        challenge = answer.headers["WWW-Authenticate"]
        assert _PRINTABLE_ASCII.fullmatch(challenge), challenge
        params = challenge_params(challenge)
        for name in ("error_description", "scope"):
            assert _RFC_6750_VALUE.fullmatch(params.get(name, "")), params


@settings(max_examples=300)
@given(
    realm=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
    message=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\')),
)
def test_printable_ascii_realms_and_messages_round_trip(realm: str, message: str) -> None:
    expected = [
        {"realm": realm},
        {"realm": realm, "error": "invalid_token", "error_description": message},
        {"realm": realm, "error": "insufficient_scope", "scope": message or "s"},
        {"realm": realm, "error": "insufficient_scope"},
    ]
    challenges = [answer.headers["WWW-Authenticate"] for answer in all_answers(realm, message)]
    assert [challenge_params(challenge) for challenge in challenges] == expected


# -- realm and WebSocket close codes ---------------------------------------------------------------------------------


def test_check_realm_returns_a_valid_realm() -> None:
    assert check_realm("orders api") == "orders api"


@pytest.mark.parametrize("realm", ["", None, 5, b"api", ["api"]], ids=repr)
def test_check_realm_refuses_anything_but_a_non_empty_string(realm: object) -> None:
    with pytest.raises(ConfigurationError, match="realm"):
        check_realm(realm)


def test_the_default_realm_is_a_valid_realm() -> None:
    assert check_realm(DEFAULT_REALM) == DEFAULT_REALM


@pytest.mark.parametrize(
    "answer",
    [
        unauthenticated_answer("api"),
        error_answer(errors.SignatureError("bad signature"), "api"),
        error_answer(MissingScopeError("lacks", required=("a",)), "api"),
        error_answer(MissingGroupError("lacks"), "api"),
        error_answer(KeysUnavailableError("down", retry_after=3), "api"),
    ],
    ids=["401 no token", "401 refused", "403 scope", "403 group", "503"],
)
def test_a_refused_websocket_is_closed_with_policy_violation_1008(answer: ErrorAnswer) -> None:
    assert websocket_close_code(answer) == 1008


def test_a_misconfigured_websocket_is_closed_with_internal_error_1011() -> None:
    assert websocket_close_code(error_answer(ConfigurationError("bad"), "api")) == 1011
