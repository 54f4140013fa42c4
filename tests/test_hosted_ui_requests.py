"""WebRequest.from_raw: how every sign-in adapter reads a request's query and cookies, the same way."""

from __future__ import annotations

from collections.abc import Iterable

from cognito_guard.hosted_ui import WebRequest


def request(query: bytes = b"", cookie_headers: Iterable[str] = ()) -> WebRequest:
    return WebRequest.from_raw(
        url="http://localhost:8000/auth/callback",
        path="/auth/callback",
        query_string=query,
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
    assert request(query=b"code=c&state=s").query == {"code": "c", "state": "s"}


def test_query_parameters_are_percent_decoded() -> None:
    assert request(query=b"next=%2Fprofile%3Ftab%3D1&empty=").query == {"next": "/profile?tab=1", "empty": ""}


def test_a_query_parameter_that_comes_twice_is_present_with_an_empty_value() -> None:
    assert request(query=b"state=s&code=c&state=s").query == {"state": "", "code": "c"}


def test_query_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert request(query=b"next=\xff&%ff=1").query == {"next": "\ufffd", "\ufffd": "1"}


def test_the_path_with_query_keeps_the_query_as_sent() -> None:
    assert request(query=b"tab=1&x=%20").path_with_query == "/auth/callback?tab=1&x=%20"


def test_cookies_that_came_twice_keep_all_their_values_apart() -> None:
    assert request(cookie_headers=["s=1; t=x; s=2"]).repeated_cookies == {"s": ("1", "2")}


def test_without_repeated_cookies_there_is_one_reading() -> None:
    readings = list(request(cookie_headers=["a=1; b=2"]).cookie_readings(["a"]))

    assert readings == [{"a": "1", "b": "2"}]


def test_a_repeated_cookie_is_read_once_with_each_of_its_values() -> None:
    readings = list(request(cookie_headers=["s=mine; other=x; s=planted"]).cookie_readings(["s"]))

    assert readings == [{"s": "mine", "other": "x"}, {"s": "planted", "other": "x"}]


def test_two_repeated_cookies_are_read_in_every_combination() -> None:
    readings = list(request(cookie_headers=["s=1; s.1=a; s=2; s.1=b"]).cookie_readings(["s", "s.1"]))

    assert sorted((reading["s"], reading["s.1"]) for reading in readings) == [
        ("1", "a"),
        ("1", "b"),
        ("2", "a"),
        ("2", "b"),
    ]


def test_repeated_cookies_outside_the_names_asked_for_are_not_combined() -> None:
    # Junk cookies sent twice must not use up the combinations of the session's own cookies.
    junk = "; ".join(f"junk{index}=x; junk{index}=y" for index in range(10))
    readings = list(request(cookie_headers=[f"{junk}; s=planted; s=mine"]).cookie_readings(["s"]))

    assert [reading["s"] for reading in readings] == ["planted", "mine"]
    assert all(reading["junk0"] == "" for reading in readings)


def test_cookie_readings_stop_at_the_limit() -> None:
    many = "; ".join(f"c{index}=x; c{index}=y" for index in range(10))  # 1024 combinations
    names = [f"c{index}" for index in range(10)]

    assert len(list(request(cookie_headers=[many]).cookie_readings(names, limit=16))) == 16
