"""Xero OAuth 2.0: custom connections (client_credentials) and the desktop flow (authorization code + PKCE).

- Custom connection: Basic auth client_id:secret, a new 30-minute token whenever the last one is near expiry.
- PKCE: `authorize_url(...)`, a loopback listener on 127.0.0.1 at a fixed port that takes `code` and checks `state`,
  the code exchange with `code_verifier`, `offline_access` for a refresh token. Refresh tokens ROTATE: the new token
  set is saved through `SecretBox.save` BEFORE the new access token is used, one refresher at a time (a lock per
  connection in this process, and an `fcntl` file lock across processes when a lock directory is given).
  `invalid_grant` means the grant is gone: `AuthenticationError` telling the user to reconnect.
- `connect_headless(...)` runs the whole PKCE flow without a browser (for the sandbox, the CLI and tests).
Must not: write secrets anywhere but the `SecretBox`, or log them (every token is registered with the scrubber).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from app.connectors.base import SecretBox
from app.connectors.http import HttpClient
from app.domain.errors import AuthenticationError, ConnectorError
from app.domain.progress import CancelToken

EXPIRY_MARGIN = 60.0
DEFAULT_SCOPES = (
    "offline_access",  # a refresh token: syncs without signing in each time
    "accounting.transactions",  # invoices, payments and credit notes: read, and written by pushes
    "accounting.contacts.read",  # read only: Recondesk never edits a contact
    "accounting.settings.read",  # read only: the organisation, accounts and tax rates a push is checked against
)
RECONNECT = "Reconnect Xero in Edit > Connections (sign in again)."

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _file_lock(directory: Path | None, key: str) -> Iterator[None]:
    """An exclusive lock across processes (two processes refreshing one token set get `invalid_grant`)."""
    if directory is None:
        yield
        return
    import fcntl  # POSIX only; Windows builds run one process per profile

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = hashlib.sha256(key.encode()).hexdigest()[:24]
    fd = os.open(directory / f"xero-refresh-{safe}.lock", os.O_RDWR | os.O_CREAT, 0o600)  # owner-only
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _token_error(reply_data: Any, status: int) -> AuthenticationError:
    data = reply_data if isinstance(reply_data, dict) else {}
    code = str(data.get("error") or "")
    if code == "invalid_client":  # the app's own credentials, not the sign-in: reconnecting the same way fails again
        return AuthenticationError(
            "Xero refused the client id or client secret.",
            "Check both against the app at developer.xero.com, then connect again.",
            system="xero",
            status=status,
        )
    if code in ("invalid_grant", "unauthorized_client"):
        return AuthenticationError(
            "Xero no longer accepts this connection (the sign-in expired or was revoked).",
            RECONNECT,
            system="xero",
            status=status,
        )
    return AuthenticationError(f"Xero refused the sign-in ({code or status}).", RECONNECT, system="xero", status=status)


class ClientCredentialsAuth:
    """A custom connection: one organisation, no refresh token; a new access token on expiry."""

    def __init__(
        self,
        http: HttpClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        tenant_id: str = "",
        scopes: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.tenant_id = tenant_id
        self.scopes = tuple(s for s in scopes if s != "offline_access")
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.granted_scopes: tuple[str, ...] = ()
        self.tokens_fetched = 0
        http.scrubber.add(client_secret)

    def bearer(self, cancel: CancelToken) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN:
                self._fetch(cancel)
            assert self._token is not None
            return self._token

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        headers["Authorization"] = f"Bearer {self.bearer(cancel)}"
        if self.tenant_id:
            headers["xero-tenant-id"] = self.tenant_id

    def renew(self, cancel: CancelToken) -> bool:
        with self._lock:
            self._token = None
            self._fetch(cancel)
        return True

    def _fetch(self, cancel: CancelToken) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        reply = self._http.request(
            "POST",
            self.token_url,
            form=form,
            basic=(self.client_id, self._secret),
            cancel=cancel,
            accept=(400, 401),
            idempotent=True,
        )
        token = reply.data.get("access_token") if isinstance(reply.data, dict) else None
        if reply.status != 200 or not isinstance(token, str):
            raise _token_error(reply.data, reply.status)
        self._http.scrubber.add(token)
        self._token = token
        self._expires_at = self._clock() + float(reply.data.get("expires_in", 1800))  # float ok: seconds
        self.granted_scopes = tuple(str(reply.data.get("scope") or "").split())
        self.tokens_fetched += 1


class OAuthAuth:
    """Authorization code + PKCE tokens kept in a `SecretBox`: `{"access_token", "refresh_token", "expires_at"
    (epoch seconds), "scope"}`. Refreshes rotate the refresh token; the new set is saved before it is used."""

    def __init__(
        self,
        http: HttpClient,
        token_url: str,
        client_id: str,
        box: SecretBox,
        *,
        tenant_id: str = "",
        connection_id: str = "",
        lock_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self.box = box
        self.tenant_id = tenant_id
        self.connection_id = connection_id or client_id
        self.lock_dir = lock_dir
        self._clock = clock
        self._tokens: dict[str, str] | None = None
        self.refreshes = 0

    @property
    def granted_scopes(self) -> tuple[str, ...]:
        return tuple((self._tokens or {}).get("scope", "").split())

    def _valid(self, tokens: dict[str, str] | None) -> bool:
        if not tokens or not tokens.get("access_token"):
            return False
        try:
            return self._clock() < float(tokens.get("expires_at", "0")) - EXPIRY_MARGIN  # float ok: seconds
        except ValueError:
            return False

    def bearer(self, cancel: CancelToken) -> str:
        if self._tokens is None:
            self._tokens = dict(self.box.load())
            self._http.scrubber.add(*self._tokens.values())
        if not self._valid(self._tokens):
            self._refresh(cancel, stale=self._tokens.get("access_token"))
        assert self._tokens is not None
        return self._tokens["access_token"]

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        headers["Authorization"] = f"Bearer {self.bearer(cancel)}"
        if self.tenant_id:
            headers["xero-tenant-id"] = self.tenant_id

    def renew(self, cancel: CancelToken) -> bool:
        self._refresh(cancel, stale=(self._tokens or {}).get("access_token"), force=True)
        return True

    def _refresh(self, cancel: CancelToken, *, stale: str | None, force: bool = False) -> None:
        with _lock_for(self.connection_id), _file_lock(self.lock_dir, self.connection_id):
            # Another thread or process may have refreshed while we waited: use its tokens, do not spend ours.
            current = dict(self.box.load())
            self._http.scrubber.add(*current.values())
            if current.get("access_token") != stale and self._valid(current):
                self._tokens = current
                return
            if not force and self._valid(current):
                self._tokens = current
                return
            refresh = current.get("refresh_token")
            if not refresh:
                raise AuthenticationError("There is no saved Xero sign-in to renew.", RECONNECT, system="xero")
            form = {"grant_type": "refresh_token", "client_id": self.client_id, "refresh_token": refresh}
            reply = self._http.request(
                "POST", self.token_url, form=form, cancel=cancel, accept=(400, 401), idempotent=True
            )
            if reply.status != 200 or not isinstance(reply.data, dict) or not reply.data.get("access_token"):
                raise _token_error(reply.data, reply.status)
            tokens = token_set(reply.data, self._clock(), previous=current)
            self._http.scrubber.add(*tokens.values())
            self.box.save(tokens)  # BEFORE use: the old refresh token is now spent
            self._tokens = tokens
            self.refreshes += 1


def token_set(data: dict[str, Any], now: float, previous: dict[str, str] | None = None) -> dict[str, str]:
    """The secret to save from a token answer (keeps the old refresh token if the answer has none)."""
    tokens = {
        "access_token": str(data["access_token"]),
        "refresh_token": str(data.get("refresh_token") or (previous or {}).get("refresh_token", "")),
        "expires_at": str(int(now + float(data.get("expires_in", 1800)))),  # float ok: seconds
        "scope": str(data.get("scope") or (previous or {}).get("scope", "")),
    }
    return tokens


# --------------------------------------------------------------------------------------------------- PKCE
def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge): 64 URL-safe characters and BASE64URL(SHA256(verifier)) without padding."""
    verifier = secrets.token_urlsafe(48)[:64]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    authorize_endpoint: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{authorize_endpoint}?{urlencode(query)}"


