"""Specification of the framework-neutral guards (issue 3, section 1): ``require(...)`` and ``Requirement``.

A requirement is checked on verified claims: scopes (all by default, or any), groups (any by default, or all), roles
and the preferred role of ID tokens, and predicates (sync or async). Each failure is an ``AuthorizationError`` with a
stable code; bad input is a ``ConfigurationError`` when the requirement is built.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from cognito_guard import Claims
from cognito_guard.errors import (
    AuthorizationError,
    ConfigurationError,
    MissingGroupError,
    MissingScopeError,
    RoleNotAllowedError,
)
from cognito_guard.guards import Requirement, require
from cognito_guard.testing import LocalIssuer

ROLE_ADMIN = "arn:aws:iam::123456789012:role/admin"
ROLE_READER = "arn:aws:iam::123456789012:role/reader"
ROLE_OTHER = "arn:aws:iam::123456789012:role/other"


def access_claims(issuer: LocalIssuer, *, scopes: Iterable[str] = (), groups: Iterable[str] | None = None) -> Claims:
    token = issuer.access_token(scopes=scopes, groups=groups)
    return issuer.verifier(token_use=None, clock=issuer.clock).verify_sync(token)


def id_claims(issuer: LocalIssuer, **options: Any) -> Claims:
    return issuer.verifier(token_use=None, clock=issuer.clock).verify_sync(issuer.id_token(**options))


class NotOwnerError(AuthorizationError):
    """An application's own refusal, raised from a predicate."""

    code = "not_owner"


class AsyncCallable:
    """A callable object whose ``__call__`` is async (a policy object holding state)."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    async def __call__(self, claims: Claims) -> bool:
        self.calls += 1
        return self.answer


class SyncCallable:
    def __call__(self, claims: Claims) -> bool:
        return True


def allow(claims: Claims) -> bool:
    return True


def deny(claims: Claims) -> bool:
    return False


async def allow_async(claims: Claims) -> bool:
    return True


async def deny_async(claims: Claims) -> bool:
    return False


def refuse_not_owner(claims: Claims) -> bool:
    raise NotOwnerError("only the owner may do this")


async def refuse_not_owner_async(claims: Claims) -> bool:
    raise NotOwnerError("only the owner may do this")


def unawaited_coroutine_warnings(action: Callable[[], object]) -> list[warnings.WarningMessage]:
    """Run ``action`` (which must raise ConfigurationError) and return the "never awaited" warnings it left behind."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigurationError):
            action()
        gc.collect()  # a coroutine left open warns when it is collected
    return [item for item in caught if "never awaited" in str(item.message)]


# -- building requirements ------------------------------------------------------------------------------------------


def test_an_empty_requirement_is_false() -> None:
    assert not Requirement()


def test_require_without_arguments_is_false() -> None:
    assert not require()


@pytest.mark.parametrize(
    "options",
    [
        {"scopes": "orders/read"},
        {"groups": "admin"},
        {"roles": ROLE_ADMIN},
        {"preferred_role": ROLE_ADMIN},
        {"predicate": allow},
    ],
    ids=["scopes", "groups", "roles", "preferred_role", "predicate"],
)
def test_a_requirement_with_anything_in_it_is_true(options: dict[str, Any]) -> None:
    assert require(**options)


def test_require_builds_the_same_requirement_as_requirement_build() -> None:
    options: dict[str, Any] = {"scopes": ["a", "b"], "scopes_match": "any", "groups": "admin", "groups_match": "all"}
    assert require(**options) == Requirement.build(**options)


def test_a_single_string_names_one_scope() -> None:
    assert require(scopes="orders/read").scopes == frozenset({"orders/read"})


def test_a_list_of_groups_is_kept_as_a_set() -> None:
    assert require(groups=["admin", "ops", "admin"]).groups == frozenset({"admin", "ops"})


def test_scopes_default_to_all_and_groups_to_any() -> None:
    requirement = require(scopes="a", groups="b")
    assert (requirement.scopes_match, requirement.groups_match) == ("all", "any")


def test_a_single_predicate_and_a_list_of_predicates_are_both_accepted() -> None:
    assert require(predicate=allow).predicates == (allow,)
    assert require(predicate=[allow, deny]).predicates == (allow, deny)


