"""The service facade the GUI and the command line talk to, with its result types.

The GUI imports only this module's types and the `Recondesk` protocol; `app.services.workspace.Workspace`
implements it. Every method may block (network or database): the GUI calls them on its background lanes,
never on the GUI thread. Must not: return ORM objects, sessions or anything holding a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.domain.progress import CancelToken, ProgressCallback
from app.domain.status import ItemStatus, Kind, PushState, Resolution, Role, System
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """What the item list shows. `period` is `YYYY-MM` or None for all; filtering happens in the database."""

    period: str | None = None
    statuses: tuple[ItemStatus, ...] = ()  # empty: all
    kind: Kind | None = None
    search: str = ""  # matches key, invoice number, contact, reference (case-insensitive substring)
    flag: str | None = None  # only items carrying this flag (product.md section 7), e.g. "possible_duplicate"


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One row of the item table. Amounts are display strings with the currency's decimals."""

    item_id: int
    kind: Kind
    key: str
    invoice: str  # invoice number (for payments: the invoice it is on)
    contact: str
    date: str  # ISO date (issue date or payment date)
    currency: str
    amount: str  # invoice total / payment amount, source side when present
    status: ItemStatus
    fields: tuple[str, ...]  # canonical names of differing fields
    push: PushState | None
    source_id: str | None  # the record's id in the source system (accessplanit)
    ledger_id: str | None  # ... and in the ledger (Xero)
    note: str = ""
    flags: tuple[str, ...] = ()  # product.md section 7: possible_duplicate, reopened, blocked
    reason: str = ""  # one sentence for people: why the item has its status (and flags)
    twin: str | None = None  # a `possible_duplicate`'s twin: the other record's id, in the same system
    difference: str = ""  # ledger minus source of the differing amount, with the currency's decimals ("" if none)
    version: int = 0  # the item's version when read: a decision names it, and is refused if the item changed since


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the next page of the item list starts: the last row's sort value and item id (opaque to callers)."""

    value: object
    item_id: int


@dataclass(frozen=True, slots=True)
class ItemPage:
    """A page of the item list in the asked order; `next` is None after the last page."""

    rows: tuple[ItemRow, ...]
    next: PageCursor | None


@dataclass(frozen=True, slots=True)
class ListCounts:
    """Counts for the item list from one aggregate query: items matching the whole filter, and per status for the
    filter's month, kind and search (what the status picker shows next to each status)."""

    total: int
    by_status: dict[str, int]


ORDERS = ("key", "kind", "invoice", "contact", "date", "currency", "amount", "difference", "status", "fields")
"""Orders `Recondesk.page` accepts; a leading "-" reverses. Sorting is the database's."""


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One line of the side-by-side panel. Values are display strings ('' when absent)."""

    field: str  # canonical name
    label: str  # for people: "PO number"
    source: str
    ledger: str
    differs: bool
    pushable_to: tuple[System, ...] = ()  # systems this field can be pushed to, from the other side


@dataclass(frozen=True, slots=True)
class PushRecord:
    """Create the item's record (an invoice, or a payment) in `to`, from the other system's."""

    item_id: int
    to: System
    override_note: str = ""  # non-empty: a person allows a flagged push (possible_duplicate), with this note
    new_contact: bool = False  # the person confirmed that the ledger gets a new contact (no existing one matched)
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)


@dataclass(frozen=True, slots=True)
class PushField:
    """Copy one differing field of an invoice from the other system onto `to`."""

    item_id: int
    field: str
    to: System
    override_note: str = ""  # non-empty: a person allows a flagged push, with this note
    clear: bool = False  # the person chose to write an empty value over a non-empty one
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)


@dataclass(frozen=True, slots=True)
class RetryPush:
    """Send a failed, uncertain or interrupted push again (an uncertain one is read back first)."""

    push_id: int


@dataclass(frozen=True, slots=True)
class Resolve:
    """A person's decision on an item that differs (ignore needs a note)."""

    item_id: int
    resolution: Resolution
    note: str = ""
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)


@dataclass(frozen=True, slots=True)
class Reopen:
    """Undo a resolve (accept or ignore) or a manual match: the item shows its computed status again (note needed)."""

    item_id: int
    note: str = ""
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)


@dataclass(frozen=True, slots=True)
class Match:
    """Pair two one-sided items of the same kind and currency by hand (one only in each system; note needed); every
    later sync honours it while both records stay one-sided."""

    item_id: int
    other_item_id: int
    note: str = ""
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)
    other_version: int | None = None  # ... and the other item's


