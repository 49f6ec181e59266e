"""`app.connectors.http` and `pagination`: error table, scrubbing, JSON, Retry-After, pacing; and the service
profiles (error bodies, budget and rate-limit headers) over loopback HTTP, and the registration table that picks
them by system."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from app.connectors.accessplanit.profile import ACCESSPLANIT
from app.connectors.http import (
    Action,
    BodyError,
    HttpClient,
    HttpConfig,
    Pacer,
    PacerConfig,
    Scrubber,
    ServiceProfile,
    dumps,
    find_rule,
    loads,
    parse_retry_after,
)
from app.connectors.pagination import PageNumberPaging, SkipTopPaging
from app.connectors.xero.profile import XERO
from app.domain.errors import (
    AuthenticationError,
    CancelledError,
    NotFoundError,
    RateLimited,
    RejectedError,
    TransientError,
)
from app.domain.progress import CancelToken


@pytest.mark.parametrize(
    ("outcome", "action", "error", "safe"),
    [
        (requests.exceptions.ConnectTimeout(), Action.RETRY, TransientError, True),
        (requests.exceptions.ReadTimeout(), Action.RETRY, TransientError, False),
        (requests.exceptions.ConnectionError(), Action.RETRY, TransientError, False),
        (requests.exceptions.ChunkedEncodingError(), Action.RETRY, TransientError, False),
        (BodyError("html"), Action.RETRY, TransientError, False),
        (401, Action.REFRESH, AuthenticationError, False),
        (403, Action.FAIL, AuthenticationError, False),
        (404, Action.FAIL, NotFoundError, False),
        (429, Action.RATE_WAIT, RateLimited, True),
        (503, Action.RETRY, TransientError, True),
        (502, Action.RETRY, TransientError, False),
        (400, Action.FAIL, RejectedError, False),
        (422, Action.FAIL, RejectedError, False),
    ],
)
def test_error_table(outcome: int | BaseException, action: Action, error: type, safe: bool) -> None:
    rule = find_rule(outcome)
    assert rule is not None
    assert (rule.action, rule.error, rule.safe_unsent) == (action, error, safe)
    assert find_rule(200) is None


def test_scrubber_removes_registered_secrets_and_token_fields() -> None:
    s = Scrubber()
    s.add("s3cr3t-password", None, "ab")  # too-short values are ignored (they would blank ordinary words)
    text = s.scrub(
        'login failed for s3cr3t-password; {"access_token": "eyJabc.def", "refresh_token":"r-123"} '
        "Authorization: Bearer eyJhbGciOi.xyz password=hunter22&x=1 ab"
    )
    assert "s3cr3t-password" not in text and "eyJabc.def" not in text and "r-123" not in text
    assert "eyJhbGciOi" not in text and "hunter22" not in text
    assert text.endswith("ab")


def test_json_is_decimal_both_ways() -> None:
    data = loads('{"a": 0.1, "b": 2, "c": [1.10]}')
    assert data == {"a": Decimal("0.1"), "b": 2, "c": [Decimal("1.10")]}
    assert type(data["a"]) is Decimal
    text = dumps({"Amount": Decimal("100.10"), "n": "x\u0000y", "l": [Decimal("-0.005")], "q": 1})
    assert text == '{"Amount": 100.10, "n": "x\\u0000y", "l": [-0.005], "q": 1}'
    with pytest.raises(TypeError):
        dumps({"x": 0.1})


_JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=30,
).map(dumps)


@settings(max_examples=300, deadline=None)
@given(_JSON_TEXT, st.booleans())
def test_fast_json_reader_reads_what_the_standard_one_reads(text: str, as_bytes: bool) -> None:
    expected = json.loads(text, parse_float=Decimal)
    got = loads(text.encode() if as_bytes else text)
    assert got == expected
    assert repr(got) == repr(expected)  # same types and Decimal digits, key order included


@pytest.mark.parametrize("body", ['{"Total": NaN}', "[Infinity]", '{"a": -Infinity}'])
def test_json_outside_rfc_8259_is_refused(body: str) -> None:
    # Python's json reads these as floats; a float must never reach a record or the cache's raw payloads.
    with pytest.raises(ValueError, match="is not a JSON number"):
        loads(body)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2026, 10, 14, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 14 Oct 2026 12:00:30 GMT", now=now) == 30.0


def test_pacer_token_bucket_spaces_calls_after_the_burst() -> None:
    clock = [0.0]
    pacer = Pacer(PacerConfig(rate=2.0, burst=2, max_in_flight=2), clock=lambda: clock[0])
    assert pacer._take("t") == 0.0 and pacer._take("t") == 0.0
    assert pacer._take("t") == pytest.approx(0.5)  # empty: wait for one token at 2/s
    assert pacer._take("other") == 0.0  # buckets are per key (tenant / endpoint)
    clock[0] = 1.0
    assert pacer._take("t") == 0.0


def test_pacer_caps_calls_in_flight_and_wakes_on_cancel() -> None:
    pacer = Pacer(PacerConfig(rate=1000, burst=1000, max_in_flight=1))
    cancel = CancelToken()
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with pacer.slot(cancel):
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    entered.wait(5)
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(CancelledError), pacer.slot(cancel):
        pass
    assert time.monotonic() - started < 2
    release.set()
    worker.join()


def test_paging_strategies() -> None:
    skip = SkipTopPaging(1000)
    assert skip.params(2000) == {"$top": "1000", "$skip": "2000", "$count": "true"}
    # A short page is not the end (a tenant may cap `$top` lower); an empty page, or reaching the count, is.
    assert skip.next(0, 1000) == 1000 and skip.next(1000, 999) == 1999 and skip.next(1999, 0) is None
    assert skip.next(0, 100, total=250) == 100 and skip.next(200, 50, total=250) is None
    pages = PageNumberPaging(1000)
    assert pages.params(3) == {"page": "3", "pageSize": "1000"}
    assert pages.next(1, 1000, {"pagination": {"pageCount": 3}}) == 2
    assert pages.next(3, 1000, {"pagination": {"pageCount": 3}}) is None
    assert pages.next(1, 10, {"pagination": {"pageCount": 3}}) is None  # a short page ends it anyway
    assert pages.next(1, 1000, {}) == 2  # no pagination object: go on until a short page


# --- service profiles: what one service's package tells the generic client ------------------------------------


class _Canned(BaseHTTPRequestHandler):
    """Answers each path with a canned status, headers and JSON body (set on the server as `answers`)."""

    def do_GET(self) -> None:
        status, headers, body = self.server.answers[self.path]  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet: each test asserts what it needs; the server's access log would only be noise."""


