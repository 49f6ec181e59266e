"""HTTP for every connector: one session factory, one error table, retries with backoff, pacing and scrubbing.

Responsibilities:
- a `requests.Session` with connect/read timeouts;
- JSON read with `parse_float=Decimal`, only after the status and the content type were checked (an HTML page
  with status 200 or a truncated body is a `TransientError`, never a crash);
- ONE declarative table (`ERROR_TABLE`) that maps a status or an exception to an action: retry, refresh the
  credentials then retry, wait for the rate limit, or fail with a message for people;
- exponential backoff with jitter that honours `Retry-After`; a daily-limit 429 stops the system cleanly;
- a per-system `Pacer` (token bucket per key + a cap on calls in flight) and the remaining-call headers copied
  into `CallStats.budget`;
- `ServiceProfile`: what one service's connector package tells this module about the service (its label, paced
  limits, budget and rate-limit headers, error-body reader), so nothing here names a service;
- secrets scrubbed from every message and log line (`Scrubber`);
- transport: https:// only (plain http:// to loopback alone, `app.domain.transport`), certificates always verified,
  against the system's store or the CA bundle of `HttpConfig.ca_bundle`; a refused certificate is named, not retried;
- the `CancelToken` checked before every request and during every wait.

Must not: know any system's URLs, fields, limits, headers or error bodies (that is each system's `profile`,
`auth` and `client` modules), touch storage, or log a secret.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol

import msgspec
import requests

from app.connectors.base import CallStats
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    NotFoundError,
    RateLimited,
    RejectedError,
    TransientError,
)
from app.domain.progress import CancelToken
from app.domain.transport import check_transport

log = logging.getLogger(__name__)

USER_AGENT = "Recondesk/0.1 (+desktop reconciliation)"


# --------------------------------------------------------------------------------------------------- scrubbing
_SECRET_FIELD = re.compile(
    r"(?i)(\b(?:access_token|refresh_token|id_token|client_secret|password|api_key|apikey|code_verifier|code|token)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
)
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")


class Scrubber:
    """Removes secrets from text: every value registered with `add`, plus anything that looks like a token field.

    Thread-safe; auth objects register each secret they hold or receive, so even an unexpected echo is caught.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            # Very short values would blank out ordinary words; real secrets are long.
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
        return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}***", text)


# --------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Timeouts and retry policy. Seconds are floats (time, not money)."""

    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 5  # first try included
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_rate_wait: float = 120.0  # a longer Retry-After stops the system instead of blocking the sync
    ca_bundle: str = ""  # a PEM file of trusted CAs (a corporate proxy's); empty: the system's store. Never off.


def make_session(config: HttpConfig | None = None) -> requests.Session:
    """A session with our User-Agent and JSON accept header. Timeouts are passed per request (requests has no
    session-wide timeout), from the `HttpConfig` the `HttpClient` holds."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    # Connection pooling: two calls in flight at most per system, so a small pool is plenty.
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------------------------------- pacing
@dataclass(frozen=True, slots=True)
class PacerConfig:
    """A token bucket per key: `rate` tokens a second, at most `burst` saved up; `max_in_flight` concurrent calls.

    Each service's preset is in its connector package's `profile.py`.
    """

    rate: float
    burst: int
    max_in_flight: int = 2

    @staticmethod
    def unlimited() -> PacerConfig:
        """For tests against the loopback sandboxes, which enforce their own limits."""
        return PacerConfig(rate=1e9, burst=1_000_000, max_in_flight=4)


class Pacer:
    """Per-system pacing: token buckets keyed by endpoint or tenant, a cap on calls in flight, and a stop
    (`block_until`) after a daily limit, so later calls fail fast with the time the system can resume."""

    def __init__(self, config: PacerConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._in_flight = threading.BoundedSemaphore(max(1, config.max_in_flight))
        self._blocked: RateLimited | None = None
        self._blocked_until = 0.0  # wall clock (time.time)

    def block_until(self, error: RateLimited) -> None:
        with self._lock:
            self._blocked = error
            self._blocked_until = time.time() + error.retry_after

    def _take(self, key: str) -> float:
        """Take a token for `key`; return 0 or how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self.config.burst), now))  # float ok: seconds
            tokens = min(float(self.config.burst), tokens + (now - last) * self.config.rate)  # float ok: seconds
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.config.rate

    @contextmanager
    def slot(self, cancel: CancelToken, key: str = "") -> Iterator[None]:
        """Wait for a token and a free in-flight slot (checking `cancel` while waiting), then run the call."""
        with self._lock:
            blocked, until = self._blocked, self._blocked_until
        if blocked is not None and time.time() < until:
            raise RateLimited(
                blocked.message,
                blocked.hint,
                system=blocked.system,
                retry_after=until - time.time(),
                problem=blocked.problem,
            )
        while (delay := self._take(key)) > 0:
            cancel.wait(min(delay, 1.0))
        while not self._in_flight.acquire(timeout=0.2):
            cancel.check()
        try:
            yield
        finally:
            self._in_flight.release()


