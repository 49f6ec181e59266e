"""The Xero emulator as a WSGI app: identity endpoints at the root, the Accounting API under `/api.xro/2.0/`.

Responsibility: HTTP for the ledger and the identity service: routing, bearer and tenant checks, scopes, Xero's
per-tenant rate limits and their headers, `Idempotency-Key` replay, list parameters, envelopes, and the error
shapes (400 ValidationException, 401/403 problem JSON, 404, 429). Faults, the request log and `/__admin/*` come
from `SandboxApp`. It must not hold business rules (those live in `ledger`) and imports nothing from the rest of
`app`: an emulator that shared the client's code would share its bugs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..common import Faults, RateLimiter, SandboxApp, json_response, loads
from .identity import REGISTERED_REDIRECT, Identity, OAuthError
from .ledger import (
    CREDIT_NOTE_FIELDS,
    INVOICE_FIELDS,
    PAYMENT_FIELDS,
    Invalid,
    Ledger,
    ListQuery,
    Page,
)
from .reference import stable_id
from .store import Record, Store
from .where import QueryError
from .wire import ms_to_envelope, parse_instant, wire_ms

API = "/api.xro/2.0"
MAX_IDS = 50  # more GUIDs than this in IDs= gives 404 (URL too long) on the real API [docs: ~52]
MAX_PAGE_SIZE = 1000  # [docs: since July 2024]
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"

_RULES = Map(
    [
        Rule("/connect/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/identity/connect/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/connect/token", endpoint="token", methods=["POST"]),
        Rule("/connect/revocation", endpoint="revocation", methods=["POST"]),
        Rule("/connections", endpoint="connections", methods=["GET"]),
        Rule("/connections/<cid>", endpoint="connection", methods=["DELETE"]),
        Rule(f"{API}/Organisation", endpoint="organisation", methods=["GET"]),
        Rule(f"{API}/Accounts", endpoint="accounts", methods=["GET"]),
        Rule(f"{API}/TaxRates", endpoint="tax_rates", methods=["GET"]),
        Rule(f"{API}/Contacts", endpoint="contacts", methods=["GET", "PUT", "POST"]),
        Rule(f"{API}/Contacts/<key>", endpoint="contact", methods=["GET"]),
        Rule(f"{API}/Invoices", endpoint="invoices", methods=["GET", "PUT", "POST"]),
        Rule(f"{API}/Invoices/<key>", endpoint="invoice", methods=["GET", "POST"]),
        Rule(f"{API}/Payments", endpoint="payments", methods=["GET", "PUT", "POST"]),
        Rule(f"{API}/Payments/<key>", endpoint="payment", methods=["GET", "POST"]),
        Rule(f"{API}/CreditNotes", endpoint="credit_notes", methods=["GET", "PUT"]),
        Rule(f"{API}/CreditNotes/<key>", endpoint="credit_note", methods=["GET"]),
        Rule(f"{API}/CreditNotes/<key>/Allocations", endpoint="allocations", methods=["PUT"]),
    ]
)

# Which scopes let a token use an endpoint (legacy broad scopes or the granular ones of 2026) [docs].
_READ_SCOPES = {
    "invoices": {
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
    },
    "payments": {
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.payments",
        "accounting.payments.read",
    },
    "contacts": {"accounting.contacts", "accounting.contacts.read"},
    "settings": {"accounting.settings", "accounting.settings.read"},
}
_WRITE_SCOPES = {
    "invoices": {"accounting.transactions", "accounting.invoices"},
    "payments": {"accounting.transactions", "accounting.payments"},
    "contacts": {"accounting.contacts"},
    "settings": {"accounting.settings"},
}
_SCOPE_AREA = {
    "organisation": "settings",
    "accounts": "settings",
    "tax_rates": "settings",
    "contacts": "contacts",
    "contact": "contacts",
    "invoices": "invoices",
    "invoice": "invoices",
    "credit_notes": "invoices",
    "credit_note": "invoices",
    "allocations": "invoices",
    "payments": "payments",
    "payment": "payments",
}


def _problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """The problem-details JSON Xero's gateway answers 401/403/429/5xx with."""
    body: dict[str, Any] = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return json_response(body, status=status, headers=headers)


