"""`Workspace`: the one object the GUI and the command line talk to; implements `app.services.api.Recondesk`.

It wires the use cases (sync, reconcile, push, retry, resolve, report, connections) over one cache database, one
credential store, the settings and a `ClientFactory` that makes connectors (the composition root supplies the
concrete one; this module never imports a concrete connector). Every method may block: callers run them off the
GUI thread. Must not: import PySide6 or concrete connectors, return storage objects, or let a secret out.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from app.connectors.base import CheckStep, LedgerWriter, SecretBox, SourceWriter, SystemClient
from app.credentials import CredentialStore
from app.domain.errors import ConfigurationError, RateLimited, RecondeskError
from app.domain.progress import CancelToken, ProgressCallback, no_progress
from app.domain.status import System
from app.services import others as others_mod
from app.services import push as push_mod
from app.services import report as report_mod
from app.services import settings_change
from app.services import signoff as signoff_mod
from app.services import team as team_mod
from app.services.actions import ItemActions
from app.services.api import (
    Action,
    ActionResult,
    AuditEntry,
    AuditState,
    BulkAction,
    BulkPreview,
    ChangeMark,
    CheckResult,
    ConnectionInfo,
    CurrencyTotals,
    Dashboard,
    DisconnectResult,
    HealthCheck,
    ItemDetail,
    ItemFilter,
    ItemPage,
    ItemRow,
    ListCounts,
    MatchCandidate,
    Others,
    PageCursor,
    Person,
    PlannedWrite,
    PushField,
    PushRecord,
    Roles,
    SettingsView,
    SignoffPreview,
    SignoffResult,
    SignoffState,
    StreamStats,
    Summary,
    SyncResult,
)
from app.services.bulk import BulkActions
from app.services.connections import SECRET_FIELD, Connections, MemorySecretBox
from app.services.item_detail import ItemDetails, audit_entry
from app.services.item_queries import LEDGER, SOURCE, ItemQueries, ranked_candidates, to_row
from app.services.pack import build as pack_build
from app.services.reconciling import rules_from
from app.services.resolve import match_candidates
from app.settings import META, SettingError, Settings
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database

log = logging.getLogger(__name__)


class SourceClient(SystemClient, SourceWriter, Protocol):
    """accessplanit: reads and writes."""


class LedgerClient(SystemClient, LedgerWriter, Protocol):
    """Xero: reads and writes."""


class ClientFactory(Protocol):
    """Makes connectors from a saved connection and a box over its secret (written by the composition root)."""

    def source(self, info: ConnectionInfo, secrets: SecretBox) -> SourceClient: ...

    def ledger(self, info: ConnectionInfo, secrets: SecretBox) -> LedgerClient: ...

    def check(self, info: ConnectionInfo, secrets: SecretBox) -> list[CheckStep]: ...

    def revoke(self, info: ConnectionInfo, secrets: SecretBox) -> bool:
        """Revoke the connection's grant at its service (True), or say there is nothing to revoke (False)."""
        ...


class _Clients:
    """Connectors made on first use and kept (their tokens and pacing live in them); dropped when a connection
    changes. Implements `push.Writers`."""

    def __init__(self, connections: Connections, factory: ClientFactory) -> None:
        self._connections = connections
        self._factory = factory
        self._lock = threading.Lock()
        self._source: SourceClient | None = None
        self._ledger: LedgerClient | None = None

    def reset(self) -> None:
        with self._lock:
            self._source = self._ledger = None

    def source(self) -> SourceClient:
        with self._lock:
            if self._source is None:
                info, box = self._connections.get(SOURCE)
                self._source = self._factory.source(info, box)
            return self._source

    def ledger(self) -> LedgerClient:
        with self._lock:
            if self._ledger is None:
                info, box = self._connections.get(LEDGER)
                self._ledger = self._factory.ledger(info, box)
            return self._ledger

    def source_writer(self) -> SourceWriter:
        return self.source()

    def ledger_writer(self) -> LedgerWriter:
        return self.ledger()


