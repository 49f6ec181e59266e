"""accessplanit credentials: a username/password token (OWIN password grant) or an API key, sent as a bearer.

The token lives in memory only, is renewed a minute before it expires, and after a 401 the client logs in again
once (`renew`). Must not: store anything on disk or in logs; every secret is registered with the scrubber.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.connectors.http import HttpClient
from app.domain.errors import AuthenticationError, ConnectorError
from app.domain.progress import CancelToken

EXPIRY_MARGIN = 60.0  # seconds before expiry at which a token is renewed, so it never dies mid-request


class ApiKeyAuth:
    """An API key created in the platform, sent exactly like a token. Nothing to renew."""

    def __init__(self, api_key: str, http: HttpClient) -> None:
        self._key = api_key
        http.scrubber.add(api_key)

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        headers["Authorization"] = f"Bearer {self._key}"

    def renew(self, cancel: CancelToken) -> bool:
        return False  # a refused key stays refused: the user must create a new one


class PasswordAuth:
    """`POST {root}/api/v2/token` with `grant_type=password`; the token is kept in memory until near expiry."""

    def __init__(
        self,
        token_url: str,
        username: str,
        password: str,
        http: HttpClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: float = EXPIRY_MARGIN,
    ) -> None:
        self.token_url = token_url
        self.margin = margin
        self._username = username
        self._password = password
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.logins = 0  # how many tokens were fetched (the connection check and tests read it)
        http.scrubber.add(password)

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self.margin:
                self._login(cancel)
            assert self._token is not None
            headers["Authorization"] = f"Bearer {self._token}"

    def renew(self, cancel: CancelToken) -> bool:
        with self._lock:
            self._token = None
            self._login(cancel)
        return True

    def _login(self, cancel: CancelToken) -> None:
        form = {"grant_type": "password", "username": self._username, "password": self._password}
        try:
            reply = self._http.request(
                "POST", self.token_url, form=form, cancel=cancel, accept=(400, 401), idempotent=True
            )  # a login has no side effect worth protecting
        except ConnectorError as exc:
            if exc.status in (404,):
                raise AuthenticationError(
                    "accessplanit has no token endpoint at this address.",
                    "Check the connection's URL: it is the site root, e.g. https://acme.accessplanit.com/accessplan.",
                    system="accessplanit",
                    status=exc.status,
                ) from None
            raise
        data = reply.data if isinstance(reply.data, dict) else {}
        token = data.get("access_token")
        if reply.status != 200 or not isinstance(token, str) or not token:
            reason = data.get("error_description") or data.get("error") or "no token in the answer"
            raise AuthenticationError(
                f"accessplanit refused the user name or password ({self._http.scrubber.scrub(str(reason))}).",
                "Check the API user's name and password in Edit > Connections.",
                system="accessplanit",
                status=reply.status,
            )
        self._http.scrubber.add(token, data.get("refresh_token"))
        expires_in = data.get("expires_in", 3600)
        self._token = token
        lifetime = expires_in if isinstance(expires_in, int) else 3600
        self._expires_at = self._clock() + float(lifetime)  # float ok: seconds
        self.logins += 1
