"""WebRequest.from_raw: how every sign-in adapter reads a request's query and cookies, the same way."""

from __future__ import annotations

from collections.abc import Iterable

from cognito_guard.hosted_ui import WebRequest


def request(query: Iterable[tuple[str, str]] = (), cookie_headers: Iterable[str] = ()) -> WebRequest:
    return WebRequest.from_raw(
        url="http://localhost:8000/auth/callback",
        path_with_query="/auth/callback",
        query=query,
        cookie_headers=cookie_headers,
    )


def test_cookies_are_read_from_the_cookie_header() -> None:
    assert request(cookie_headers=["a=1; b=two"]).cookies == {"a": "1", "b": "two"}


def test_several_cookie_headers_are_read_as_one() -> None:
    assert request(cookie_headers=["a=1", "b=2"]).cookies == {"a": "1", "b": "2"}


def test_a_cookie_value_keeps_its_equals_signs() -> None:
    assert request(cookie_headers=["sealed=abc==.def="]).cookies == {"sealed": "abc==.def="}


def test_spaces_around_cookie_names_and_values_are_ignored() -> None:
    assert request(cookie_headers=[" a = 1 ;b=2 "]).cookies == {"a": "1", "b": "2"}


def test_cookie_items_without_a_name_or_equals_sign_are_skipped() -> None:
    assert request(cookie_headers=["=1; flag; ; a=1"]).cookies == {"a": "1"}


def test_a_cookie_sent_twice_is_present_with_an_empty_value() -> None:
    assert request(cookie_headers=["session=mine; session=planted"]).cookies == {"session": ""}


def test_a_cookie_sent_twice_in_two_headers_is_present_with_an_empty_value() -> None:
    assert request(cookie_headers=["session=mine", "session=planted"]).cookies == {"session": ""}


def test_a_cookie_sent_three_times_stays_empty() -> None:
    assert request(cookie_headers=["s=1; s=2; s=3"]).cookies == {"s": ""}


def test_query_parameters_that_come_once_keep_their_values() -> None:
    assert request(query=[("code", "c"), ("state", "s")]).query == {"code": "c", "state": "s"}


def test_a_query_parameter_that_comes_twice_is_present_with_an_empty_value() -> None:
    assert request(query=[("state", "s"), ("code", "c"), ("state", "s")]).query == {"state": "", "code": "c"}