class LoopbackListener:
    """Receives the OAuth redirect on `http://localhost:{port}/callback` (bound to 127.0.0.1) and checks `state`.

    Port 0 picks a free port (tests); real use takes the fixed port registered with Xero. Each connection has its
    own thread and a read timeout, so an idle or slow connection (a browser's speculative pre-connect, a port
    scanner) never blocks the real redirect. An answer with another `state` (a stale tab, a forged link) gets a page
    saying so and is ignored: the listener keeps waiting for this sign-in's answer. Nothing of a request is logged
    (its query holds the code), and what Xero sends back is HTML-escaped before it is shown.
    """

    IDLE_SECONDS = 5.0

    def __init__(self, state: str, port: int = 0, path: str = "/callback") -> None:
        self.state = state
        self.path = path
        self.code: str | None = None
        self.error: str | None = None
        self.ignored = 0  # answers with another state
        self._done = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = LoopbackListener.IDLE_SECONDS  # per connection: an idle socket is dropped, never waited on

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != listener.path:
                    self.send_error(404)
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if listener._done.is_set():
                    self._page(409, "Sign-in already finished", "Recondesk already has its answer; close this window.")
                    return
                if not secrets.compare_digest(query.get("state", ""), listener.state):
                    listener.ignored += 1
                    self._page(
                        400,
                        "This answer does not belong to the sign-in in progress",
                        "It was ignored. Finish signing in in the window Recondesk opened, or start again there.",
                    )
                    return
                if "error" in query:
                    listener.error = f"Xero did not grant access ({query['error']})."
                elif not query.get("code"):
                    listener.error = "Xero's answer had no authorization code."
                else:
                    listener.code = query["code"]
                if listener.error is None:
                    self._page(200, "Recondesk is connected to Xero.", "You can close this window.")
                else:
                    self._page(400, "Sign-in failed", listener.error)
                listener._done.set()

            def _page(self, status: int, title: str, text: str) -> None:
                body = f"<html><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body.encode())))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the query holds the code: never log it

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="xero-oauth-loopback"
        )
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        """What is sent to Xero, which matches it exactly against the app's registered URI: `localhost`, as
        Xero's docs show for desktop apps and the README asks users to register (the browser reaches this
        listener on 127.0.0.1 through it)."""
        return f"http://localhost:{self.port}{self.path}"

    def wait(self, timeout: float, cancel: CancelToken | None = None) -> str:
        """The authorization code, once the browser came back; raises on error, timeout or cancel."""
        deadline = time.monotonic() + timeout
        cancel = cancel or CancelToken()
        while not self._done.wait(0.1):
            cancel.check()
            if time.monotonic() > deadline:
                raise AuthenticationError(
                    "The Xero sign-in did not come back in time.", "Try connecting again.", system="xero"
                )
        if self.error or not self.code:
            raise AuthenticationError(self.error or "No authorization code.", "Try connecting again.", system="xero")
        return self.code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def exchange_code(
    http: HttpClient,
    token_url: str,
    client_id: str,
    code: str,
    redirect_uri: str,
    verifier: str,
    *,
    now: Callable[[], float] = time.time,
) -> dict[str, str]:
    """Trade the authorization code for the first token set."""
    http.scrubber.add(code, verifier)
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    reply = http.request("POST", token_url, form=form, accept=(400, 401), idempotent=False)
    if reply.status != 200 or not isinstance(reply.data, dict) or not reply.data.get("access_token"):
        raise _token_error(reply.data, reply.status)
    if not reply.data.get("refresh_token"):
        raise AuthenticationError(
            "Xero gave no refresh token (offline_access was not granted).", RECONNECT, system="xero"
        )
    tokens = token_set(reply.data, now())
    http.scrubber.add(*tokens.values())
    return tokens