@pytest.mark.parametrize("option", ["scopes", "groups", "roles", "preferred_role"])
@pytest.mark.parametrize("value", ["", [""], ["ok", ""], [None], ["ok", 5]], ids=repr)
def test_empty_or_non_string_names_are_a_configuration_error(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        require(**{option: value})


@pytest.mark.parametrize("option", ["scopes", "groups", "roles", "preferred_role"])
def test_a_non_iterable_name_list_is_a_configuration_error(option: str) -> None:
    with pytest.raises(ConfigurationError):
        require(**{option: 5})  # type: ignore[arg-type]


def test_a_scope_containing_whitespace_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="scopes"):
        require(scopes="orders/read orders/write")


@pytest.mark.parametrize("predicate", ["not callable", ["not callable"], [allow, "not callable"], [allow, None]])
def test_a_predicate_that_is_not_callable_is_a_configuration_error(predicate: Any) -> None:
    with pytest.raises(ConfigurationError, match="predicate"):
        require(predicate=predicate)


@pytest.mark.parametrize("predicate", [5, object()], ids=["int", "object"])
def test_a_non_callable_non_iterable_predicate_is_a_configuration_error(predicate: Any) -> None:
    with pytest.raises(ConfigurationError, match="predicate"):
        require(predicate=predicate)


@pytest.mark.parametrize("option", ["scopes_match", "groups_match"])
@pytest.mark.parametrize("mode", ["ALL", "Any", "some", "", None, True], ids=repr)
def test_a_match_mode_other_than_all_or_any_is_a_configuration_error(option: str, mode: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        require(scopes="a", groups="b", **{option: mode})


# -- scopes ---------------------------------------------------------------------------------------------------------


def test_a_token_with_every_required_scope_passes(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["orders/read", "orders/write", "profile"])
    require(scopes=["orders/read", "orders/write"]).check(claims)


def test_by_default_a_token_missing_one_of_the_required_scopes_is_refused(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["orders/read"])
    with pytest.raises(MissingScopeError):
        require(scopes=["orders/read", "orders/write"]).check(claims)


def test_in_any_mode_one_of_the_scopes_is_enough(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["orders/write"])
    require(scopes=["orders/read", "orders/write"], scopes_match="any").check(claims)


def test_in_any_mode_a_token_with_none_of_the_scopes_is_refused(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["profile"])
    with pytest.raises(MissingScopeError):
        require(scopes=["orders/read", "orders/write"], scopes_match="any").check(claims)


def test_an_id_token_has_no_scopes(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingScopeError):
        require(scopes="openid").check(id_claims(issuer))


def test_a_missing_scope_has_code_missing_scope(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingScopeError) as caught:
        require(scopes="orders/read").check(access_claims(issuer, scopes=["profile"]))
    assert caught.value.code == "missing_scope"


def test_a_missing_scope_is_an_authorization_error(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthorizationError) as caught:
        require(scopes="orders/read").check(access_claims(issuer, scopes=[]))
    assert caught.value.status_code == 403


@pytest.mark.parametrize("scopes_match", ["all", "any"])
def test_missing_scope_error_lists_every_required_scope_sorted(issuer: LocalIssuer, scopes_match: Any) -> None:
    claims = access_claims(issuer, scopes=["profile"])
    with pytest.raises(MissingScopeError) as caught:
        require(scopes=["orders/write", "orders/read"], scopes_match=scopes_match).check(claims)
    assert caught.value.required == ("orders/read", "orders/write")


# -- groups ---------------------------------------------------------------------------------------------------------


def test_by_default_membership_of_one_listed_group_is_enough(issuer: LocalIssuer) -> None:
    require(groups=["admin", "ops"]).check(access_claims(issuer, groups=["ops"]))


def test_by_default_a_user_in_none_of_the_groups_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingGroupError):
        require(groups=["admin", "ops"]).check(access_claims(issuer, groups=["readers"]))


def test_in_all_mode_membership_of_every_group_passes(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, groups=["admin", "ops", "readers"])
    require(groups=["admin", "ops"], groups_match="all").check(claims)


def test_in_all_mode_a_user_missing_one_group_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingGroupError):
        require(groups=["admin", "ops"], groups_match="all").check(access_claims(issuer, groups=["admin"]))


