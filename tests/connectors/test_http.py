"""The pure parts of `app.connectors.http` and `pagination`: error table, scrubbing, JSON, Retry-After, pacing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from app.connectors.http import (
    Action,
    BodyError,
    Pacer,
    PacerConfig,
    Scrubber,
    dumps,
    find_rule,
    loads,
    parse_retry_after,
)
from app.connectors.pagination import PageNumberPaging, SkipTopPaging
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
    assert skip.params(2000) == {"$top": "1000", "$skip": "2000"}
    assert skip.next(0, 1000) == 1000 and skip.next(1000, 999) is None
    pages = PageNumberPaging(1000)
    assert pages.params(3) == {"page": "3", "pageSize": "1000"}
    assert pages.next(1, 1000, {"pagination": {"pageCount": 3}}) == 2
    assert pages.next(3, 1000, {"pagination": {"pageCount": 3}}) is None
    assert pages.next(1, 10, {"pagination": {"pageCount": 3}}) is None  # a short page ends it anyway
    assert pages.next(1, 1000, {}) == 2  # no pagination object: go on until a short page
