"""Shared plumbing of the emulated services: exact JSON, fault injection, the request log, a rate limiter,
the WSGI base class with the `/__admin/*` endpoints, and a threaded loopback server.

It knows nothing about accessplanit or Xero (each emulator subclasses `SandboxApp`), and it must not import
anything from the rest of `app`: an emulator that shares our code would share our bugs.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as _dt
import json
import math
import random
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring  # the C-accelerated string escaper
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

__all__ = [
    "COUNTED_FAULTS",
    "Faults",
    "RateLimiter",
    "RequestLog",
    "SandboxApp",
    "Server",
    "dumps",
    "error_body",
    "json_response",
    "loads",
    "parse_spec",
    "serve",
]

# ----------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------


def _encode(obj: Any, out: list[str]) -> None:
    # A hand-written encoder because the stdlib one can only write Decimal through float, which is inexact.
    if isinstance(obj, str):
        out.append(encode_basestring(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot write {obj} as JSON")
        out.append(str(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"cannot write {obj} as JSON")
        out.append(float.__repr__(obj))
    elif isinstance(obj, Mapping):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(key if isinstance(key, str) else str(key)))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out)
        out.append("]")
    elif isinstance(obj, _dt.date):  # datetime is a date too; written as ISO text
        out.append(encode_basestring(obj.isoformat()))
    else:
        raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def dumps(obj: Any) -> bytes:
    """UTF-8 JSON with `Decimal` written as the exact number it holds (never through float).

    Strings (ISO dates already in wire format) are written as given; `date`/`datetime` objects as ISO.
    """
    out: list[str] = []
    _encode(obj, out)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a fixture's "\ud800"), only ever inside a string: sent as the
        return text.encode("utf-8", "backslashreplace")  # JSON escape it came as, which `backslashreplace` writes


def loads(data: bytes | str) -> Any:
    """Parse JSON with every non-integer number as `Decimal`."""
    return json.loads(data, parse_float=Decimal)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response whose body is written by `dumps`."""
    response = Response(dumps(obj), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_body(message: str, field: str | None = None) -> dict[str, Any]:
    """The `{"errors": [{"field", "message"}]}` body both emulators use for their own (non-wire) errors."""
    return {"errors": [{"field": field, "message": message}]}


# ----------------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------------

# Faults that fire per request, each with a probability ("0.1") or a count of the next requests ("3x").
# The order is the precedence when several would fire on the same request.
COUNTED_FAULTS: tuple[str, ...] = (
    "reset",
    "timeout",
    "error500",
    "error503",
    "burst429",
    "html200",
    "truncate",
    "drop_after_commit",
)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_spec(text: str) -> dict[str, str]:
    """`"latency=0.05,error503=0.1,burst429=3x"` -> `{"latency": "0.05", ...}`; `""` -> `{}`.

    Keys may carry a `server:` prefix (`xero:error503=1x`); splitting those is the runner's business.
    """
    result: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"fault setting {part!r} is not key=value")
        result[key.strip()] = value.strip()
    return result


class _Trigger:
    """One counted fault: either a probability per request or a number of requests still to hit."""

    def __init__(self, key: str, raw: str) -> None:
        text = raw.strip().lower()
        self.count: int | None = None
        self.probability = 0.0
        try:
            if text.endswith("x"):
                self.count = int(text[:-1])
                if self.count < 0:
                    raise ValueError
            else:
                self.probability = float(text)
                if not 0.0 <= self.probability <= 1.0:
                    raise ValueError
        except ValueError:
            raise ValueError(f"fault {key}={raw!r}: use a probability 0..1 or a count like 3x") from None

    def fire(self, rng: random.Random) -> bool:
        if self.count is not None:
            if self.count > 0:
                self.count -= 1
                return True
            return False
        return self.probability > 0 and rng.random() < self.probability

    def text(self) -> str:
        return f"{self.count}x" if self.count is not None else repr(self.probability)