@dataclass(frozen=True, slots=True)
class Unmatch:
    """Undo a manual match: both records show as one-sided again."""

    item_id: int
    note: str = ""
    expected_version: int | None = None  # the item's version the person saw; another is refused (None: no check)


@dataclass(frozen=True, slots=True)
class Revert:
    """Undo a succeeded field push: write back what the target held before, if it still holds what we wrote."""

    push_id: int
    note: str = ""


Action = PushRecord | PushField | RetryPush | Resolve | Revert | Reopen | Match | Unmatch
"""What a user can ask of an item: typed, so nothing parses strings (passed to `Recondesk.act`)."""

BulkAction = PushRecord | PushField | Resolve
"""What can be done to many items at once (`Recondesk.plan_many` / `act_many`)."""


@dataclass(frozen=True, slots=True)
class BulkPreview:
    """What a bulk action will do before it starts: `writes` actions to do, `skipped` (item id, why) that cannot be
    done, `calls` to the services and `seconds` it should take at the configured pacing (an estimate)."""

    writes: int
    skipped: tuple[tuple[int, str], ...]
    calls: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action the user can take on an item now, as offered by `item_detail`."""

    action: Action
    label: str  # for people: "Push PO number to accessplanit"
    target: System | None = None
    field: str | None = None
    suggested: bool = False
    """The one action keyboard triage takes on Enter (at most one per item; see `item_detail.suggest`): always a
    previewed push, or an ignore that asks for its note, never a decision taken without a second step."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field a write changes in the target, as display strings ('' when empty)."""

    field: str  # canonical name, or the target's own word for a record's part ("Contact")
    label: str  # for people
    before: str
    after: str


