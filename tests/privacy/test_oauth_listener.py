"""The OAuth loopback listener, over real sockets: a wrong `state` is answered and ignored (the sign-in goes on),
Xero's `error` is escaped in the page, and an idle connection does not hold up the real redirect."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from app.connectors.xero.auth import DEFAULT_SCOPES, LoopbackListener
from app.domain.errors import AuthenticationError


@pytest.fixture
def listener() -> Iterator[LoopbackListener]:
    found = LoopbackListener("the-right-state")
    try:
        yield found
    finally:
        found.close()


def _get(listener: LoopbackListener, query: str) -> requests.Response:
    return requests.get(f"{listener.redirect_uri}?{query}", timeout=10)


def test_a_wrong_state_is_answered_and_ignored_then_the_right_answer_completes(listener: LoopbackListener) -> None:
    stale = _get(listener, "code=stolen-code&state=another-state")
    assert stale.status_code == 400
    assert "does not belong to the sign-in in progress" in stale.text and "ignored" in stale.text
    assert listener.code is None and listener.error is None and listener.ignored == 1
    ok = _get(listener, "code=the-real-code&state=the-right-state")
    assert ok.status_code == 200 and "connected to Xero" in ok.text
    assert listener.wait(5) == "the-real-code"


def test_xeros_error_is_escaped_in_the_page(listener: LoopbackListener) -> None:
    page = _get(listener, "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=the-right-state")
    assert page.status_code == 400
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    with pytest.raises(AuthenticationError, match="did not grant access"):
        listener.wait(5)


def test_an_idle_connection_does_not_block_the_redirect(listener: LoopbackListener) -> None:
    idle = socket.create_connection(("127.0.0.1", listener.port))  # says nothing, stays open
    half = socket.create_connection(("127.0.0.1", listener.port))
    half.sendall(b"GET /callback?code=x")  # a request line that never ends
    try:
        got: list[str] = []
        done = threading.Event()

        def redirect() -> None:
            got.append(_get(listener, "code=real&state=the-right-state").text)
            done.set()

        threading.Thread(target=redirect, daemon=True).start()
        # Served on its own thread at once; a one-at-a-time server would wait for the idle sockets' timeout (5 s).
        assert done.wait(LoopbackListener.IDLE_SECONDS / 2), "the redirect waited behind an idle connection"
        assert "connected to Xero" in got[0]
        assert listener.wait(1) == "real"
    finally:
        idle.close()
        half.close()


def test_scopes_ask_only_for_what_is_used() -> None:
    assert set(DEFAULT_SCOPES) == {
        "offline_access",
        "accounting.transactions",
        "accounting.contacts.read",
        "accounting.settings.read",
    }