class Faults:
    """Thread-safe fault settings plus the seeded RNG that decides, per request, which fault fires.

    Besides the fault keys (`COUNTED_FAULTS`, `latency`, `timeout_seconds`, `only`, `seed`, `retry_after`) it
    keeps any other `key=value` as a plain setting, so an emulator can take its own knobs (`token_ttl`,
    `limit_hour`, ...) from the same spec through `get`.
    """

    def __init__(self, spec: str | Mapping[str, Any] = "") -> None:
        self._lock = threading.Lock()
        self._settings: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._rng = random.Random(0)
        self.version = 0  # moves on every replace, so emulators can rebuild what depends on settings
        self.replace(spec)

    def replace(self, spec: str | Mapping[str, Any]) -> None:
        """Replace every setting (a spec string or a mapping); raises ValueError on a malformed value."""
        raw = parse_spec(spec) if isinstance(spec, str) else {str(k): _setting_text(v) for k, v in spec.items()}
        triggers = {key: _Trigger(key, raw[key]) for key in COUNTED_FAULTS if key in raw}
        for key in ("latency", "timeout_seconds", "retry_after"):
            if key in raw:
                try:
                    if float(raw[key]) < 0:
                        raise ValueError
                except ValueError:
                    raise ValueError(f"fault {key}={raw[key]!r}: use a number of seconds") from None
        seed = raw.get("seed", "0")
        with self._lock:
            self._settings = {k: v for k, v in raw.items() if k not in triggers}
            self._triggers = triggers
            self._rng = random.Random(seed)
            self.version += 1

    def as_dict(self) -> dict[str, str]:
        """Current settings; counted faults show what is left (`"burst429": "1x"`)."""
        with self._lock:
            result = dict(self._settings)
            result.update({key: trig.text() for key, trig in self._triggers.items()})
            return result

    def get(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            if key in self._triggers:
                return self._triggers[key].text()
            return self._settings.get(key, default)

    def get_float(self, key: str, default: float) -> float:
        value = self.get(key)
        try:
            return float(value) if value not in (None, "") else default
        except ValueError:
            return default

    def applies_to(self, path: str) -> bool:
        only = self.get("only")
        return not only or only in path

    def latency(self, path: str) -> float:
        return self.get_float("latency", 0.0) if self.applies_to(path) else 0.0

    def draw(self, method: str, path: str) -> str | None:
        """The fault that fires on this request, if any; counts are spent only by a fault that fires."""
        with self._lock:
            only = self._settings.get("only")
            if only and only not in path:
                return None
            for key in COUNTED_FAULTS:
                trig = self._triggers.get(key)
                if trig is None:
                    continue
                if key == "drop_after_commit" and method.upper() not in _WRITE_METHODS:
                    continue
                if trig.fire(self._rng):
                    return key
            return None


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# ----------------------------------------------------------------------------------------------------
# Request log and rate limiter
# ----------------------------------------------------------------------------------------------------


class RequestLog:
    """Thread-safe list of the requests a sandbox served (admin calls excluded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(
        self,
        method: str,
        path: str,
        query: str,
        status: int | None,
        idempotency_key: str | None,
        fault: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "idempotency_key": idempotency_key,
            "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "fault": fault,
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class RateLimiter:
    """Sliding-window limiter: at most `limit` allowed hits per key in any `window_seconds`; thread-safe.

    Refused hits are not counted, so a client that backs off as told gets through when the window slides.
    """

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = int(limit)
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[Any, deque[float]] = {}

    def hit(self, key: Any) -> tuple[bool, int, int]:
        """Record a hit for `key`: (allowed, retry_after_seconds, remaining)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            horizon = now - self.window_seconds
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = hits[0] + self.window_seconds - now if hits else self.window_seconds
                return False, max(1, math.ceil(wait)), 0
            hits.append(now)
            return True, 0, self.limit - len(hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# ----------------------------------------------------------------------------------------------------
# The WSGI base class
# ----------------------------------------------------------------------------------------------------


class _DropConnection(ConnectionAbortedError):
    """Raised out of the app after closing the socket on purpose; werkzeug treats it as a dropped client."""


_HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    b"<h1>Sorry, something went wrong</h1>"
    b"<p>The service is temporarily unavailable. Please try again later.</p>"
    b"</body></html>"
)


class SandboxApp(abc.ABC):
    """WSGI base class of an emulated service: admin endpoints, faults and logging around `handle`.

    Subclasses implement `handle` (the service itself), `state` (the records, keyed as `--fixtures` files) and
    `reset_limits`; they may override `fault_response` to give a fault the service's own error shape.
    """

    name: str = "sandbox"

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults if faults is not None else Faults()
        self.log = RequestLog()
        # Set when the server stops, so a long `timeout` fault does not keep a thread sleeping after shutdown.
        self.stopping = threading.Event()

    # -- what each emulator implements
    @abc.abstractmethod
    def handle(self, request: Request) -> Response:
        """The service itself: answer one request (admin endpoints, faults and logging are done around it)."""

    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """The current records, keyed as product.md section 6 says (the `--fixtures` file names)."""

    @abc.abstractmethod
    def reset_limits(self) -> None:
        """Clear the rate-limit counters (POST /__admin/reset)."""

    # -- overridable
    def fault_response(self, kind: str, request: Request) -> Response:
        """The response a fault sends instead of the service's own (500, 503, 429 burst, HTML with 200)."""
        if kind == "error500":
            return json_response(error_body("Internal server error (injected fault)"), status=500)
        if kind == "error503":
            return json_response(
                error_body("Service unavailable (injected fault)"), status=503, headers={"Retry-After": "1"}
            )
        if kind == "burst429":
            retry_after = str(int(self.faults.get_float("retry_after", 1)))
            return json_response(
                error_body("Too many requests (injected burst)"),
                status=429,
                headers={"Retry-After": retry_after},
            )
        if kind == "html200":
            return Response(_HTML_ERROR_PAGE, status=200, mimetype="text/html")
        raise ValueError(kind)

    # -- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/__admin/"):
            return self._admin(request)(environ, start_response)

        method, path = request.method, request.path
        query = environ.get("QUERY_STRING", "")
        idem = request.headers.get("Idempotency-Key")
        delay = self.faults.latency(path)
        if method in ("POST", "PUT", "PATCH", "DELETE") and self.faults.applies_to(path):
            delay += self.faults.get_float("write_latency", 0.0)  # a slow write: it lands only after the wait
        if delay > 0:
            self.stopping.wait(delay)
        fault = self.faults.draw(method, path)

        if fault == "reset":
            self.log.add(method, path, query, None, idem, fault)
            self._reset_socket(environ)
        if fault == "timeout":
            self.stopping.wait(self.faults.get_float("timeout_seconds", 30.0))
        if fault in ("error500", "error503", "burst429", "html200"):
            response = self.fault_response(fault, request)
        else:
            response = self._handle_safely(request)

        if fault == "drop_after_commit":
            # The write is done (handle ran); the client never hears about it.
            self.log.add(method, path, query, response.status_code, idem, fault)
            self._reset_socket(environ)
        if fault == "truncate":
            body = response.get_data()
            response.set_data(body[: len(body) // 2])
        self.log.add(method, path, query, response.status_code, idem, fault)
        return response(environ, start_response)

    def _handle_safely(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except HTTPException as exc:
            return json_response(error_body(exc.description or exc.name), status=exc.code or 500)
        except Exception as exc:  # the emulator must answer, not die: the traceback goes to stderr
            traceback.print_exc(file=sys.stderr)
            return json_response(error_body(f"Internal server error: {type(exc).__name__}"), status=500)

    def _reset_socket(self, environ: dict[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # Linger 0 makes the final close send RST instead of FIN. The file objects werkzeug holds keep
                # the descriptor open until the handler finishes; the real close happens then.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        raise _DropConnection("connection reset by the sandbox (injected fault)")

    def _admin(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        method = request.method
        if path == "/__admin/state" and method == "GET":
            return json_response(self.state())
        if path == "/__admin/requests" and method == "GET":
            return json_response(self.log.entries())
        if path == "/__admin/faults":
            if method == "GET":
                return json_response(self.faults.as_dict())
            if method == "POST":
                try:
                    body = loads(request.get_data() or b"{}")
                    if isinstance(body, dict) and set(body) == {"spec"} and isinstance(body["spec"], str):
                        self.faults.replace(body["spec"])
                    elif isinstance(body, dict):
                        self.faults.replace(body)
                    elif isinstance(body, str):
                        self.faults.replace(body)
                    else:
                        raise ValueError('send {"spec": "..."} or a JSON object of settings')
                except ValueError as exc:
                    return json_response(error_body(str(exc), "spec"), status=400)
                return json_response(self.faults.as_dict())
        if path == "/__admin/reset" and method == "POST":
            self.log.clear()
            self.reset_limits()
            return json_response({"reset": True})
        return json_response(error_body(f"no admin endpoint {method} {request.path}"), status=404)


# ----------------------------------------------------------------------------------------------------
# Server
# ----------------------------------------------------------------------------------------------------


class _Handler(WSGIRequestHandler):
    """Quiet request handler that ends the keep-alive loop when the app dropped the connection on purpose."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # Without this the HTTP/1.1 loop would wait for another request on a socket we just closed.
        self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the app keeps its own request log; stderr stays readable


class _ThreadedServer(ThreadedWSGIServer):
    block_on_close = False  # a request asleep in a `timeout` fault must not hold up stop()


class Server:
    """A running sandbox: its base URL and port; `stop()` shuts it down."""

    def __init__(self, app: SandboxApp, srv: _ThreadedServer, thread: threading.Thread, host: str) -> None:
        self.app = app
        self._srv = srv
        self._thread = thread
        self.host = host
        self.port: int = int(srv.socket.getsockname()[1])
        self.url = f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.app.stopping.set()
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: SandboxApp, port: int = 0, host: str = "127.0.0.1") -> Server:
    """Start `app` on a werkzeug threaded server in a daemon thread; port 0 picks a free port."""
    srv = _ThreadedServer(host, port, app, handler=_Handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.name = f"sandbox-{app.name}-{srv.socket.getsockname()[1]}"
    thread.start()
    return Server(app, srv, thread, host)