NEEDS = ("", "override", "clear", "new_contact")
"""What a person must choose before a previewed write may be sent: nothing; an override with a note (a possible
duplicate); "Clear the value" (an empty value over a non-empty one); that the ledger gets a new contact."""


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """What a push will send, before anything is sent (`Recondesk.preview`). `method`, `path` and `body` are exactly
    the request the connector makes (path under the service's API root; body as indented JSON text); a write made of
    two calls (a Xero refund: credit note, then its payment) joins the paths with ", then " and lists both bodies.
    `problems` say why it is refused or blocked; `needs` is what a person must choose to allow it ("" when nothing,
    see `NEEDS`). `blocked`: a rule of the target forbids it; no choice allows it."""

    item_id: int
    target: System
    method: str
    path: str
    body: str
    changes: tuple[FieldChange, ...]
    problems: tuple[str, ...] = ()
    needs: str = ""
    blocked: bool = False

    @property
    def sendable(self) -> bool:
        """True when it may be sent as it is (nothing blocks it, nothing left to choose)."""
        return not self.blocked and not self.needs and not self.problems


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What an operation changed, so views refresh only that (after Anki's `OpChanges`). Item ids are the items'
    ids before (`removed`, `changed`) and after (`added`, `changed`) the operation."""

    changed: frozenset[int] = frozenset()
    added: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()
    counts: bool = False  # some item's status changed, or items came or went: counts and filters may differ
    periods: bool = False  # the months that have items may differ
    audit: bool = False  # the audit log or an item's pushes have new entries
    connections: bool = False  # a saved connection changed
    everything: bool = False  # a sync or an unknown outcome: reload every view

    @property
    def items(self) -> frozenset[int]:
        return self.changed | self.added | self.removed

    def __or__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(
            self.changed | other.changed,
            self.added | other.added,
            self.removed | other.removed,
            self.counts or other.counts,
            self.periods or other.periods,
            self.audit or other.audit,
            self.connections or other.connections,
            self.everything or other.everything,
        )


EVERYTHING = ChangeSet(everything=True)


@dataclass(frozen=True, slots=True)
class ChangeMark:
    """How far a window has seen: the newest audit entry id and the newest finished sync run id."""

    audit_id: int = 0
    run_id: int = 0


@dataclass(frozen=True, slots=True)
class Others:
    """What changed since a mark (`changes` empty for the first look), the new mark, lines for people about what
    others did (oldest first, at most a few), and who is syncing now ("" when no sync runs)."""

    mark: ChangeMark
    changes: ChangeSet
    lines: tuple[str, ...] = ()
    syncing: str = ""


@dataclass(frozen=True, slots=True)
class PushRow:
    push_id: int
    action: str
    target: System
    state: PushState
    attempts: int
    last_error: str
    idempotency_key: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    who: str
    action: str
    item_key: str
    before: str  # JSON text
    after: str  # JSON text
    note: str


@dataclass(frozen=True, slots=True)
class AuditState:
    """The audit log's hash chain as `audit verify` finds it. `first_broken_id` names the first entry that does not
    hold (None when intact); `message` says so for people, naming the entry (id, when, action, item)."""

    ok: bool
    checked: int
    first_broken_id: int | None
    message: str


@dataclass(frozen=True, slots=True)
class ItemDetail:
    row: ItemRow
    diffs: tuple[FieldDiff, ...]
    lines_source: tuple[tuple[str, str, str], ...]  # (description, net, tax)
    lines_ledger: tuple[tuple[str, str, str], ...]
    actions: tuple[ActionSpec, ...]
    pushes: tuple[PushRow, ...]
    audit: tuple[AuditEntry, ...]
    error: str = ""  # for invalid items: why the record could not be read
    raw_source: str = ""  # pretty JSON of the stored payload, for people who need to see it
    raw_ledger: str = ""
    twin_label: str = ""  # a `possible_duplicate`'s twin for people: "accessplanit payment 88059"
    twin_values: tuple[tuple[str, str], ...] = ()  # the twin's (field label, value), to show beside the item's
    held_back: tuple[ActionSpec, ...] = ()  # pushes a flag holds back: allowed only with an `override_note`
    drift: tuple[DriftRow, ...] = ()  # a `reopened` item: each moved field at sign-off and on each side now
    drift_note: str = ""  # for people: "Signed off by Ann on 2026-11-03; accessplanit moved since."
    # Sentences for people about the records behind the item: the combined payment a payment is a part of, the
    # credit note a refund was paid out of (number, total, allocated, remaining), a foreign invoice's rate.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One field of a reopened item, three ways: the value agreed at sign-off, each side now, and which moved."""

    label: str
    agreed: str  # the agreed value ("source / ledger" when the two sides differed at sign-off)
    source_now: str
    ledger_now: str
    moved: tuple[Role, ...]  # the roles whose value is no longer the agreed one


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    """One system's control totals in one currency (amounts as strings with the currency's decimals)."""

    system: System
    currency: str
    invoices: int
    total: str
    paid: str
    due: str


@dataclass(frozen=True, slots=True)
class SignoffState:
    """The sign-off in force for a period; `reopened_keys`: items a later sync changed (drift)."""

    period: str
    by: str
    at: datetime
    note: str
    with_exceptions: bool
    hash: str
    exceptions: tuple[str, ...] = ()  # keys of the open items signed off as exceptions
    reopened_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignoffPreview:
    """What the sign-off dialog shows before anything is signed."""

    period: str
    totals: tuple[CurrencyTotals, ...]
    open_items: tuple[ItemRow, ...]
    items: int  # how many items the period holds
    current: SignoffState | None  # the sign-off in force, if any


@dataclass(frozen=True, slots=True)
class SignoffResult:
    ok: bool
    message: str  # for people
    refused: bool = False  # a rule refused it (open items without `with_exceptions`)
    state: SignoffState | None = None
    totals: tuple[CurrencyTotals, ...] = ()
    items: int = 0


@dataclass(frozen=True, slots=True)
class Roles:
    """Which system plays each role; views take their words ("accessplanit", "Xero") from here, not from code."""

    source: System
    ledger: System

    def system(self, role: Role) -> System:
        return self.source if role is Role.SOURCE else self.ledger

    def systems(self, roles: Sequence[Role]) -> tuple[System, ...]:
        return tuple(self.system(r) for r in roles)


@dataclass(frozen=True, slots=True)
class StreamStats:
    system: System
    stream: str
    fetched: int
    pages: int
    calls: int
    retries: int
    invalid: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class SyncResult:
    run_id: int
    started_at: datetime
    finished_at: datetime
    ok: bool
    cancelled: bool
    streams: tuple[StreamStats, ...]
    counts: dict[str, int]  # item status -> count after reconciling
    errors: tuple[str, ...] = ()
    budget: dict[str, str] = field(default_factory=dict)  # e.g. {"xero.day_remaining": "4873"}


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str  # for people
    item: ItemRow | None  # the item as it is now (status updated without a re-sync)
    changes: ChangeSet = ChangeSet()  # what the action changed (nothing when it was refused before doing anything)
    refused: str = ""  # the rule's flag when a rule refused it before anything was sent (blocked, blanking, ...)


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]  # status -> count for the current filter's period
    last_sync: datetime | None
    last_sync_ok: bool | None
    connections: dict[str, bool]  # system value -> configured


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A saved connection without its secret."""

    system: System
    url: str
    username: str = ""
    auth: str = ""  # "password" | "api_key" | "client_credentials" | "oauth"
    identity_url: str = ""
    client_id: str = ""
    tenant_id: str = ""
    tenant_name: str = ""
    has_secret: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What "Test connection" found. `step` names the failing step: reachability, credentials, tenant, scopes."""

    ok: bool
    step: str
    message: str
    tenant_id: str = ""  # Xero: the organisation the check found
    tenant_name: str = ""