@pytest.fixture
def canned() -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], object]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.answers = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.answers  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


XERO_REFUSAL = {"Elements": [{"ValidationErrors": [{"Message": "Account code '999' is not a valid code"}]}]}
AP_REFUSAL = {"errors": [{"field": "PONumber", "message": "is too long"}]}


@pytest.mark.parametrize(
    ("profile", "body", "reason"),
    [
        (XERO, XERO_REFUSAL, "Account code '999' is not a valid code"),
        (ACCESSPLANIT, AP_REFUSAL, "PONumber: is too long"),
        (XERO, {"Message": "A validation exception occurred"}, "A validation exception occurred"),
        (ACCESSPLANIT, {"error_description": "bad grant"}, "bad grant"),
    ],
)
def test_refusal_reasons_come_from_the_service_profile(
    canned: tuple[str, dict[str, Any]], profile: ServiceProfile, body: object, reason: str
) -> None:
    url, answers = canned
    answers["/refuse"] = (400, {}, body)
    http = HttpClient(profile, config=HttpConfig(max_attempts=1))
    with pytest.raises(RejectedError) as caught:
        http.request("GET", f"{url}/refuse")
    assert caught.value.details == (reason,)
    assert profile.label in str(caught.value) and reason in str(caught.value)


def test_a_profile_does_not_read_another_services_error_shape(canned: tuple[str, dict[str, Any]]) -> None:
    url, answers = canned
    answers["/refuse"] = (400, {}, XERO_REFUSAL)
    with pytest.raises(RejectedError) as caught:
        HttpClient(ACCESSPLANIT, config=HttpConfig(max_attempts=1)).request("GET", f"{url}/refuse")
    assert caught.value.details == ()


def test_budget_and_rate_limit_headers_are_the_profiles(canned: tuple[str, dict[str, Any]]) -> None:
    url, answers = canned
    budget = {"X-DayLimit-Remaining": "4873", "X-MinLimit-Remaining": "54"}
    answers["/ok"] = (200, budget, {"ok": True})
    answers["/day"] = (429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}, {})
    xero = HttpClient(XERO, config=HttpConfig(max_attempts=1))
    assert xero.request("GET", f"{url}/ok").data == {"ok": True}
    assert xero.stats.budget == {"xero.day_remaining": "4873", "xero.min_remaining": "54"}
    with pytest.raises(RateLimited) as caught:
        xero.request("GET", f"{url}/day")
    assert caught.value.problem == "day" and "daily limit" in str(caught.value)
    # accessplanit names no budget headers and no problem header: the same answers mean nothing more to it.
    ap = HttpClient(ACCESSPLANIT, config=HttpConfig(max_attempts=1, max_rate_wait=1.0))
    ap.request("GET", f"{url}/ok")
    assert ap.stats.budget == {}
    with pytest.raises(RateLimited) as caught:
        ap.request("GET", f"{url}/day")
    assert caught.value.problem == "hour"  # a wait longer than max_rate_wait stops the system for the hour


def test_every_system_has_a_registered_connector_paced_from_its_profile() -> None:
    from app.composition import CONNECTORS, ConnectorFactory
    from app.domain.status import System
    from app.settings import Settings

    assert set(CONNECTORS) == set(System)
    factory = ConnectorFactory(Settings())
    assert factory.pacing(System.XERO) == XERO.pacing  # the settings' defaults are the profile's presets
    assert factory.pacing(System.ACCESSPLANIT) == ACCESSPLANIT.pacing
    faster = ConnectorFactory(replace(Settings(), xero_calls_per_minute=30, accessplanit_calls_per_hour=3600))
    assert faster.pacing(System.XERO).rate == 0.5 and faster.pacing(System.XERO).burst == XERO.pacing.burst
    assert faster.pacing(System.ACCESSPLANIT).rate == 1.0