def run_pkce_flow(
    http: HttpClient,
    *,
    authorize_endpoint: str,
    token_url: str,
    client_id: str,
    box: SecretBox,
    open_browser: Callable[[str], None],
    port: int = 0,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    timeout: float = 300.0,
    cancel: CancelToken | None = None,
) -> dict[str, str]:
    """The whole desktop sign-in: listener, browser, code, exchange; the token set is saved in `box`."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    listener = LoopbackListener(state, port)
    try:
        open_browser(authorize_url(authorize_endpoint, client_id, listener.redirect_uri, state, challenge, scopes))
        code = listener.wait(timeout, cancel)
    finally:
        listener.close()
    tokens = exchange_code(http, token_url, client_id, code, listener.redirect_uri, verifier)
    box.save(tokens)
    return tokens


def connect_headless(
    http: HttpClient,
    *,
    identity_url: str,
    client_id: str,
    box: SecretBox,
    port: int = 0,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    timeout: float = 30.0,
) -> dict[str, str]:
    """`run_pkce_flow` without a browser, for the sandbox: GET the authorize URL with redirects off and follow the
    302 to the loopback listener ourselves (the sandbox consents automatically)."""
    base = identity_url.rstrip("/")

    def follow(url: str) -> None:
        first = requests.get(url, allow_redirects=False, timeout=(http.config.connect_timeout, 30))
        location = first.headers.get("Location")
        if first.status_code not in (301, 302, 303, 307) or not location:
            raise ConnectorError(
                f"The Xero sign-in page did not redirect (status {first.status_code}).",
                "Headless sign-in works against the sandbox only; use the browser sign-in.",
                system="xero",
                status=first.status_code,
            )
        requests.get(location, allow_redirects=False, timeout=(http.config.connect_timeout, 30))

    return run_pkce_flow(
        http,
        authorize_endpoint=f"{base}/connect/authorize",
        token_url=f"{base}/connect/token",
        client_id=client_id,
        box=box,
        open_browser=follow,
        port=port,
        scopes=scopes,
        timeout=timeout,
    )


def revocation_endpoint(token_url: str) -> str:
    """The identity server's revocation endpoint next to its token endpoint (Xero: identity.xero.com/connect/...)."""
    return token_url.rstrip("/").rsplit("/", 1)[0] + "/revocation"