@dataclass(frozen=True, slots=True)
class DashboardTotals:
    """One system's invoices of one currency in a period. Amounts are Decimal in that currency (never mixed)."""

    system: System
    currency: str
    invoices: int
    total: Decimal
    paid: Decimal
    due: Decimal


@dataclass(frozen=True, slots=True)
class CurrencyDifference:
    """Ledger minus source of one currency's totals (`Roles` says which system plays each)."""

    currency: str
    invoices: int
    total: Decimal
    paid: Decimal
    due: Decimal


@dataclass(frozen=True, slots=True)
class StatusValue:
    """Items of one status and currency in a period: how many, and the value of their amounts (source side when
    present). `open`: the status still needs someone (differs, only in one system, invalid)."""

    status: ItemStatus
    currency: str
    items: int
    value: Decimal
    open: bool


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One finished sync in the dashboard's trend: items open per status after it, and what was still open per
    currency (None for runs that did not note it)."""

    run_id: int
    finished_at: datetime
    open_items: dict[str, int]  # open status -> count
    open_value: dict[str, Decimal] | None  # currency -> value


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One health check of a connection: `level` is "ok" (green), "slow" (amber: answered slowly, or rate-limited)
    or "failed" (red); `message` for people; `seconds` it took; `at` UTC."""

    system: System
    level: str
    message: str
    at: datetime
    seconds: int = 0


@dataclass(frozen=True, slots=True)
class DisconnectResult:
    """What `disconnect` did: `ok` False when the service could not revoke the sign-in (it was removed here all the
    same); `message` says so and that the cache is kept."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """A system's connection as the dashboard shows it: configured, the last sync's error for it ('' when none)
    and the rate-limit budget the last run reported for it (e.g. {"day_remaining": "4873"})."""

    system: System
    configured: bool
    last_error: str
    budget: dict[str, str]
    last_check: HealthCheck | None = None  # the latest health check of the connection (None: never checked)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The money view of a period (`None`: every period). Every figure is per currency: nothing here adds amounts
    of different currencies. `decimals` gives each currency's decimal places for display."""

    period: str | None
    roles: Roles
    totals: tuple[DashboardTotals, ...]  # by system (source first), then currency
    differences: tuple[CurrencyDifference, ...]  # by currency
    by_status: tuple[StatusValue, ...]  # by status, then currency
    runs: tuple[RunPoint, ...]  # oldest first
    health: tuple[ConnectionHealth, ...]
    last_sync: datetime | None
    last_sync_ok: bool | None
    decimals: dict[str, int] = field(default_factory=dict)

    def money(self, amount: Decimal, currency: str) -> str:
        """`amount` with the currency's decimals and thousands separators: "12,345.60"."""
        places = self.decimals.get(currency, 2)
        return f"{amount:,.{places}f}"