@pytest.mark.parametrize("groups_match", ["all", "any"])
def test_a_token_without_cognito_groups_has_no_groups(issuer: LocalIssuer, groups_match: Any) -> None:
    claims = access_claims(issuer, groups=None)
    assert "cognito:groups" not in claims
    with pytest.raises(MissingGroupError):
        require(groups="admin", groups_match=groups_match).check(claims)


def test_groups_of_an_id_token_count_too(issuer: LocalIssuer) -> None:
    require(groups="admin").check(id_claims(issuer, groups=["admin"]))


def test_a_missing_group_has_code_missing_group(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingGroupError) as caught:
        require(groups="admin").check(access_claims(issuer, groups=[]))
    assert (caught.value.code, caught.value.status_code) == ("missing_group", 403)


# -- roles ----------------------------------------------------------------------------------------------------------


def test_a_token_holding_one_of_the_roles_passes(issuer: LocalIssuer) -> None:
    require(roles=[ROLE_ADMIN, ROLE_OTHER]).check(id_claims(issuer, roles=[ROLE_READER, ROLE_ADMIN]))


def test_a_token_holding_none_of_the_roles_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(RoleNotAllowedError):
        require(roles=ROLE_ADMIN).check(id_claims(issuer, roles=[ROLE_READER]))


def test_a_token_without_cognito_roles_is_refused_a_role(issuer: LocalIssuer) -> None:
    with pytest.raises(RoleNotAllowedError):
        require(roles=ROLE_ADMIN).check(id_claims(issuer, roles=None))


def test_an_access_token_is_refused_a_role(issuer: LocalIssuer) -> None:
    with pytest.raises(RoleNotAllowedError):
        require(roles=ROLE_ADMIN).check(access_claims(issuer, groups=["admin"]))


def test_a_role_refusal_has_code_role_not_allowed(issuer: LocalIssuer) -> None:
    with pytest.raises(RoleNotAllowedError) as caught:
        require(roles=ROLE_ADMIN).check(id_claims(issuer, roles=[ROLE_READER]))
    assert (caught.value.code, caught.value.status_code) == ("role_not_allowed", 403)


def test_a_preferred_role_among_the_allowed_ones_passes(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, roles=[ROLE_ADMIN, ROLE_READER], preferred_role=ROLE_READER)
    require(preferred_role=[ROLE_READER, ROLE_OTHER]).check(claims)


def test_a_preferred_role_not_allowed_is_refused_even_if_the_role_is_held(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, roles=[ROLE_ADMIN, ROLE_READER], preferred_role=ROLE_READER)
    with pytest.raises(RoleNotAllowedError):
        require(preferred_role=ROLE_ADMIN).check(claims)


def test_a_token_without_a_preferred_role_is_refused_a_preferred_role(issuer: LocalIssuer) -> None:
    with pytest.raises(RoleNotAllowedError):
        require(preferred_role=ROLE_ADMIN).check(id_claims(issuer, roles=[ROLE_ADMIN]))


# -- combined -------------------------------------------------------------------------------------------------------


def test_an_empty_requirement_lets_any_verified_token_through(issuer: LocalIssuer) -> None:
    Requirement().check(access_claims(issuer, scopes=[], groups=None))


def test_scopes_and_groups_must_both_be_met(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["orders/read"], groups=["readers"])
    with pytest.raises(MissingGroupError):
        require(scopes="orders/read", groups="admin").check(claims)


# -- sync predicates ------------------------------------------------------------------------------------------------


def test_a_predicate_returning_true_passes(issuer: LocalIssuer) -> None:
    require(predicate=allow).check(access_claims(issuer))


def test_a_predicate_receives_the_claims(issuer: LocalIssuer) -> None:
    seen: list[Claims] = []

    def record(received: Claims) -> bool:
        seen.append(received)
        return True

    claims = access_claims(issuer)
    require(predicate=record).check(claims)
    assert seen == [claims]


def test_a_predicate_returning_false_is_refused_with_code_denied(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthorizationError) as caught:
        require(predicate=deny).check(access_claims(issuer))
    assert type(caught.value) is AuthorizationError
    assert (caught.value.code, caught.value.status_code) == ("denied", 403)