def revoke_refresh_token(
    http: HttpClient, token_url: str, client_id: str, box: SecretBox, cancel: CancelToken | None = None
) -> bool:
    """Revoke the saved refresh token at the identity server (RFC 7009), which ends the whole grant: neither it nor
    any access token from it works afterwards. False when there was no refresh token to revoke; an error when the
    server refused or could not be reached (an unknown or already revoked token is not an error: it answers 200).
    Sent with `requests` directly (the server's 200 has an empty body, which `HttpClient` takes for a cut-off
    answer); the timeouts are `http`'s."""
    refresh = dict(box.load()).get("refresh_token", "")
    if not refresh:
        return False
    if cancel is not None:
        cancel.check()
    http.scrubber.add(refresh)
    form = {"token": refresh, "token_type_hint": "refresh_token", "client_id": client_id}
    timeout = (http.config.connect_timeout, http.config.read_timeout)
    try:
        reply = requests.post(revocation_endpoint(token_url), data=form, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise ConnectorError(
            f"Xero's sign-in server could not be reached ({type(exc).__name__}).",
            "Check the network connection and try again.",
            system="xero",
        ) from None
    if reply.status_code != 200:
        try:
            data: Any = reply.json()
        except ValueError:
            data = None
        raise _token_error(data, reply.status_code)
    return True