class Recondesk(Protocol):
    """Everything the GUI can ask of the services. Implemented by `app.services.workspace.Workspace`."""

    def roles(self) -> Roles: ...
    def periods(self) -> Sequence[str]: ...
    def count_items(self, flt: ItemFilter) -> int: ...
    def item_ids(self, flt: ItemFilter) -> Sequence[int]:
        """Every id matching `flt` (a bulk action on "all of this filter", without loading the rows)."""
        ...

    def page(self, flt: ItemFilter, order: str = "key", after: PageCursor | None = None, limit: int = 200) -> ItemPage:
        """Up to `limit` rows matching `flt` in `order` (one of `ORDERS`), after `after` (None: the first page)."""
        ...

    def list_counts(self, flt: ItemFilter) -> ListCounts: ...
    def rows(self, item_ids: Sequence[int]) -> Sequence[ItemRow]: ...
    def item_detail(self, item_id: int) -> ItemDetail: ...
    def summary(self, period: str | None) -> Summary: ...
    def dashboard(self, period: str | None, runs: int = 20) -> Dashboard:
        """The money view of `period` (None: all), with the last `runs` finished syncs; aggregates by the database."""
        ...

    def sync(
        self,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        wait: float = 0.0,
    ) -> SyncResult:
        """Fetch and reconcile. While another process syncs this cache: refused (`SyncBusy`), or with `wait` > 0
        queued behind it for up to `wait` seconds (a progress event of stage "waiting" says who; cancellable)."""
        ...

    def act(self, action: Action) -> ActionResult:
        """Do `action` (one of the `ActionSpec.action`s `item_detail` offers, or a `Resolve`)."""
        ...

    def preview(self, action: PushRecord | PushField) -> PlannedWrite:
        """What `act(action)` would send, worked out from the cache with the checks before sending; sends nothing.
        Raises `RecondeskError` when the push cannot even be planned."""
        ...

    def retry_failed(self) -> Sequence[ActionResult]: ...
    def plan_many(self, actions: Sequence[BulkAction]) -> BulkPreview:
        """Preview many actions: writes, skipped with why, calls and time at the configured pacing."""
        ...

    def act_many(
        self,
        actions: Sequence[BulkAction],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Sequence[ActionResult]:
        """Do many actions (pushes to Xero in batches); one result per action, in order."""
        ...

    def sync_runs(self, limit: int = 50) -> Sequence[SyncResult]:
        """The sync-run log, newest first (a run the process did not live to finish says so in its errors)."""
        ...

    def audit(self, limit: int = 500) -> Sequence[AuditEntry]: ...
    def verify_audit(self) -> AuditState:
        """Walk the audit log's hash chain (reads every entry)."""
        ...

    def user_name(self) -> str:
        """The name saved in settings for the audit log ('' when none was given yet)."""
        ...

    def set_user_name(self, name: str) -> None:
        """Save the person's name in settings; decisions from now on are recorded under it."""
        ...

    def one_sided_candidates(self, item_id: int) -> Sequence[ItemRow]:
        """Items a one-sided item could be matched with by hand: one-sided on the other system, same kind and
        currency (at most 500, nearest amount first)."""
        ...

    def signoff_preview(self, period: str) -> SignoffPreview:
        """The period's control totals per system and currency, its open items and the sign-off in force."""
        ...

    def sign_off(self, period: str, note: str, with_exceptions: bool = False) -> SignoffResult:
        """Sign the period off (audited); refused while items are open unless `with_exceptions`."""
        ...

    def connections(self) -> Sequence[ConnectionInfo]: ...
    def save_connection(self, info: ConnectionInfo, secret: str | None) -> None: ...
    def test_connection(self, system: System) -> CheckResult: ...
    def check_connection(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test details typed in but not saved (`secret` None: the saved secret); nothing is stored."""
        ...

    def save_checked(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test, then save only if the connection works (with the Xero organisation it found)."""
        ...

    def match_candidates(self, item_id: int) -> Sequence[MatchCandidate]:
        """The likely counterparts of a one-sided item, best first: one-sided items of the other system, same kind and
        currency, scored 0-100 with per-field scores and why the rules did not pair them (empty when the item is not
        one-sided). Accepting one is `act(Match(...))`."""
        ...

    def settings_view(self) -> SettingsView:
        """Every setting with its value, help and choices (Xero accounts and tax types from the last sync)."""
        ...

    def change_settings(
        self,
        changes: Mapping[str, object],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ActionResult:
        """Validate, save and audit the changed settings (name -> value, text as typed is fine), then re-reconcile
        at once only the items they can affect. An invalid value changes nothing: `ok` False, `refused`
        "invalid_setting", the message names the setting and why."""
        ...

    def check_health(self) -> Sequence[HealthCheck]:
        """Check each connection that has a saved secret, record each check in the run log, return them."""
        ...

    def health_history(self, limit: int = 50) -> Sequence[HealthCheck]:
        """The recorded health checks, newest first."""
        ...

    def disconnect(self, system: System) -> DisconnectResult:
        """Revoke what the service lets us revoke, remove the keyring entry, keep the cache (audited)."""
        ...

    def current_settings(self) -> Settings:
        """The settings in force (the GUI's timers read the health-check interval and the daily sync time)."""
        ...

    def me(self) -> Person:
        """Who this process acts as on the database, with their role now (the GUI greys what the role forbids)."""
        ...

    def people(self) -> Sequence[Person]:
        """The people of this database (team mode), by login."""
        ...

    def others(self, mark: ChangeMark | None) -> Others:
        """What changed in the database after `mark` (None: the first look; nothing to refresh), what others did,
        and who is syncing now (team mode: the windows poll it every few seconds)."""
        ...

    def test_team_database(self, values: Mapping[str, str], password: str | None) -> CheckResult:
        """Try the team database named by the Team database settings `values` (as typed); nothing is stored."""
        ...

    def save_team_password(self, values: Mapping[str, str], password: str) -> None:
        """Keep the team database's password in the keyring (never in the settings)."""
        ...


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    """A one-sided item that may be the same as another one-sided item: its row, the total score (0-100; 85 and
    above likely, 60 and above possible), the per-field scores ("number", "amount", "date", "contact", "reference";
    the weightiest first) and why the matching rules did not pair them ("number differs: INV-1O01 vs INV-1001")."""

    row: ItemRow
    score: int
    scores: tuple[tuple[str, int], ...]
    why_not: str

    @property
    def item_id(self) -> int:
        return self.row.item_id

    @property
    def band(self) -> str:
        """ "good" (85+), "fair" (60+) or "poor": how the score is shown (green, amber, red)."""
        return "good" if self.score >= 85 else "fair" if self.score >= 60 else "poor"


@dataclass(frozen=True, slots=True)
class SettingChoice:
    """A value a setting may take, from Xero's reference data: `code` is stored, `label` shown ("200 Sales")."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class SettingValue:
    """One setting as the settings dialog and `recondesk settings` show it (from its declaration in app.settings)."""

    name: str
    label: str
    help: str
    group: str  # Matching, Mappings, Connections, You
    scope: str  # firm | personal
    kind: str  # decimal | int | float | bool | text | mapping
    value: str  # as text (`parse` reads it back); a mapping as "KEY=VALUE, ..."
    default: str
    affects: tuple[str, ...] = ()  # "invoices", "payments": what a change re-reconciles
    minimum: str = ""
    maximum: str = ""
    mapping: tuple[tuple[str, str], ...] = ()  # a mapping's entries
    choices: tuple[SettingChoice, ...] = ()  # empty: free text (nothing fetched from Xero yet, or not a choice)
    choices_from: str = ""  # "accounts" | "tax_types" | ""


@dataclass(frozen=True, slots=True)
class SettingsView:
    values: tuple[SettingValue, ...]
    groups: tuple[str, ...]
    fetched: bool  # Xero's accounts and tax rates are in the cache (else the dialog offers free text)

    def get(self, name: str) -> SettingValue:
        return next(v for v in self.values if v.name == name)


def check_setting(name: str, value: object) -> str:
    """Why `value` is not valid for the setting `name` ("" when it is): the dialog checks each field as typed."""
    from app.settings import SettingError, parse_value

    try:
        parse_value(name, value)
    except SettingError as exc:
        return str(exc)
    return ""

    def check_health(self) -> Sequence[HealthCheck]:
        """Check each connection that has a saved secret, record each check in the run log, return them."""
        ...

    def health_history(self, limit: int = 50) -> Sequence[HealthCheck]:
        """The recorded health checks, newest first."""
        ...

    def disconnect(self, system: System) -> DisconnectResult:
        """Revoke what the service lets us revoke, remove the keyring entry, keep the cache (audited)."""
        ...

    def current_settings(self) -> Settings:
        """The settings in force (the GUI's timers read the health-check interval and the daily sync time)."""
        ...


SYNC_WAITING = "waiting"
"""`ProgressEvent.stage` while a sync waits for another process's sync of the cache to end (`Recondesk.sync(wait=)`);
the event's `message` says who holds it and that ours starts when it ends."""


@dataclass(frozen=True, slots=True)
class Person:
    """Someone on the database's people list. `role`: "viewer" (reads), "preparer" (also acts), "reviewer" (also
    signs off and manages people); an inactive person changes nothing."""

    login: str
    name: str
    role: str
    active: bool = True

    @property
    def can_act(self) -> bool:
        """Decisions, pushes, syncs, connections and the firm's settings."""
        return self.active and self.role in ("preparer", "reviewer")

    @property
    def can_sign_off(self) -> bool:
        return self.active and self.role == "reviewer"
