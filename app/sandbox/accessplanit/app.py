"""The accessplanit API v2 finance feeds emulator: token, Invoice / InvoiceItem / Transaction /
TransactionMethod reads with OData options, the two invoice fields that may be PUT, Transaction POSTs with
their side effects on the invoice, and a per-endpoint-and-token rate limit.

Behaviour follows ../shared/docs/accessplanit-api.md, including its section 9 conventions; every choice is
listed in docs/sandboxes.md. It serves HTTP only through `SandboxApp` (faults, log, admin) and must not import
anything from the rest of `app`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from app.sandbox.accessplanit import odata
from app.sandbox.accessplanit.odata import QueryError
from app.sandbox.accessplanit.store import DEFAULT_TOP, MAX_TOP, MODULES, Table, money, select
from app.sandbox.common import Faults, RateLimiter, SandboxApp, error_body, json_response, loads

ROOT = "/accessplan"
API = ROOT + "/api/v2"
DEFAULT_TOKEN_TTL = 3600  # [doc] tokens last 60 minutes
REFRESH_TOKEN_TTL = 14 * 24 * 3600  # [ours] OWIN's usual refresh lifetime
DEFAULT_LIMIT_HOUR = 5000  # [doc] 5,000 requests an hour per endpoint
WRITABLE_INVOICE_FIELDS = ("PONumber", "DateDue")
TRANSACTION_INPUT_FIELDS = (
    "InvoiceID",
    "TransactionType",
    "Amount",
    "TransactionMethodID",
    "TransactionMethodLabel",
    "TransactionDate",
    "Reference",
    "Notes",
)
SERVER_SET_TRANSACTION_FIELDS = ("ID", "CurrencyCode", "DateCreated", "DateUpdated", "CreatedByID")
# [ours] Offered when the fixtures bring no TransactionMethod list (product.md's fixture layout has none).
DEFAULT_TRANSACTION_METHODS: tuple[dict[str, Any], ...] = (
    {"ID": "1", "Label": "BACS", "IsOnline": False, "Enabled": True},
    {"ID": "2", "Label": "Cheque", "IsOnline": False, "Enabled": True},
    {"ID": "3", "Label": "Card", "IsOnline": False, "Enabled": True},
    {"ID": "4", "Label": "Cash", "IsOnline": False, "Enabled": True},
    {"ID": "5", "Label": "Stripe", "IsOnline": True, "Enabled": True},
    {"ID": "6", "Label": "PayPal", "IsOnline": True, "Enabled": True},
    {"ID": "7", "Label": "Invoice", "IsOnline": False, "Enabled": True},
)
_CENT = Decimal("0.01")


class ApiError(Exception):
    """An error answer of the emulated API."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _bad(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, error_body(message, field))


def _uk_now() -> datetime:
    """Platform-local (UK) wall time without offset, as the wire carries it."""
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("Europe/London")).replace(tzinfo=None, microsecond=0)
    except Exception:  # no tz database: local time is the next best thing
        return datetime.now().replace(microsecond=0)


def wire_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


