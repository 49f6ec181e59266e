"""Answers no page should be: a gzip body that inflates past the cap (refused with a message, not retried, memory
bounded by the cap), JSON nested 200,000 deep (refused, not a RecursionError), and a service's words that repeat
the message or carry brackets of their own. Real HTTP on loopback."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.connectors.http import MAX_BODY_BYTES, HttpClient, HttpConfig, loads, tidy_detail
from app.connectors.xero.profile import XERO
from app.domain.errors import RejectedError, TransientError

# 80 MB of one byte compresses to about 80 KB: past the cap once inflated, small on the wire.
BOMB = gzip.compress(b" " * (MAX_BODY_BYTES + 16 * 1024 * 1024), compresslevel=9)
DEEP = b"[" * 200_000 + b"]" * 200_000


class _Raw(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        status, headers, body = self.server.answers[self.path]  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def raw_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Raw)
    server.answers = {}  # type: ignore[attr-defined]
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_gzip_body_that_inflates_past_the_cap_is_refused_once(raw_server: ThreadingHTTPServer) -> None:
    assert len(BOMB) < 1024 * 1024  # small on the wire
    raw_server.answers["/bomb"] = (  # type: ignore[attr-defined]
        200,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        BOMB,
    )
    http = HttpClient(XERO, config=HttpConfig(max_attempts=3, backoff_base=0.01, backoff_cap=0.02))
    with pytest.raises(TransientError) as caught:
        http.request("GET", _url(raw_server, "/bomb"))
    assert "too large to read" in str(caught.value) and "nothing from it was kept" in caught.value.user_text()
    assert raw_server.hits == 1  # type: ignore[attr-defined]  # the same answer would come again: not retried


def test_a_page_just_under_the_cap_is_read(raw_server: ThreadingHTTPServer) -> None:
    body = b'{"Invoices": [], "pad": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    raw_server.answers["/big"] = (  # type: ignore[attr-defined]
        200,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(body),
    )
    reply = HttpClient(XERO, config=HttpConfig(max_attempts=1)).request("GET", _url(raw_server, "/big"))
    assert reply.data["Invoices"] == [] and len(reply.data["pad"]) == 8 * 1024 * 1024


def test_json_nested_200000_deep_is_refused_with_a_message(raw_server: ThreadingHTTPServer) -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        loads(DEEP)
    raw_server.answers["/deep"] = (200, {"Content-Type": "application/json"}, DEEP)  # type: ignore[attr-defined]
    http = HttpClient(XERO, config=HttpConfig(max_attempts=2, backoff_base=0.01, backoff_cap=0.02))
    with pytest.raises(TransientError) as caught:
        http.request("GET", _url(raw_server, "/deep"))
    assert "could not be read" in str(caught.value) and "nested too deep" in str(caught.value)


def test_a_services_words_are_shown_once_and_without_nested_brackets(raw_server: ThreadingHTTPServer) -> None:
    body = b'{"Message": "Bad request (field Reference (too long)). Correct the record as the message says."}'
    raw_server.answers["/refuse"] = (400, {"Content-Type": "application/json"}, body)  # type: ignore[attr-defined]
    with pytest.raises(RejectedError) as caught:
        HttpClient(XERO, config=HttpConfig(max_attempts=1)).request("GET", _url(raw_server, "/refuse"))
    text = caught.value.user_text()
    assert text.lower().count("correct the record as the message says") == 1, text
    assert "field Reference" in text and "((" not in text and text.count("(") == 1, text


@pytest.mark.parametrize(
    ("detail", "said", "shown"),
    [
        ("Service unavailable. Try again later.", "X is down. Try again later; if it persists", "Service unavailable."),
        ("Try again later.", "Try again later.", ""),
        ("Internal error (UnicodeEncodeError (x))", "", "Internal error UnicodeEncodeError: x"),
        ("plain words", "other words", "plain words"),
    ],
)
def test_tidy_detail(detail: str, said: str, shown: str) -> None:
    assert tidy_detail(detail, said) == shown