# --------------------------------------------------------------------------------------------------- errors
class BodyError(Exception):
    """The body could not be read as the JSON we asked for (HTML page, truncated, wrong content type)."""


class BodyTooLarge(Exception):
    """The body (as decompressed) passed `MAX_BODY_BYTES`: refused, not retried (a second try sends the same)."""


# The largest answer read, counted after decompression: far above a real page (1,000 accessplanit invoices or 100
# Xero invoices with their lines are 1-3 MB), far below what would exhaust memory (a 306 KB gzip body can inflate
# to 300 MB).
MAX_BODY_BYTES = 64 * 1024 * 1024


class Action(StrEnum):
    RETRY = "retry"  # transient: back off and try again
    REFRESH = "refresh"  # credentials refused: renew them once, then try again
    RATE_WAIT = "rate_wait"  # rate limited: wait for Retry-After, or stop the system for the day/hour
    FAIL = "fail"  # raise the rule's error with its message for people


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the error table. `when` is a status, a range of statuses, or an exception type.

    `safe_unsent`: the request certainly had no effect (not sent, or refused before processing), so even a
    non-idempotent request (accessplanit POST Transaction, which has no idempotency key) can be retried.
    """

    when: int | range | type[BaseException]
    action: Action
    error: type[ConnectorError]
    message: str  # "{system}" is replaced by the system's label
    hint: str
    safe_unsent: bool = False

    def matches(self, outcome: int | BaseException) -> bool:
        if isinstance(self.when, type):
            return isinstance(outcome, self.when)
        if isinstance(outcome, BaseException):
            return False
        return outcome in self.when if isinstance(self.when, range) else outcome == self.when


_NET = "Check the network connection and try again; nothing was lost."
_UNKNOWN = "The outcome is unknown: Recondesk looks the record up before sending it again."
ERROR_TABLE: tuple[Rule, ...] = (
    Rule(
        requests.exceptions.SSLError,
        Action.FAIL,
        ConnectorError,
        "{system}'s certificate was refused",
        "Check the address; if your organisation inspects HTTPS with its own certificate authority, set "
        "ca_bundle in the settings to that authority's certificate file (PEM).",
    ),
    Rule(
        requests.exceptions.ConnectTimeout,
        Action.RETRY,
        TransientError,
        "{system} could not be reached in time.",
        _NET,
        safe_unsent=True,
    ),
    Rule(requests.exceptions.ReadTimeout, Action.RETRY, TransientError, "{system} did not answer in time.", _NET),
    Rule(
        requests.exceptions.ChunkedEncodingError,
        Action.RETRY,
        TransientError,
        "The answer from {system} was cut off.",
        _NET,
    ),
    Rule(
        requests.exceptions.ContentDecodingError,
        Action.RETRY,
        TransientError,
        "The answer from {system} could not be decoded.",
        _NET,
    ),
    Rule(
        requests.exceptions.ConnectionError,
        Action.RETRY,
        TransientError,
        "The connection to {system} failed.",
        "Check the address and the network connection, then try again.",
    ),
    Rule(
        BodyTooLarge,
        Action.FAIL,
        TransientError,
        "{system} sent an answer too large to read.",
        "It was refused and nothing from it was kept; if this happens again, contact {system} support.",
    ),
    Rule(
        BodyError,
        Action.RETRY,
        TransientError,
        "{system} sent an answer that could not be read (not JSON, or incomplete).",
        _NET,
    ),
    Rule(
        401,
        Action.REFRESH,
        AuthenticationError,
        "{system} refused the credentials.",
        "Reconnect to {system} in Edit > Connections.",
    ),
    Rule(
        403,
        Action.FAIL,
        AuthenticationError,
        "{system} refused access to this data.",
        "Check that the connected user or organisation has the permissions (scopes, roles) Recondesk needs.",
    ),
    Rule(
        404,
        Action.FAIL,
        NotFoundError,
        "{system} does not know this record or address.",
        "Check the connection's address; re-sync to refresh.",
    ),
    Rule(
        429,
        Action.RATE_WAIT,
        RateLimited,
        "{system} asked Recondesk to slow down.",
        "Recondesk waits and carries on.",
        safe_unsent=True,
    ),
    Rule(
        503,
        Action.RETRY,
        TransientError,
        "{system} is unavailable right now (maintenance or overload).",
        "Try again in a few minutes.",
        safe_unsent=True,
    ),
    Rule(
        range(500, 600),
        Action.RETRY,
        TransientError,
        "{system} had an internal error.",
        "Try again later; if it persists, contact {system} support.",
    ),
    Rule(
        range(400, 500),
        Action.FAIL,
        RejectedError,
        "{system} refused the request.",
        "Correct the record as the message says, then try again.",
    ),
)


def find_rule(outcome: int | BaseException) -> Rule | None:
    """The first rule of `ERROR_TABLE` that matches, or None (success, or an unforeseen exception)."""
    return next((r for r in ERROR_TABLE if r.matches(outcome)), None)


def read_body(resp: requests.Response, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body of a streamed response, decompressed, refused (`BodyTooLarge`) past `limit` bytes; kept on
    the response so `resp.content` and `resp.text` read it again."""
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(chunk_size=256 * 1024):
        total += len(chunk)
        if total > limit:
            resp.close()
            raise BodyTooLarge(f"more than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    content = b"".join(chunks)
    resp._content = content  # what requests itself keeps once a body is read
    return content


# --------------------------------------------------------------------------------------------------- JSON
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def loads(text: str | bytes) -> Any:
    """JSON as RFC 8259 defines it, with every non-integer number as `Decimal` (never float). Python's extensions
    NaN/Infinity are refused like any other broken body: no float reaches a record or the cache.

    msgspec's C decoder reads a 1 MB page about four times faster than `json` with `parse_float=Decimal`, the same
    values and types. Whatever it refuses (broken JSON, an integer beyond 64 bits) goes to `json`, which reads
    what is valid and words the error for what is not (ValueError)."""
    try:
        try:
            return _DECODER.decode(text)
        except msgspec.DecodeError:
            return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:  # nested deeper than the parsers go (a real page is 4-5 levels deep)
        raise ValueError("JSON nested too deep to read") from None


_DEC_MARK = re.compile(r'"\\u0000DEC:([-+0-9.Ee]+)\\u0000"')


def dumps(payload: Any) -> str:
    """JSON text with `Decimal` written as a JSON number, digit for digit (json cannot do that natively)."""

    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"\x00DEC:{value}\x00"
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [encode(v) for v in value]
        if isinstance(value, float):
            raise TypeError("floats are never sent: use Decimal")
        return value

    return _DEC_MARK.sub(lambda m: m.group(1), json.dumps(encode(payload)))


# --------------------------------------------------------------------------------------------------- client
@dataclass(frozen=True, slots=True)
class Reply:
    """A checked answer: status 2xx (or one the caller accepted), JSON parsed with Decimals."""

    status: int
    headers: Mapping[str, str]
    data: Any
    retries: int = 0


class Auth(Protocol):
    """Adds credentials to a request and renews them after a 401."""

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        """Put `Authorization` (and any tenant header) into `headers`, fetching a token first if needed."""
        ...

    def renew(self, cancel: CancelToken) -> bool:
        """After a 401: get fresh credentials. False when nothing can be done (an API key was refused)."""
        ...


def generic_reasons(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The reason in an error body shaped by a standard: OAuth's `error_description`, problem+json's
    `Detail`/`Title`, or a plain `Message`/`message`/`error`."""
    for key in ("error_description", "Detail", "Message", "message", "error", "Title"):
        if isinstance(body.get(key), str) and body[key]:
            return (body[key],)
    return ()


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """What `HttpClient` knows of one service, declared in that service's connector package (`<system>/profile.py`).

    `budget_headers`: response header -> `CallStats.budget` key (prefixed by `budget_prefix`), the calls left;
    `rate_problem_header`: the header naming which limit a 429 hit (absent: the per-minute one);
    `error_reasons`: the readable reasons in the service's JSON error body (empty: `generic_reasons` is used).
    """

    label: str
    pacing: PacerConfig
    budget_prefix: str = ""
    budget_headers: Mapping[str, str] = field(default_factory=dict)
    rate_problem_header: str = ""
    error_reasons: Callable[[Mapping[str, Any]], tuple[str, ...]] = generic_reasons


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))  # float ok: seconds
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_NEVER = CancelToken()


@dataclass
class HttpClient:
    """Sends requests for one service, described by its `profile` (label, headers, error bodies).

    Pass the same `pacer` to every client of one system/tenant; `stats` collects calls, retries and budget.
    """

    profile: ServiceProfile
    config: HttpConfig = field(default_factory=HttpConfig)
    pacer: Pacer = field(default_factory=lambda: Pacer(PacerConfig.unlimited()))
    stats: CallStats = field(default_factory=CallStats)
    scrubber: Scrubber = field(default_factory=Scrubber)
    session: requests.Session = field(default_factory=make_session)
    random: Callable[[], float] = random.random

    @property
    def system(self) -> str:
        """The service's label in messages, e.g. "Xero"."""
        return self.profile.label

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        basic: tuple[str, str] | None = None,
        cancel: CancelToken | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
        pace_key: str = "",
    ) -> Reply:
        """Send one logical request, retrying per `ERROR_TABLE`. Returns a `Reply` for 2xx or `accept`ed statuses.

        `idempotent` defaults to True for GET/PUT/DELETE and False for POST; a non-idempotent request is only
        retried when the failure proves it had no effect (`Rule.safe_unsent`).
        """
        cancel = cancel or _NEVER
        check_transport(url, f"The {self.system} address")
        verify: bool | str = True
        if self.config.ca_bundle:
            if not os.path.isfile(self.config.ca_bundle):
                raise ConfigurationError(
                    f"The CA bundle {self.config.ca_bundle} (setting ca_bundle) is not a readable file.",
                    "Point ca_bundle at your organisation's CA certificate file (PEM), or clear it.",
                )
            verify = self.config.ca_bundle
        if idempotent is None:
            idempotent = method.upper() != "POST"
        body = dumps(json_body) if json_body is not None else None
        retries = 0
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            cancel.check()
            sent_headers: dict[str, str] = dict(headers or {})
            if body is not None:
                sent_headers["Content-Type"] = "application/json"
            if auth is not None:
                auth.apply(sent_headers, cancel)
            outcome: int | BaseException
            resp: requests.Response | None = None
            with self.pacer.slot(cancel, pace_key):
                self.stats.calls += 1
                try:
                    resp = self.session.request(
                        method,
                        url,
                        params=params,
                        data=body if body is not None else form,
                        headers=sent_headers,
                        auth=basic,
                        allow_redirects=False,
                        timeout=(self.config.connect_timeout, self.config.read_timeout),
                        stream=True,
                        verify=verify,
                    )
                    content = read_body(resp)  # read fully inside the slot: a cut-off body raises here
                    outcome = resp.status_code
                except (requests.exceptions.RequestException, BodyTooLarge) as exc:
                    outcome = exc
            data: Any = None
            if isinstance(outcome, BodyTooLarge):
                resp = None  # its body was not read: nothing more to take from it
            if resp is not None:
                self._read_budget(resp)
                if 200 <= resp.status_code < 300 or resp.status_code in accept:
                    try:
                        data = self._parse(resp, content)
                        return Reply(resp.status_code, resp.headers, data, retries)
                    except BodyError as exc:
                        outcome = exc
            rule = find_rule(outcome)
            if rule is None:  # an unforeseen exception from requests: treat as a failed connection
                rule = find_rule(requests.exceptions.ConnectionError())
                assert rule is not None
            error = self._error(rule, outcome, resp)
            log.info("%s %s -> %s", method, self.scrubber.scrub(self._path(url)), self.scrubber.scrub(str(error)))

            if rule.action is Action.REFRESH and auth is not None and not renewed:
                renewed = True
                if auth.renew(cancel):
                    retries += 1
                    self.stats.retries += 1
                    continue
            if rule.action is Action.RATE_WAIT:
                assert isinstance(error, RateLimited)
                if error.problem in ("day", "hour") or error.retry_after > self.config.max_rate_wait:
                    if error.problem == "minute":
                        error.problem = "hour"
                    self.pacer.block_until(error)
                    raise error
            if rule.action in (Action.RETRY, Action.RATE_WAIT) and attempt < self.config.max_attempts:
                if not idempotent and not rule.safe_unsent:
                    error.hint = _UNKNOWN
                    raise error
                delay = self._delay(attempt, resp)
                retries += 1
                self.stats.retries += 1
                cancel.wait(delay)
                continue
            if rule.action is Action.RETRY and not idempotent and not rule.safe_unsent:
                error.hint = _UNKNOWN
            raise error

    # ----------------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _path(url: str) -> str:
        return url.split("?", 1)[0]

    def _delay(self, attempt: int, resp: requests.Response | None) -> float:
        """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
        backoff = min(self.config.backoff_cap, self.config.backoff_base * (2.0 ** (attempt - 1)))
        delay = backoff * (0.5 + self.random() / 2)
        after = parse_retry_after(resp.headers.get("Retry-After")) if resp is not None else None
        return max(delay, after) if after is not None else delay

    def _parse(self, resp: requests.Response, content: bytes) -> Any:
        if resp.status_code == 204 or not content.strip():
            if resp.status_code == 204:
                return None
            raise BodyError("empty body")
        ctype = resp.headers.get("Content-Type", "").lower()
        if "json" not in ctype:
            raise BodyError(f"content type {ctype or 'missing'}")
        try:
            return loads(content)
        except ValueError as exc:  # truncated or broken JSON
            raise BodyError(str(exc)) from exc

    def _read_budget(self, resp: requests.Response) -> None:
        for header, key in self.profile.budget_headers.items():
            value = resp.headers.get(header)
            if value is not None:
                self.stats.budget[self.profile.budget_prefix + key] = value

    def _error(self, rule: Rule, outcome: int | BaseException, resp: requests.Response | None) -> ConnectorError:
        message = rule.message.format(system=self.system)
        hint = rule.hint.format(system=self.system)
        status = resp.status_code if resp is not None else None
        detail = ""
        details: tuple[str, ...] = ()
        if resp is not None and not 200 <= resp.status_code < 300:
            details = error_details(resp, self.profile.error_reasons)
            detail = "; ".join(details)
        elif isinstance(outcome, requests.exceptions.SSLError):
            return ConnectorError(
                f"{message}: {certificate_problem(outcome)}.", hint, system=self.system.lower(), status=status
            )
        elif isinstance(outcome, BaseException) and not isinstance(outcome, requests.exceptions.RequestException):
            detail = str(outcome)
        detail = tidy_detail(self.scrubber.scrub(detail)[:500], f"{message} {hint}")
        if detail:
            message = f"{message} ({detail})"
        details = tuple(self.scrubber.scrub(d) for d in details)
        if rule.error is RateLimited:
            assert resp is not None
            header = self.profile.rate_problem_header
            problem = ((resp.headers.get(header) if header else None) or "minute").lower()
            after = parse_retry_after(resp.headers.get("Retry-After"))
            retry_after = after if after is not None else 60.0
            if problem == "day":
                resume = datetime.now(UTC) + timedelta(seconds=retry_after)
                message = (
                    f"{self.system}'s daily limit of calls is used up. Syncing {self.system} can resume at "
                    f"{resume:%Y-%m-%d %H:%M} UTC."
                )
                hint = "Everything fetched so far is kept; sync again after that time."
            return RateLimited(message, hint, system=self.system.lower(), retry_after=retry_after, problem=problem)
        if rule.error is RejectedError:
            return RejectedError(message, hint, system=self.system.lower(), status=status, details=details)
        return rule.error(message, hint, system=self.system.lower(), status=status)


def tidy_detail(detail: str, said: str) -> str:
    """A service's own words, as they are shown in brackets after a message: without a sentence the message or its
    hint already says ("Try again later." twice), and without brackets of its own (none nested in ours)."""
    known = said.lower()
    sentences = [p.strip() for p in re.split(r"(?<=[.!?])\s+", detail.strip()) if p.strip()]
    kept = [p for p in sentences if p.rstrip(".!?").lower() not in known]
    text = " ".join(kept)
    text = re.sub(r"\s*\(([^()]*)\)", r": \1", text)
    return text.replace("(", "").replace(")", "").strip()


_CERT_TEXT = re.compile(r"certificate verify failed: ([^(\]'\"]+)")


def certificate_problem(exc: BaseException) -> str:
    """What was wrong with the certificate, as OpenSSL says it ("self-signed certificate", "Hostname mismatch, ...",
    "certificate has expired"), found in the exception chain requests and urllib3 wrap it in."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError) and item.verify_message:
            return str(item.verify_message).rstrip(".")
        todo.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    found = _CERT_TEXT.search(str(exc))
    return found.group(1).strip().rstrip(".") if found else "the secure connection could not be set up"


def error_details(
    resp: requests.Response, reasons: Callable[[Mapping[str, Any]], tuple[str, ...]] = generic_reasons
) -> tuple[str, ...]:
    """Readable reasons from an error body: the service's own shape (`reasons`, from its profile) first, then the
    standard shapes; a short plain-text body as it is; an HTML page gives none."""
    try:
        body = loads(resp.content) if "json" in resp.headers.get("Content-Type", "").lower() else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = resp.text.strip()
        return (text[:200],) if text and "<" not in text[:1] else ()
    return reasons(body) or generic_reasons(body)