class AccessplanitApp(SandboxApp):
    """The emulated accessplanit tenant (`{server}/accessplan`), serving wire-format fixture records."""

    name = "accessplanit"

    def __init__(
        self,
        fixtures: Mapping[str, Any] | None = None,
        username: str = "demo",
        password: str = "demo",  # noqa: S107 - the sandbox's own demo login, not a secret
        api_key: str | None = None,
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(faults)
        fixtures = fixtures or {}
        self.username = username
        self.password = password
        self.api_key = api_key
        self.user_id = "1"
        self._clock = clock or _uk_now
        self._lock = threading.RLock()  # one writer at a time; reads see whole writes
        self.tables: dict[str, Table] = {}
        for module in MODULES:
            records: Any = fixtures.get(module)
            if isinstance(records, Mapping):  # a `{"results": [...]}` envelope as the fixture files hold
                records = records.get("results")
            if records is None and module == "TransactionMethod":
                records = [dict(m) for m in DEFAULT_TRANSACTION_METHODS]
            self.tables[module] = Table(module, records or [])
        self._by_lower = {m.lower(): m for m in MODULES}
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._refresh: dict[str, float] = {}
        self._limiter_version = -1
        self._limiter = RateLimiter(DEFAULT_LIMIT_HOUR, 3600)

    # ---- SandboxApp -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self._lock:
            return {m: {"results": self.tables[m].records_in_order()} for m in MODULES}

    def reset_limits(self) -> None:
        self._current_limiter().reset()

    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except ApiError as exc:
            return json_response(exc.body, status=exc.status, headers=exc.headers)

    # ---- routing --------------------------------------------------------------------------------
    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if not path.lower().startswith(API.lower() + "/"):
            raise ApiError(404, error_body(f"No resource at {request.path}"))
        parts = path[len(API) + 1 :].split("/")
        if len(parts) == 1 and parts[0].lower() == "token":
            if request.method != "POST":
                raise ApiError(405, error_body("Use POST for /token"), {"Allow": "POST"})
            return self._token(request)
        if len(parts) > 2:
            raise ApiError(404, error_body(f"No resource at {request.path}"))
        module = self._by_lower.get(parts[0].lower())
        if module is None:
            raise ApiError(404, error_body(f"No module named '{parts[0]}'"))
        token = self._authorise(request)
        self._rate_limit(module, token)
        rid = parts[1] if len(parts) == 2 else None
        method = request.method
        if method == "GET":
            return self._get(request, module, rid)
        if method == "PUT" and rid is not None:
            if module != "Invoice":
                raise ApiError(405, error_body(f"{module} records cannot be changed through the API"))
            return self._put_invoice(request, rid)
        if method == "POST" and rid is None:
            if module != "Transaction":
                raise _bad(f"{module} records cannot be created through the API")
            return self._post_transaction(request)
        if method == "DELETE":
            raise ApiError(405, error_body(f"{module} records cannot be deleted through the API"))
        raise ApiError(405, error_body(f"{method} is not allowed on {request.path}"))

    # ---- auth -----------------------------------------------------------------------------------
    def _token_ttl(self) -> int:
        return int(self.faults.get_float("token_ttl", DEFAULT_TOKEN_TTL))

    def _token(self, request: Request) -> Response:
        form = {k.lower(): v for k, v in request.form.items()}
        grant = form.get("grant_type", "").lower()
        if grant == "password":
            user = form.get("username", "")
            if not (
                secrets.compare_digest(user, self.username)
                and secrets.compare_digest(form.get("password", ""), self.password)
            ):
                raise ApiError(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The user name or password is incorrect.",
                    },
                )
        elif grant == "refresh_token":  # [ours] the docs do not say how refresh works
            with self._lock:
                expiry = self._refresh.pop(form.get("refresh_token", ""), None)
            if expiry is None or expiry < time.monotonic():
                raise ApiError(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The refresh token is invalid or expired.",
                    },
                )
        else:
            raise ApiError(400, {"error": "unsupported_grant_type"})
        ttl = self._token_ttl()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._tokens[access] = now + ttl
            self._refresh[refresh] = now + REFRESH_TOKEN_TTL
        return json_response(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": ttl,
                "refresh_token": refresh,
                "userID": self.user_id,
                "refresh_token_expires_in": REFRESH_TOKEN_TTL,
            }
        )

    def _authorise(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        denied = ApiError(
            401,
            {
                "Message": "Authorization has been denied for this request.",
                **error_body("Not authorized: send a valid bearer token"),
            },
            {"WWW-Authenticate": "Bearer"},
        )
        if scheme.lower() != "bearer" or not token:
            raise denied
        if self.api_key is not None and secrets.compare_digest(token, self.api_key):
            return token
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            raise denied
        return token

    def _current_limiter(self) -> RateLimiter:
        with self._lock:
            if self._limiter_version != self.faults.version:
                limit = int(self.faults.get_float("limit_hour", DEFAULT_LIMIT_HOUR))
                window = self.faults.get_float("limit_window", 3600.0)
                self._limiter = RateLimiter(limit, window)
                self._limiter_version = self.faults.version
            return self._limiter

    def _rate_limit(self, module: str, token: str) -> None:
        allowed, retry_after, _remaining = self._current_limiter().hit((module, token))
        if not allowed:
            raise ApiError(
                429,
                error_body(f"Rate limit exceeded for {module}: retry after {retry_after} seconds"),
                {"Retry-After": str(retry_after)},
            )

    # ---- reads ----------------------------------------------------------------------------------
    def _get(self, request: Request, module: str, rid: str | None) -> Response:
        args = request.args
        unknown = [k for k in args if k.startswith("$") and k.lower() not in _QUERY_OPTIONS]
        if unknown:
            raise _bad(f"Query option {unknown[0]} is not supported", unknown[0])
        opts = {k.lower(): v for k, v in args.items()}
        table = self.tables[module]
        try:
            names = _select_names(opts.get("$select"), table)
            if rid is not None:
                with self._lock:
                    record = table.get(rid)
                if record is None:
                    raise ApiError(404, error_body(f"No {module} with ID {rid}"))
                return json_response({"results": [select(record, names)]})
            top = _int_option(opts, "$top", DEFAULT_TOP)
            skip = _int_option(opts, "$skip", 0)
            count = opts.get("$count", "false").lower()
            if count not in ("true", "false"):
                raise QueryError("$count must be true or false", "$count")
            filter_text = opts.get("$filter") or None
            if self.faults.get("strict") not in (None, "", "0", "false"):
                _refuse_undocumented(filter_text, opts.get("$orderby"), table)
            if module == "InvoiceItem":
                node = odata.parse_filter(filter_text) if filter_text else None
                if not odata.pins_property(node, table.resolve, "InvoiceID"):
                    raise _bad(
                        "InvoiceItem can only be read for given invoices: filter on InvoiceID "
                        "(InvoiceID eq '123', InvoiceID in ('1','2'), or a ge/le range)",
                        "$filter",
                    )
            with self._lock:
                cap = min(top, self._max_top())
                page = table.query(filter_text, opts.get("$orderby") or None, cap, skip, count == "true")
                results = [select(r, names) for r in page.records]
        except QueryError as exc:
            raise _bad(str(exc), exc.field) from None
        body: dict[str, Any] = {"results": results}
        if page.count is not None:
            body["count"] = page.count
        return json_response(body)

    def _max_top(self) -> int:
        """The `$top` cap: 1000 [ours], or the setting `max_top=<n>` (a real tenant may cap lower; the docs are
        silent), so tests can check that a client never takes a short page for the last one."""
        return max(1, int(self.faults.get_float("max_top", MAX_TOP)))

    # ---- writes ---------------------------------------------------------------------------------
    def _json_object(self, request: Request) -> dict[str, Any]:
        try:
            body = loads(request.get_data() or b"")
        except ValueError:
            raise _bad("The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object")
        return body

    def _put_invoice(self, request: Request, rid: str) -> Response:
        body = self._json_object(request)
        table = self.tables["Invoice"]
        errors: list[dict[str, Any]] = []
        changes: dict[str, Any] = {}
        for key, value in body.items():
            canonical = next((f for f in WRITABLE_INVOICE_FIELDS if f.lower() == key.lower()), None)
            if key.lower() == "id" and str(value) == rid:
                continue  # naming the record itself is harmless
            if canonical is None:
                errors.append({"field": key, "message": f"{key} cannot be changed through the API"})
            elif canonical == "PONumber":
                if value is not None and not isinstance(value, str):
                    errors.append({"field": "PONumber", "message": "PO Number must be text"})
                elif value is not None and len(value) > 50:
                    errors.append({"field": "PONumber", "message": "PO Number must be 50 characters or fewer"})
                else:
                    changes["PONumber"] = value
            else:
                when = odata.as_datetime(value) if isinstance(value, str) else None
                if when is None:
                    errors.append({"field": "DateDue", "message": "Date Due must be a valid date-time"})
                else:
                    changes["DateDue"] = wire_datetime(when)
        with self._lock:
            record = table.get(rid)
            if record is None:
                raise ApiError(404, error_body(f"No Invoice with ID {rid}"))
            if errors:
                raise ApiError(400, {"errors": errors})
            if not changes:
                raise _bad("Send PONumber and/or DateDue to change")
            changes["DateUpdated"] = wire_datetime(self._clock())
            table.modify(rid, changes)  # re-files the invoice under its new DateUpdated
            return json_response({"results": [record]})

    def _post_transaction(self, request: Request) -> Response:
        body = self._json_object(request)
        given: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, value in body.items():
            canonical = next((f for f in TRANSACTION_INPUT_FIELDS if f.lower() == key.lower()), None)
            if canonical is not None:
                given[canonical] = value
            elif any(f.lower() == key.lower() for f in SERVER_SET_TRANSACTION_FIELDS):
                errors.append({"field": key, "message": f"{key} is set by the server"})
            else:
                errors.append({"field": key, "message": f"Transaction has no field {key}"})

        ttype = given.get("TransactionType")
        if not isinstance(ttype, str) or ttype.lower() not in ("payment", "refund"):
            errors.append({"field": "TransactionType", "message": "TransactionType must be Payment or Refund"})
            ttype = None
        else:
            ttype = "Payment" if ttype.lower() == "payment" else "Refund"

        amount = given.get("Amount")
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            errors.append({"field": "Amount", "message": "Amount must be a number"})
            amount = None
        else:
            amount = Decimal(amount)
            if amount <= 0:
                errors.append({"field": "Amount", "message": "Amount must be greater than zero"})
                amount = None
            elif amount != amount.quantize(_CENT):
                errors.append({"field": "Amount", "message": "Amount must have at most 2 decimal places"})
                amount = None

        method = self._method(given, errors)

        tdate = given.get("TransactionDate")
        if tdate is None:
            tdate_text = wire_datetime(self._clock())
        else:
            when = odata.as_datetime(tdate) if isinstance(tdate, str) else None
            if when is None:
                errors.append({"field": "TransactionDate", "message": "TransactionDate must be a valid date"})
            tdate_text = wire_datetime(when) if when else ""

        reference = given.get("Reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 50):
            errors.append({"field": "Reference", "message": "Reference must be text of 50 characters or fewer"})
        notes = given.get("Notes")
        if notes is not None and not isinstance(notes, str):
            errors.append({"field": "Notes", "message": "Notes must be text"})

        invoice_id = given.get("InvoiceID")
        if invoice_id is None or isinstance(invoice_id, bool | dict | list):
            errors.append({"field": "InvoiceID", "message": "InvoiceID is required"})

        with self._lock:
            invoices = self.tables["Invoice"]
            invoice = invoices.get(str(invoice_id)) if invoice_id is not None else None
            if invoice_id is not None and not errors and invoice is None:
                errors.append({"field": "InvoiceID", "message": f"Invoice {invoice_id} does not exist"})
            if errors:
                raise ApiError(400, {"errors": errors})
            assert invoice is not None and amount is not None and ttype is not None and method is not None
            paid, outstanding = money(invoice.get("AmountPaid")), money(invoice.get("Outstanding"))
            if paid is None or outstanding is None:
                raise _bad(f"Invoice {invoice_id} has unreadable amounts and cannot take transactions", "InvoiceID")
            if ttype == "Payment" and amount > outstanding:
                raise _bad(f"A payment of {amount} exceeds the amount outstanding ({outstanding})", "Amount")
            if ttype == "Refund" and amount > paid:
                raise _bad(f"A refund of {amount} exceeds the amount paid ({paid})", "Amount")
            sign = 1 if ttype == "Payment" else -1
            paid = (paid + sign * amount).quantize(_CENT)
            outstanding = (outstanding - sign * amount).quantize(_CENT)
            now = wire_datetime(self._clock())
            effects: dict[str, Any] = {"AmountPaid": paid, "Outstanding": outstanding}
            if invoice.get("Status") not in ("Cancelled", "Credited"):
                effects["Status"] = "Paid" if outstanding <= 0 else ("Outstanding" if paid <= 0 else "Part Paid")
            effects["DateUpdated"] = now
            invoices.modify(str(invoice_id), effects)  # re-files the invoice under its new DateUpdated
            transactions = self.tables["Transaction"]
            record: dict[str, Any] = {
                "ID": transactions.next_id(),
                "InvoiceID": invoice.get("ID"),
                "TransactionType": ttype,
                "Amount": amount.quantize(_CENT),
                "TransactionMethodID": method.get("ID"),
                "TransactionMethodLabel": method.get("Label"),
                "TransactionDate": tdate_text,
                "Reference": reference,
                "Notes": notes,
                "CurrencyCode": invoice.get("CurrencyCode"),
                "DateCreated": now,
                "DateUpdated": now,
                "CreatedByID": self.user_id,
            }
            transactions.insert(record)
            return json_response({"results": [record]}, status=201)

    def _method(self, given: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any] | None:
        mid, label = given.get("TransactionMethodID"), given.get("TransactionMethodLabel")
        if mid is None and label is None:
            errors.append(
                {
                    "field": "TransactionMethodID",
                    "message": "Give TransactionMethodID or TransactionMethodLabel",
                }
            )
            return None
        with self._lock:
            methods = [m for m in self.tables["TransactionMethod"].records_in_order() if isinstance(m, dict)]
        found = None
        if mid is not None:
            found = next((m for m in methods if str(m.get("ID")) == str(mid)), None)
            if found is None:
                errors.append({"field": "TransactionMethodID", "message": f"No payment method with ID {mid}"})
                return None
        if label is not None:
            by_label = next(
                (m for m in methods if isinstance(label, str) and str(m.get("Label", "")).lower() == label.lower()),
                None,
            )
            if by_label is None or (found is not None and by_label is not found):
                errors.append({"field": "TransactionMethodLabel", "message": f"No payment method {label!r}"})
                return None
            found = by_label
        if found is not None and found.get("Enabled") is False:
            errors.append({"field": "TransactionMethodID", "message": f"Payment method {found.get('Label')} is off"})
            return None
        return found


def _refuse_undocumented(filter_text: str | None, orderby: str | None, table: Table) -> None:
    """Strict mode (setting `strict=1`): what public material does not document for the finance feeds is refused
    with a 400, as we must assume the real service may: the `in (...)` operator, and `DateUpdated` in `$filter` or
    `$orderby` (the field is documented only for API v1; records still carry it)."""
    if filter_text:
        node = odata.parse_filter(filter_text)
        if odata.uses_in(node):
            raise QueryError("The query specified in the URI is not valid: 'in' is not supported.", "$filter")
        if "DateUpdated" in odata.properties(node, table.resolve):
            raise QueryError("The query specified in the URI is not valid: DateUpdated cannot be filtered.", "$filter")
    if orderby and any(part.split()[0].lower() == "dateupdated" for part in orderby.split(",") if part.strip()):
        raise QueryError("The query specified in the URI is not valid: DateUpdated cannot be sorted.", "$orderby")


_QUERY_OPTIONS = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count"})


def _int_option(opts: Mapping[str, str], key: str, default: int) -> int:
    text = opts.get(key)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{key} must be a whole number", key) from None
    if value < 0:
        raise QueryError(f"{key} must not be negative", key)
    return value


def _select_names(text: str | None, table: Table) -> list[str] | None:
    if not text:
        return None
    names = [table.resolve(part) for part in text.split(",") if part.strip()]
    return names or None