class Workspace:
    """Implements `app.services.api.Recondesk` (plus `report_bytes` and `credentials_description` for the CLI)."""

    def __init__(
        self,
        db: Database,
        credentials: CredentialStore,
        settings: Settings,
        clients: ClientFactory,
        profile: str,
        who: str | None = None,
        save_settings: Callable[[Settings], None] | None = None,
        *,
        login: str | None = None,
        firm_from_db: bool = False,
    ) -> None:
        """`login`: who this process is on the people list (default: the settings' `login()`); `firm_from_db`: take
        the firm's settings from the database (the composition root; tests pass the settings they mean)."""
        self.db = db
        self.credentials = credentials
        login = login or settings.login()
        self.team = team_mod.Team(db, login, who or settings.user_name or login)
        if firm_from_db:
            settings = self.team.firm_settings(settings)
        self.settings = settings
        self.profile = profile
        self.who = who or settings.user_name or self.team.me.name or self.team.login
        self._save_settings = save_settings
        self.factory = clients
        self.rules = rules_from(settings)
        self._connections = Connections(db, credentials, profile)
        self._clients = _Clients(self._connections, clients)
        self.pusher = push_mod.PushService(db, settings, self.who, self._clients, self._reconcile_invoice)
        self.items = ItemQueries(db)
        self.details = ItemDetails(db, self.rules)
        self.actions = ItemActions(db, settings, self.who, self.pusher)
        self.bulk = BulkActions(self.actions)

    # --- the parts: item list, item panel, actions (each its own module) ---

    def roles(self) -> Roles:
        return self.items.roles()

    def periods(self) -> Sequence[str]:
        return self.items.periods()

    def count_items(self, flt: ItemFilter) -> int:
        return self.items.count_items(flt)

    def item_ids(self, flt: ItemFilter) -> Sequence[int]:
        """Every matching id (the command line and tests; the GUI pages instead)."""
        return self.items.item_ids(flt)

    def page(self, flt: ItemFilter, order: str = "key", after: PageCursor | None = None, limit: int = 200) -> ItemPage:
        return self.items.page(flt, order, after, limit)

    def list_counts(self, flt: ItemFilter) -> ListCounts:
        return self.items.list_counts(flt)

    def rows(self, item_ids: Sequence[int]) -> Sequence[ItemRow]:
        return self.items.rows(item_ids)

    def item_detail(self, item_id: int) -> ItemDetail:
        detail = self.details.item_detail(item_id)
        if detail.actions and not self.team.current().can_act:  # a viewer is offered nothing to do
            return dataclasses.replace(detail, actions=())
        return detail

    def act(self, action: Action) -> ActionResult:
        why = self.team.check("preparer")
        if why:
            return ActionResult(False, why, None, refused="role")
        return self.actions.act(action)

    def preview(self, action: PushRecord | PushField) -> PlannedWrite:
        return self.actions.preview(action)

    def retry_failed(self) -> Sequence[ActionResult]:
        why = self.team.check("preparer")
        if why:
            raise team_mod.RoleRefused(why)
        return self.actions.retry_failed()

    def plan_many(self, actions: Sequence[BulkAction]) -> BulkPreview:
        return self.bulk.plan_many(actions)

    def act_many(
        self,
        actions: Sequence[BulkAction],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Sequence[ActionResult]:
        why = self.team.check("preparer")
        if why:
            return [ActionResult(False, why, None, refused="role") for _ in actions]
        return self.bulk.act_many(actions, progress, cancel)

    def _reconcile_invoice(self, key: str) -> None:
        from app.services.reconciling import reconcile_invoice

        reconcile_invoice(self.db, self.settings, key)

    # --- summary, sync, audit ---

    def sync_runs(self, limit: int = 50) -> Sequence[SyncResult]:
        from app.storage import synclog

        with self.db.transaction(readonly=True) as tx:
            runs = synclog.list_runs(tx, limit)
        out = []
        for r in runs:
            errors = r.errors
            if r.finished_at is None:
                errors = (*errors, "This run did not finish (the program stopped); what it had saved is kept.")
            streams = tuple(
                StreamStats(s.system, s.stream, s.fetched, s.pages, s.calls, s.retries, s.invalid, s.error)
                for s in r.streams
            )
            out.append(
                SyncResult(
                    run_id=r.id,
                    started_at=r.started_at,
                    finished_at=r.finished_at or r.started_at,
                    ok=bool(r.ok),
                    cancelled=r.cancelled,
                    streams=streams,
                    counts=dict(r.counts),
                    errors=tuple(errors),
                    budget=dict(r.budget),
                )
            )
        return out

    def dashboard(self, period: str | None, runs: int = 20) -> Dashboard:
        from app.services.dashboard import build_dashboard

        configured = {c.system: c.has_secret or c.auth == "oauth" for c in self._connections.list()}
        return build_dashboard(self.db, period, self.roles(), configured, runs)

    def summary(self, period: str | None) -> Summary:
        from app.storage import synclog

        with self.db.transaction(readonly=True) as tx:
            counts = dict(items_repo.count_by_status(tx, period))
            last = synclog.last_run(tx)
        configured = {str(c.system): c.has_secret for c in self._connections.list()}
        return Summary(
            counts={str(k): int(v) for k, v in counts.items()},
            last_sync=last.finished_at if last is not None else None,
            last_sync_ok=last.ok if last is not None else None,
            connections={str(s): configured.get(str(s), False) for s in System},
        )

    def sync(
        self,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        wait: float = 0.0,
    ) -> SyncResult:
        from app.services.sync import sync_all

        why = self.team.check("preparer")
        if why:
            raise team_mod.RoleRefused(why)
        clients: dict[System, SystemClient] = {}
        configured = {c.system for c in self._connections.list() if c.has_secret or c.auth == "oauth"}
        if SOURCE in configured:
            clients[SOURCE] = self._clients.source()
        if LEDGER in configured:
            clients[LEDGER] = self._clients.ledger()
        if not clients:
            raise ConfigurationError(
                "There is nothing to sync yet: no connection is set up.",
                "Add the accessplanit and Xero connections in Edit > Connections.",
            )
        return sync_all(
            self.db, clients, self.settings, full=full, progress=progress, cancel=cancel, wait=wait, who=self.who
        )

    def audit(self, limit: int = 500) -> Sequence[AuditEntry]:
        with self.db.transaction(readonly=True) as tx:
            return [audit_entry(e) for e in audit_repo.list_audit(tx, limit)]

    def verify_audit(self) -> AuditState:
        with self.db.transaction(readonly=True) as tx:
            found = audit_repo.verify(tx)
        return AuditState(found.ok, found.checked, found.first_broken_id, found.message)

    def user_name(self) -> str:
        return self.settings.user_name

    def set_user_name(self, name: str) -> None:
        """Save the name (settings) and record decisions under it from now on."""
        name = " ".join(name.split())
        if not name:
            raise ValueError("a name is needed")
        self.settings = dataclasses.replace(self.settings, user_name=name)
        if self._save_settings is not None:
            self._save_settings(self.settings)
        self.team.rename_me(name)
        self.who = self.pusher.who = self.actions.who = name

    def one_sided_candidates(self, item_id: int) -> Sequence[ItemRow]:
        return match_candidates(self.db, item_id)

    def match_candidates(self, item_id: int) -> Sequence[MatchCandidate]:
        return ranked_candidates(self.db, rules_from(self.settings), item_id)

    # --- connections ---

    def connections(self) -> Sequence[ConnectionInfo]:
        return self._connections.list()

    def save_connection(self, info: ConnectionInfo, secret: str | None) -> None:
        self._connections.save(info, secret)
        self._clients.reset()

    def save_connection_secrets(self, info: ConnectionInfo, secrets: dict[str, str]) -> None:
        """Save a connection whose secret is several values (the OAuth flow's tokens)."""
        self._connections.save_secret_dict(info, secrets)
        self._clients.reset()

    def _run_checks(self, info: ConnectionInfo, box: SecretBox) -> CheckResult:
        try:
            steps = self.factory.check(info, box)
        except ConfigurationError as exc:
            return CheckResult(False, "configuration", exc.user_text())
        except RateLimited as exc:
            return CheckResult(False, "rate_limit", exc.user_text())
        except RecondeskError as exc:
            return CheckResult(False, "reachability", exc.user_text())
        for step in steps:
            if not step.ok:
                return CheckResult(False, step.step, step.message)
        if not steps:
            return CheckResult(False, "reachability", "The connector ran no checks.")
        tenant = next((s for s in steps if s.tenant_id), None)
        found = (tenant.tenant_id, tenant.tenant_name) if tenant else ("", "")
        message = " ".join(s.message for s in steps)
        return CheckResult(True, steps[-1].step, message, tenant_id=found[0], tenant_name=found[1])

    def test_connection(self, system: System) -> CheckResult:
        """Run the connector's checks on the saved connection; the result names the first failing step. The Xero
        organisation the check finds is kept with the connection (a custom connection reaches exactly one)."""
        try:
            info, box = self._connections.get(system)
        except ConfigurationError as exc:
            return CheckResult(False, "configuration", exc.user_text())
        result = self._run_checks(info, box)
        if (
            result.ok
            and result.tenant_id
            and (result.tenant_id, result.tenant_name) != (info.tenant_id, info.tenant_name)
        ):
            self._connections.update_tenant(system, result.tenant_id, result.tenant_name)
            self._clients.reset()
        return result

    def check_connection(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test details typed in but not saved; `secret` None means the saved one. Nothing is stored."""
        if secret is None:
            try:
                _saved, box = self._connections.get(info.system)
            except ConfigurationError as exc:
                return CheckResult(False, "configuration", exc.user_text())
            return self._run_checks(info, MemorySecretBox(box.load()))
        return self._run_checks(info, MemorySecretBox({SECRET_FIELD.get(info.auth, "secret"): secret}))

    def save_checked(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test first; save (the secret to the keyring) only if the connection works, with the Xero organisation
        the check found. A failed check saves nothing and says which step failed."""
        result = self.check_connection(info, secret)
        if result.ok:
            if result.tenant_id:
                info = dataclasses.replace(info, tenant_id=result.tenant_id, tenant_name=result.tenant_name)
            self.save_connection(info, secret)
        return result

    # --- watching the connections ---

    def check_health(self) -> Sequence[HealthCheck]:
        """Check each connection that has a saved secret; each check is recorded in the run log."""
        from app.services import health

        systems = [c.system for c in self._connections.list() if c.has_secret]
        with team_mod.exempt():  # a viewer's window checks the connections too
            return health.run_checks(
                self.db,
                systems,
                self.test_connection,
                self.settings.health_slow_seconds,
                keep_days=self.settings.health_keep_days,
            )

    def health_history(self, limit: int = 50) -> Sequence[HealthCheck]:
        from app.services import health

        return health.history(self.db, limit)

    def current_settings(self) -> Settings:
        return self.settings

    def disconnect(self, system: System) -> DisconnectResult:
        """Revoke (Xero's refresh token), remove the keyring entry, keep the settings and the cache; audited."""
        ok, message = self._connections.disconnect(system, self.factory.revoke, self.who)
        self._clients.reset()
        return DisconnectResult(ok, message)

    def credentials_description(self) -> str:
        return self.credentials.describe()

    # --- report ---

    def report(self, period: str | None) -> dict[str, Any]:
        return report_mod.build_report(self.db, period, self.rules)

    def report_bytes(self, period: str | None, fmt_name: str) -> bytes:
        return report_mod.report_bytes(self.db, period, fmt_name, self.rules)

    # --- sign-off (services/signoff.py) ---

    def signoff_preview(self, period: str) -> SignoffPreview:
        checked = report_mod.check_period(period) or ""
        with self.db.transaction(readonly=True) as tx:
            rows = signoff_mod.period_rows(tx, checked)
            totals = report_mod.control_totals(tx, rows, self.rules)
            current = signoff_repo.current_signoff(tx, checked)
        return SignoffPreview(
            period=checked,
            totals=_currency_totals(totals),
            open_items=tuple(to_row(r) for r in rows if r.status in signoff_mod.OPEN),
            items=len(rows),
            current=None if current is None else _signoff_state(current, rows),
        )

    def sign_off(self, period: str, note: str, with_exceptions: bool = False) -> SignoffResult:
        checked = report_mod.check_period(period) or ""
        why = self.team.check("reviewer")
        if why:
            return SignoffResult(False, why, refused=True)
        try:
            with team_mod.needs("reviewer"):
                done = signoff_mod.sign_off(
                    self.db,
                    self.rules,
                    checked,
                    self.who,
                    note,
                    with_exceptions,
                    lambda tx, rows: report_mod.control_totals(tx, rows, self.rules),
                )
        except signoff_mod.SignoffRefused as exc:
            return SignoffResult(False, str(exc), refused=True)
        except ValueError as exc:
            return SignoffResult(False, str(exc))
        rec = done.record
        extra = f" with {len(rec.exceptions)} exception(s)" if rec.exceptions else ""
        return SignoffResult(
            True,
            f"{checked} signed off by {rec.who}{extra} ({done.items} items).",
            state=_signoff_state(rec, ()),
            totals=_currency_totals(rec.totals),
            items=done.items,
        )

    def write_pack(
        self,
        period: str | None,
        directory: Path,
        *,
        all_items: bool = False,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> list[Path]:
        """The month-end pack of `period` (xlsx, pdf, csv) written into `directory`; prepared by the user's name."""
        data = pack_build.build_pack(self.db, period, self.rules, preparer=self.who, all_items=all_items)
        return pack_build.write_pack(data, directory, progress, cancel)

    # --- people (team mode: services/team.py) ---

    def me(self) -> Person:
        return self.team.current()

    def people(self) -> Sequence[Person]:
        return self.team.people()

    def others(self, mark: ChangeMark | None) -> Others:
        return others_mod.look(self.db, mark, self.who)

    def add_person(self, login: str, name: str, role: str) -> Person:
        """Add someone to the people list (reviewers only; audited). Raises `ValueError`, `team.RoleRefused`."""
        return self.team.add_person(login, name, role)

    def set_role(self, login: str, role: str | None = None, *, active: bool | None = None) -> Person:
        """Change someone's role or activity (reviewers only; audited). Raises `ValueError`, `team.RoleRefused`."""
        return self.team.set_role(login, role, active=active)

    def test_team_database(self, values: Mapping[str, str], password: str | None) -> CheckResult:
        """Try the team database the Team database settings `values` (as typed) name, with `password` (None: the
        one kept in the keyring). Nothing is stored, nothing created; the result says what failed."""
        from app.storage.migrate import check_database

        try:
            chosen = settings_change.parse_changes(self.settings, values)
        except SettingError as exc:
            return CheckResult(False, "configuration", str(exc))
        url = chosen.team_url()
        if not url:
            return CheckResult(False, "configuration", "Give the server and the database first.")
        if password is None:
            password = (self.credentials.get(chosen.team_entry()) or {}).get("password")
        problem = check_database(url, password)
        return CheckResult(not problem, "reachability", problem or "Connected: Recondesk can open this database.")

    def save_team_password(self, values: Mapping[str, str], password: str) -> None:
        """Keep `password` in the keyring for the team database `values` name (never in the settings)."""
        chosen = settings_change.parse_changes(self.settings, values)
        self.credentials.set(chosen.team_entry(), {"password": password})

    # --- settings (declared in app.settings; a change re-reconciles what it can affect) ---

    def settings_view(self) -> SettingsView:
        return settings_change.view(self.db, self.settings)

    def change_settings(
        self,
        changes: Mapping[str, object],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ActionResult:
        old = self.settings
        # The firm's settings live in the database (preparers and reviewers change them); personal ones in the
        # local file, which anyone may change (its audit row included).
        firm = any(META[n].scope == "firm" for n in changes if n in META)
        why = self.team.check("preparer") if firm else ""
        if why:
            return ActionResult(False, why, None, refused="role")
        try:
            with team_mod.needs("preparer" if firm else "viewer"):
                done = settings_change.apply_changes(
                    self.db,
                    old,
                    changes,
                    self.who,
                    self._save_settings,
                    progress=progress,
                    cancel=cancel,
                    store=self.team.store_firm,
                )
        except SettingError as exc:
            return ActionResult(False, str(exc), None, refused="invalid_setting")
        if done.changed:
            self._use_settings(done.settings)
        return ActionResult(True, settings_change.describe(done, old), None, done.changes)

    def _use_settings(self, settings: Settings) -> None:
        """Hand new settings to every part that holds them (as `__init__` wires them)."""
        self.settings = settings
        if settings.user_name:
            self.who = settings.user_name
        self.rules = rules_from(settings)
        self.pusher = push_mod.PushService(self.db, settings, self.who, self._clients, self._reconcile_invoice)
        self.details = ItemDetails(self.db, self.rules)
        self.actions = ItemActions(self.db, settings, self.who, self.pusher)
        self.bulk = BulkActions(self.actions)


def _currency_totals(totals: dict[str, Any]) -> tuple[CurrencyTotals, ...]:
    out = []
    for system in System:
        for code, t in totals.get(str(system), {}).get("by_currency", {}).items():
            out.append(CurrencyTotals(system, code, int(t["invoices"]), t["total"], t["paid"], t["due"]))
    return tuple(out)


def _signoff_state(rec: signoff_repo.SignoffRecord, rows: Sequence[Any]) -> SignoffState:
    return SignoffState(
        period=rec.period,
        by=rec.who,
        at=rec.at,
        note=rec.note,
        with_exceptions=rec.with_exceptions,
        hash=rec.hash,
        exceptions=tuple(e["key"] for e in rec.exceptions),
        reopened_keys=tuple(r.key for r in rows if signoff_mod.REOPENED in r.flags),
    )