_LOWER: list[Map] = []


def _lower_rules() -> Map:
    """`_RULES` with every path lower-cased (built once)."""
    if not _LOWER:
        _LOWER.append(Map([Rule(r.rule.lower(), endpoint=r.endpoint, methods=r.methods) for r in _RULES.iter_rules()]))
    return _LOWER[0]


def _args_as_sent(pattern: str, path: str, lowered: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's `<name>` values taken from `path` with their case (a GUID or invoice number is data)."""
    if not lowered:
        return dict(lowered)
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("<") else re.escape(part)
        for part in re.split(r"(<[a-z_]+>)", pattern)
    )
    found = re.fullmatch(regex, path.rstrip("/"), re.IGNORECASE)
    return found.groupdict() if found else dict(lowered)


def _xero_error(message: str, kind: str = "ValidationException", number: int = 10, **extra: Any) -> Response:
    """A 400 in the spec's `Error` schema."""
    body: dict[str, Any] = {"ErrorNumber": number, "Type": kind, "Message": message}
    body.update(extra)
    return json_response(body, status=400)


def _list_param(args: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = args.get(name) or ""
    return tuple(part.strip().strip('"').strip() for part in raw.split(",") if part.strip().strip('"').strip())


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return ("", "")
    return user, password


class _Limits:
    """Xero's per-tenant limits (minute window, day, concurrent) and the app-wide minute limit."""

    def __init__(self, faults: Faults) -> None:
        def setting(key: str, default: float) -> float:
            value = faults.get_float(key, default)
            return value if value > 0 else default

        self.version = faults.version
        self.minute = RateLimiter(int(setting("limit_minute", 60)), setting("limit_window", 60))
        self.day = RateLimiter(int(setting("limit_day", 5000)), setting("limit_day_window", 86400))
        self.app_minute = RateLimiter(int(setting("limit_app_minute", 10000)), 60)
        self.concurrent = int(setting("limit_concurrent", 5))


class XeroApp(SandboxApp):
    """The emulated Xero: one tenant, one app (client id/secret), identity and accounting on one server."""

    name = "xero"

    def __init__(
        self,
        fixtures: Mapping[str, Any] | None,
        client_id: str,
        client_secret: str,
        faults: Faults | None = None,
        *,
        tenant_id: str | None = None,
        tenant_name: str = "Demo Training Ltd",
        clock: Callable[[], float] = time.time,
        provider_name: str = "Recondesk Sandbox",
        other_organisations: Sequence[str] = (),
    ) -> None:
        super().__init__(faults)
        orgs = (fixtures or {}).get("Organisation")
        org_list = orgs.get("Organisations") if isinstance(orgs, Mapping) else orgs
        fixture_org = (
            org_list[0] if isinstance(org_list, list) and org_list and isinstance(org_list[0], Mapping) else {}
        )
        self.tenant_id = (
            tenant_id
            or (fixture_org.get("OrganisationID") if isinstance(fixture_org.get("OrganisationID"), str) else None)
            or stable_id("tenant", tenant_name)
        )
        self.tenant_name = str(fixture_org.get("Name") or tenant_name)
        self.client_id = client_id
        self.client_secret = client_secret
        self.provider_name = provider_name
        self.clock = clock
        self.ledger = Ledger(fixtures, self.tenant_id, self.tenant_name, clock)
        self.lock = self.ledger.lock
        # More organisations the browser sign-in can connect: empty ledgers with the UK defaults [ours]. `state()`
        # and `--fixtures` speak of the first organisation only.
        others = {stable_id("tenant", name): name for name in other_organisations}
        self.ledgers = {self.tenant_id.lower(): self.ledger}
        for tid, name in others.items():
            self.ledgers[tid.lower()] = Ledger(None, tid, name, clock)
        self.identity = Identity(
            client_id,
            client_secret,
            self.tenant_id,
            self.tenant_name,
            clock=clock,
            token_ttl=lambda: int(self.faults.get_float("token_ttl", 1800)),
            other_tenants=others,
            redirect_uris=lambda: (self.faults.get("redirect_uri") or REGISTERED_REDIRECT,),
        )
        self._limits = _Limits(self.faults)
        self._limits_lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._idempotent: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}

    def _ledger_for(self, request: Request) -> Ledger:
        """The organisation named by `xero-tenant-id` (already checked against the token's connections)."""
        return self.ledgers.get(request.headers.get("xero-tenant-id", "").lower(), self.ledger)

    # ------------------------------------------------------------------ SandboxApp contract

    def state(self) -> dict[str, Any]:
        with self.lock:
            return self.ledger.state()

    def reset_limits(self) -> None:
        with self._limits_lock:
            self._limits = _Limits(self.faults)

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "error503":
            return _problem(
                503,
                "Service Unavailable",
                "The Xero API is temporarily unavailable (injected fault).",
                {"Retry-After": "1"},
            )
        if kind == "burst429":
            retry = str(max(1, int(self.faults.get_float("retry_after", 1))))
            return _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded (injected burst).",
                {"Retry-After": retry, "X-Rate-Limit-Problem": "minute"},
            )
        if kind == "error500":
            return _problem(500, "An error occurred", "An error occurred in Xero (injected fault).")
        return super().fault_response(kind, request)

    def _admin(self, request: Request) -> Response:
        # Extra admin endpoints, so tests can make a client meet a revoked grant or a disconnected org.
        path, method = request.path.rstrip("/"), request.method
        if method == "POST" and path in ("/__admin/revoke", "/__admin/disconnect", "/__admin/expire_tokens"):
            with self.lock:
                if path == "/__admin/revoke":
                    count = self.identity.revoke_all()
                elif path == "/__admin/disconnect":
                    count = self.identity.disconnect_all()
                else:
                    count = self.identity.expire_access_tokens()
            return json_response({path.rsplit("/", 1)[-1]: count})
        return super()._admin(request)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # The concurrent limit counts requests in flight, latency faults included, so it wraps the whole call.
        path = environ.get("PATH_INFO", "")
        tenant = environ.get("HTTP_XERO_TENANT_ID")
        if not path.lower().startswith(API + "/") or not tenant:
            return super().__call__(environ, start_response)
        limits = self._current_limits()
        with self._limits_lock:
            running = self._in_flight.get(tenant, 0)
            refused = running >= limits.concurrent
            if not refused:
                self._in_flight[tenant] = running + 1
        if refused:
            request = Request(environ)
            response = _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded: concurrent",
                {"Retry-After": "1", "X-Rate-Limit-Problem": "concurrent"},
            )
            self.log.add(
                request.method, path, environ.get("QUERY_STRING", ""), 429, request.headers.get("Idempotency-Key")
            )
            return response(environ, start_response)
        try:
            return super().__call__(environ, start_response)
        finally:
            with self._limits_lock:
                self._in_flight[tenant] = max(0, self._in_flight.get(tenant, 1) - 1)

    def _current_limits(self) -> _Limits:
        with self._limits_lock:
            if self._limits.version != self.faults.version:
                self._limits = _Limits(self.faults)  # settings changed through /__admin/faults
            return self._limits

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        adapter = _lower_rules().bind_to_environ(request.environ)
        try:
            # Paths route whatever their case, as on the real API (Xero's SDK calls `/Connections`): the rules are
            # matched on the lower-cased path, and the `<key>` values are then read from the path as sent.
            rule, args = adapter.match(request.path.lower(), return_rule=True)
            endpoint = str(rule.endpoint)
            args = _args_as_sent(rule.rule, request.path, args)
        except MethodNotAllowed:
            return _problem(405, "Method Not Allowed", f"{request.method} is not allowed on {request.path}")
        except NotFound:
            return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return exc.get_response(request.environ)
        if endpoint in ("authorize", "token", "revocation", "connections", "connection"):
            with self.lock:
                return self._identity_endpoint(endpoint, request, args)
        return self._accounting(endpoint, request, args)

    # ------------------------------------------------------------------ identity

    def _identity_endpoint(self, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        try:
            if endpoint == "authorize":
                location = self.identity.authorize(request.args)
                return Response(status=302, headers={"Location": location})
            if endpoint == "token":
                body = self.identity.token(request.form, _basic(request))
                return json_response(body, headers={"Cache-Control": "no-store"})
            if endpoint == "revocation":
                self.identity.revoke(request.form, _basic(request))
                return Response(status=200)
            token = self.identity.check_bearer(request.headers.get("Authorization"))
        except OAuthError as exc:
            if exc.status == 401 and exc.error in ("AuthenticationUnsuccessful", "TokenExpired"):
                return _problem(
                    401, "Unauthorized", exc.description, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            if endpoint == "authorize":
                return Response(f"{exc.error}: {exc.description}", status=exc.status, mimetype="text/plain")
            return json_response({"error": exc.error, "error_description": exc.description}, status=exc.status)
        allowed, _retry, app_left = self._current_limits().app_minute.hit("app")
        headers = {"X-AppMinLimit-Remaining": str(app_left)}
        if not allowed:
            return _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded: appminute",
                {**headers, "Retry-After": str(_retry), "X-Rate-Limit-Problem": "appminute"},
            )
        if endpoint == "connection":
            if request.method == "DELETE" and self.identity.delete_connection(token, args["cid"]):
                return Response(status=204, headers=headers)
            return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain", headers=headers)
        return json_response(self.identity.connections(token, request.args.get("authEventId")), headers=headers)

    # ------------------------------------------------------------------ accounting

    def _accounting(self, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        accept = request.headers.get("Accept", "")
        if "json" not in accept.lower() and self.faults.get("require_json_accept", "1") != "0":
            # The real API answers XML unless asked for JSON [docs]; we only speak JSON, so say so loudly.
            return Response(
                "Send 'Accept: application/json': this sandbox only answers JSON (Xero would answer XML).",
                status=406,
                mimetype="text/plain",
            )
        with self.lock:
            try:
                token = self.identity.check_bearer(request.headers.get("Authorization"))
            except OAuthError as exc:
                return _problem(
                    401, "Unauthorized", exc.description, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            tenant = request.headers.get("xero-tenant-id", "")
            if not tenant:
                return _problem(403, "Forbidden", "AuthorizationUnsuccessful: the xero-tenant-id header is missing")
            if tenant.lower() not in {t.lower() for t in token.grant.connections}:
                return _problem(
                    403, "Forbidden", "AuthorizationUnsuccessful: this tenant is not connected to the token"
                )
            write = request.method in ("PUT", "POST")
            area = _SCOPE_AREA[endpoint]
            needed = (_WRITE_SCOPES if write else _READ_SCOPES)[area]
            if not (token.grant.scopes & needed):
                return _problem(
                    403,
                    "Forbidden",
                    f"AuthorizationUnsuccessful: the token lacks a scope for this call ({' or '.join(sorted(needed))})",
                )
        limit_headers, refused = self._hit_limits(tenant.lower())
        if refused is not None:
            return refused
        with self.lock:
            if write:
                response = self._idempotent_write(tenant.lower(), endpoint, request, args)
            else:
                response = self._read(endpoint, request, args)
        for key, value in limit_headers.items():
            response.headers[key] = value
        return response

    def _hit_limits(self, tenant: str) -> tuple[dict[str, str], Response | None]:
        limits = self._current_limits()
        ok_min, retry_min, min_left = limits.minute.hit(tenant)
        if not ok_min:
            day_left = limits.day.limit - len(limits.day._hits.get(tenant, ()))  # peek, do not count
            headers = {
                "X-MinLimit-Remaining": "0",
                "X-DayLimit-Remaining": str(max(0, day_left)),
                "X-AppMinLimit-Remaining": str(limits.app_minute.limit),
            }
            return headers, _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded: minute",
                {**headers, "Retry-After": str(retry_min), "X-Rate-Limit-Problem": "minute"},
            )
        ok_day, retry_day, day_left = limits.day.hit(tenant)
        if not ok_day:
            headers = {
                "X-MinLimit-Remaining": str(min_left),
                "X-DayLimit-Remaining": "0",
                "X-AppMinLimit-Remaining": str(limits.app_minute.limit),
            }
            return headers, _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded: day",
                {**headers, "Retry-After": str(retry_day), "X-Rate-Limit-Problem": "day"},
            )
        ok_app, retry_app, app_left = limits.app_minute.hit("app")
        headers = {
            "X-MinLimit-Remaining": str(min_left),
            "X-DayLimit-Remaining": str(day_left),
            "X-AppMinLimit-Remaining": str(app_left),
        }
        if not ok_app:
            return headers, _problem(
                429,
                "Too Many Requests",
                "Rate limit exceeded: appminute",
                {**headers, "Retry-After": str(retry_app), "X-Rate-Limit-Problem": "appminute"},
            )
        return headers, None

    def _envelope(self, collection: str, records: list[Record], page: Page | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": self.provider_name,
            "DateTimeUTC": ms_to_envelope(int(self.clock() * 1000)),
        }
        if page is not None and page.page is not None:
            size = page.page_size
            body["pagination"] = {
                "page": page.page,
                "pageSize": size,
                "pageCount": (page.item_count + size - 1) // size if size else 0,
                "itemCount": page.item_count,
            }
        body[collection] = records
        return body

    # ------------------------------------------------------------------ reads

    def _list_query(self, request: Request) -> ListQuery:
        args = request.args
        page: int | None = None
        if args.get("page") not in (None, ""):
            try:
                page = max(1, int(args["page"]))
            except ValueError:
                raise QueryError("page must be a whole number") from None
        try:
            size = int(args.get("pageSize") or 100)
        except ValueError:
            raise QueryError("pageSize must be a whole number") from None
        since = None
        header = request.headers.get("If-Modified-Since")
        if header:
            since = parse_instant(header)
        return ListQuery(
            page=page,
            page_size=min(max(1, size), MAX_PAGE_SIZE),
            since_ms=since,
            where=args.get("where") or None,
            order=args.get("order") or None,
            ids=_list_param(args, "IDs") or _list_param(args, "ids"),
            numbers=_list_param(args, "InvoiceNumbers"),
            contact_ids=_list_param(args, "ContactIDs"),
            statuses=_list_param(args, "Statuses"),
            search=args.get("searchTerm") or None,
            include_archived=args.get("includeArchived", "").lower() == "true",
        )

    def _read(self, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        led = self._ledger_for(request)
        unitdp = 4 if request.args.get("unitdp") == "4" else 2
        summary = request.args.get("summaryOnly", "").lower() == "true"
        try:
            if endpoint == "organisation":
                return json_response(self._envelope("Organisations", [dict(led.organisation)]))
            if endpoint in ("accounts", "tax_rates"):
                name = "Accounts" if endpoint == "accounts" else "TaxRates"
                records = led.accounts if endpoint == "accounts" else led.tax_rates
                since = parse_instant(request.headers.get("If-Modified-Since", "") or "x")
                rows = led.list_reference(records, request.args.get("where"), request.args.get("order"))
                if since is not None and endpoint == "accounts":
                    rows = [r for r in rows if (wire_ms(r.get("UpdatedDateUTC")) or -1) >= since - since % 1000]
                return json_response(self._envelope(name, [led.present(r) for r in rows]))
            table: dict[str, tuple[Store, str, frozenset[str] | None]] = {
                "invoices": (led.invoices, "Invoices", INVOICE_FIELDS),
                "invoice": (led.invoices, "Invoices", INVOICE_FIELDS),
                "payments": (led.payments, "Payments", PAYMENT_FIELDS),
                "payment": (led.payments, "Payments", PAYMENT_FIELDS),
                "credit_notes": (led.credit_notes, "CreditNotes", CREDIT_NOTE_FIELDS),
                "credit_note": (led.credit_notes, "CreditNotes", CREDIT_NOTE_FIELDS),
                "contacts": (led.contacts, "Contacts", None),
                "contact": (led.contacts, "Contacts", None),
            }
            store, collection, fields = table[endpoint]
            if "key" in args:
                key = args["key"]
                if endpoint == "invoice":
                    found = led.find_invoice(key)
                elif endpoint == "credit_note":
                    found = led.find_credit_note(key)
                else:
                    found = store.get(key)
                if found is None:
                    return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
                return json_response(self._envelope(collection, [led.present(found, unitdp)]))
            query = self._list_query(request)
            if query.ids and endpoint == "credit_notes" and self.faults.get("strict") not in (None, "", "0", "false"):
                # Strict mode: `IDs` is documented for Invoices and Contacts, not for CreditNotes [docs].
                raise QueryError("IDs is not a supported parameter for CreditNotes")
            if len(query.ids) > MAX_IDS:
                # The real API fails such URLs with 404 (too long) [docs; issues Xero-Java#328, Xero-OpenAPI#534].
                return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
            page = led.list_records(store, query, fields)
            # Unpaged invoice/credit-note lists come without lines, as the API historically did [docs/2nd].
            light = summary or (query.page is None and endpoint in ("invoices", "credit_notes"))
            records = [led.present(r, unitdp, light) for r in page.records]
            return json_response(self._envelope(collection, records, page))
        except QueryError as exc:
            return _xero_error(str(exc), "QueryParseException", 16)

    # ------------------------------------------------------------------ writes

    def _idempotent_write(self, tenant: str, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._write(endpoint, request, args)
        if len(key) > 128 or not key.strip():
            return _xero_error("Idempotency-Key must be 1 to 128 characters.")
        body = request.get_data()
        fingerprint = hashlib.sha256(
            b"\0".join([request.method.encode(), request.path.encode(), request.query_string, body])
        ).hexdigest()
        seen = self._idempotent.get((tenant, key))
        if seen is not None:
            if seen[0] != fingerprint:
                # [ours] Xero does not document this case; we refuse loudly rather than guess.
                return _xero_error(
                    f"Idempotency-Key '{key}' was already used with a different request (method, path, query or "
                    "body). Use a new key for a different request."
                )
            replay = Response(seen[2], status=seen[1], mimetype=seen[3])
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = self._write(endpoint, request, args)
        if response.status_code < 500 and response.status_code != 429:
            self._idempotent[(tenant, key)] = (
                fingerprint,
                response.status_code,
                response.get_data(),
                response.mimetype or "application/json",
            )
        return response

    def _elements(self, body: Any, collection: str) -> list[Any] | None:
        if isinstance(body, Mapping) and collection in body:
            items = body[collection]
            return list(items) if isinstance(items, list) else None
        if isinstance(body, Mapping):
            return [body]  # a bare object, as `POST /Payments` takes [docs]
        if isinstance(body, list):
            return body
        return None

    def _write(self, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        led = self._ledger_for(request)
        led.adviser = (self.faults.get("role") or "").lower() == "adviser"  # the user's role [ours: a setting]
        unitdp = 4 if request.args.get("unitdp") == "4" else 2
        summarize = request.args.get("summarizeErrors", "true").lower() != "false"
        try:
            body = loads(request.get_data() or b"")
        except ValueError as exc:
            return _xero_error(f"JSON for post data was invalid: {exc}", "PostDataInvalidException", 14)

        if endpoint in ("payment",):
            payment = led.payments.get(args["key"])
            if payment is None:
                return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
            items = self._elements(body, "Payments")
            element = items[0] if items else None
            if not isinstance(element, Mapping):
                return _xero_error('Send {"Status": "DELETED"} to delete a payment.')
            try:
                led.delete_payment(payment, element)
            except Invalid as exc:
                return self._validation("Payments", [self._failed(element, exc, "HasValidationErrors")], summarize, [])
            return json_response(self._envelope("Payments", [led.present(payment)]))

        collection = {
            "invoices": "Invoices",
            "invoice": "Invoices",
            "payments": "Payments",
            "credit_notes": "CreditNotes",
            "allocations": "Allocations",
            "contacts": "Contacts",
        }[endpoint]
        items = self._elements(body, collection)
        if items is None:
            return _xero_error(
                f'The body must be {{"{collection}": [...]}} or one object.', "PostDataInvalidException", 14
            )
        target: Record | None = None
        if endpoint == "invoice":
            target = led.find_invoice(args["key"])
            if target is None:
                return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
            items = items[:1]
        if endpoint == "allocations":
            target = led.find_credit_note(args["key"])
            if target is None:
                return Response(NOT_FOUND_TEXT, status=404, mimetype="text/plain")
        flag = "HasValidationErrors" if endpoint in ("payments", "contacts") else "HasErrors"
        results: list[Record] = []
        failed: list[Record] = []
        for element in items:
            if not isinstance(element, Mapping):
                err = Invalid("Each element must be a JSON object.")
                failed.append(self._failed({}, err, flag))
                results.append(failed[-1])
                continue
            try:
                record = self._write_one(led, endpoint, request.method, element, target, unitdp)
            except Invalid as exc:
                failed.append(self._failed(element, exc, flag))
                results.append(failed[-1])
                continue
            shown = led.present(record, unitdp)
            if not summarize:
                shown[flag] = False
                shown["StatusAttributeString"] = "OK"
            results.append(shown)
        return self._validation(collection, failed, summarize, results)

    def _write_one(
        self, led: Ledger, endpoint: str, method: str, element: Mapping[str, Any], target: Record | None, unitdp: int
    ) -> Record:
        if endpoint == "invoice":
            assert target is not None
            return led.update_invoice(target, element, unitdp)
        if endpoint == "invoices":
            if method == "POST":
                existing = None
                if isinstance(element.get("InvoiceID"), str) and element["InvoiceID"]:
                    existing = led.invoices.get(element["InvoiceID"])
                    if existing is None:
                        raise Invalid(f"Invoice {element['InvoiceID']} could not be found.")
                elif isinstance(element.get("InvoiceNumber"), str) and element.get("Type", "ACCREC") == "ACCREC":
                    matches = [r for r in led.invoices.by_number(element["InvoiceNumber"]) if r.get("Type") == "ACCREC"]
                    existing = matches[0] if matches else None
                if existing is not None:
                    return led.update_invoice(existing, element, unitdp)
            return led.create_invoice(element, unitdp)
        if endpoint == "payments":
            return led.create_payment(element)
        if endpoint == "credit_notes":
            return led.create_credit_note(element, unitdp)
        if endpoint == "allocations":
            assert target is not None
            return led.allocate_credit(target, element)
        if endpoint == "contacts":
            if isinstance(element.get("ContactID"), str) and led.contacts.get(element["ContactID"]) is not None:
                raise Invalid("Updating contacts is not emulated by this sandbox; create a new contact instead.")
            return led.create_contact(element)
        raise Invalid(f"{endpoint} cannot be written")

    @staticmethod
    def _failed(element: Mapping[str, Any], exc: Invalid, flag: str) -> Record:
        echo = dict(element)
        echo[flag] = True
        echo["StatusAttributeString"] = "ERROR"
        echo["ValidationErrors"] = [{"Message": m} for m in exc.messages]
        return echo

    def _validation(self, collection: str, failed: list[Record], summarize: bool, results: list[Record]) -> Response:
        """summarizeErrors=false: 200 with every element marked [docs]; otherwise any failure gives 400 with the
        failed elements, while the valid ones were still created (batches are not atomic) [docs]."""
        if failed and summarize:
            elements = []
            for item in failed:
                element = {k: v for k, v in item.items() if k not in ("StatusAttributeString",)}
                elements.append(element)
            return json_response(
                {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "A validation exception occurred",
                    "Elements": elements,
                },
                status=400,
            )
        return json_response(self._envelope(collection, results))