@pytest.mark.parametrize("answer", [None, 1, "yes", [True]], ids=repr)
def test_a_predicate_passes_only_by_returning_true(issuer: LocalIssuer, answer: object) -> None:
    with pytest.raises(AuthorizationError, match="denied"):
        require(predicate=lambda claims: answer).check(access_claims(issuer))  # type: ignore[arg-type,return-value]


def test_every_predicate_of_a_list_must_pass(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthorizationError):
        require(predicate=[allow, deny]).check(access_claims(issuer))


def test_a_predicate_raising_its_own_authorization_error_propagates_unchanged(issuer: LocalIssuer) -> None:
    with pytest.raises(NotOwnerError) as caught:
        require(predicate=refuse_not_owner).check(access_claims(issuer))
    assert caught.value.code == "not_owner"


def test_a_sync_requirement_is_not_async() -> None:
    assert not require(scopes="a", predicate=[allow, SyncCallable()]).is_async


# -- async predicates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "predicate",
    [allow_async, AsyncCallable(True), [allow, allow_async]],
    ids=["async function", "object with async __call__", "list with one async"],
)
def test_a_requirement_with_an_async_predicate_is_async(predicate: Any) -> None:
    assert require(predicate=predicate).is_async


async def test_check_async_awaits_an_async_predicate_returning_true(issuer: LocalIssuer) -> None:
    await require(predicate=allow_async).check_async(access_claims(issuer))


async def test_check_async_refuses_an_async_predicate_returning_false_with_code_denied(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthorizationError) as caught:
        await require(predicate=deny_async).check_async(access_claims(issuer))
    assert caught.value.code == "denied"


async def test_check_async_awaits_an_object_with_an_async_call(issuer: LocalIssuer) -> None:
    policy = AsyncCallable(False)
    with pytest.raises(AuthorizationError, match="denied"):
        await require(predicate=policy).check_async(access_claims(issuer))
    assert policy.calls == 1


async def test_check_async_awaits_whatever_a_sync_callable_returns_as_awaitable(issuer: LocalIssuer) -> None:
    returns_awaitable: Callable[[Claims], Awaitable[bool]] = lambda claims: deny_async(claims)  # noqa: E731
    with pytest.raises(AuthorizationError, match="denied"):
        await require(predicate=returns_awaitable).check_async(access_claims(issuer))


async def test_check_async_evaluates_sync_predicates_too(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthorizationError, match="denied"):
        await require(predicate=[allow_async, deny]).check_async(access_claims(issuer))


async def test_check_async_checks_scopes_before_predicates(issuer: LocalIssuer) -> None:
    with pytest.raises(MissingScopeError):
        await require(scopes="orders/read", predicate=allow_async).check_async(access_claims(issuer, scopes=[]))


async def test_an_async_predicate_raising_its_own_authorization_error_propagates(issuer: LocalIssuer) -> None:
    with pytest.raises(NotOwnerError):
        await require(predicate=refuse_not_owner_async).check_async(access_claims(issuer))


@pytest.mark.parametrize(
    "predicate",
    [allow_async, AsyncCallable(True), lambda claims: allow_async(claims)],
    ids=["async function", "object with async __call__", "sync callable returning a coroutine"],
)
def test_check_refuses_an_async_predicate_with_a_configuration_error(issuer: LocalIssuer, predicate: Any) -> None:
    with pytest.raises(ConfigurationError, match="check_async"):
        require(predicate=predicate).check(access_claims(issuer))


@pytest.mark.parametrize(
    "predicate",
    [allow_async, AsyncCallable(True), lambda claims: allow_async(claims)],
    ids=["async function", "object with async __call__", "sync callable returning a coroutine"],
)
def test_check_leaves_no_unawaited_coroutine_behind(issuer: LocalIssuer, predicate: Any) -> None:
    requirement, claims = require(predicate=predicate), access_claims(issuer)
    assert unawaited_coroutine_warnings(lambda: requirement.check(claims)) == []


def test_the_unawaited_coroutine_probe_sees_a_coroutine_left_open() -> None:
    """The probe used above can fail: a coroutine dropped without being awaited or closed is reported."""

    def leave_a_coroutine_open() -> None:
        coroutine = allow_async(Claims({"sub": "probe"}))
        del coroutine
        raise ConfigurationError("probe")

    assert len(unawaited_coroutine_warnings(leave_a_coroutine_open)) == 1
