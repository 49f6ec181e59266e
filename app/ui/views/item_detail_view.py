"""The panel for one item: the field-by-field diff, both sides' lines, the actions, push history and audit.

Action buttons are built from the `ActionSpec`s the services return, so the panel never decides what can be
pushed. Pushes run on the network lane, resolutions on the DB lane; both are marked as data-changing so every
view refreshes afterwards. Keyboard triage (`TRIAGE_KEYS`) names each kind of action; the main window turns the
table into shortcuts and the Item menu, and `trigger` runs the item's action of that kind (Enter: the one the
services suggest). The result's message stays on the message line until the next action, whichever item is shown.
Must not: call the services on the GUI thread or compute differences itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.status import ItemStatus, Resolution, Role
from app.services.api import (
    Action,
    ActionResult,
    AuditEntry,
    ChangeSet,
    DriftRow,
    ItemDetail,
    ItemRow,
    Match,
    MatchCandidate,
    PlannedWrite,
    PushField,
    PushRecord,
    PushRow,
    Recondesk,
    Reopen,
    Resolve,
    RetryPush,
    Revert,
    Roles,
    Unmatch,
)
from app.ui import style
from app.ui.dialogs.match_dialog import MatchDialog
from app.ui.dialogs.note_dialog import NoteDialog
from app.ui.dialogs.preview_dialog import PreviewDialog
from app.ui.models.diff_model import DiffModel
from app.ui.models.record_table_model import RIGHT, Column, RecordTableModel
from app.ui.tasks import TaskContext, TaskRunner

Line = tuple[str, str, str]

LINE_COLUMNS: tuple[Column[Line], ...] = (
    Column("Description", lambda r: r[0]),
    Column("Net", lambda r: style.money_text(r[1]), RIGHT),
    Column("Tax", lambda r: style.money_text(r[2]), RIGHT),
)


def drift_columns(source: str, ledger: str) -> tuple[Column[DriftRow], ...]:
    """The three-way view of a reopened item: agreed at sign-off, each side now, and which side moved."""

    def moved(r: DriftRow) -> str:
        return " and ".join(source if role is Role.SOURCE else ledger for role in r.moved)

    def red(role: Role) -> Callable[[DriftRow], str | None]:
        return lambda r: "#8a1c1c" if role in r.moved else None

    return (
        Column("Field", lambda r: r.label),
        Column("At sign-off", lambda r: r.agreed),
        Column(
            f"{source} now", lambda r: r.source_now, foreground=lambda r: "#8a1c1c" if Role.SOURCE in r.moved else None
        ),
        Column(
            f"{ledger} now", lambda r: r.ledger_now, foreground=lambda r: "#8a1c1c" if Role.LEDGER in r.moved else None
        ),
        Column("Moved", moved),
    )


PUSH_COLUMNS: tuple[Column[PushRow], ...] = (
    Column("When", lambda p: style.local_time(p.updated_at)),
    Column("Action", lambda p: p.action),
    Column("To", lambda p: p.target.label),
    Column("State", lambda p: style.PUSH_LABEL[p.state], foreground=lambda p: style.PUSH_COLOUR.get(p.state)),
    Column("Attempts", lambda p: str(p.attempts), RIGHT),
    Column("Last error", lambda p: p.last_error),
)

AUDIT_COLUMNS: tuple[Column[AuditEntry], ...] = (
    Column("When", lambda a: style.local_time(a.at)),
    Column("Who", lambda a: a.who),
    Column("Action", lambda a: a.action),
    Column("Note", lambda a: a.note),
)


@dataclass(frozen=True)
class TriageKey:
    """One kind of item action and its keys: `name` for `ItemDetailView.trigger`, menu text, key sequences."""

    name: str
    text: str
    keys: tuple[str, ...]


TRIAGE_KEYS: tuple[TriageKey, ...] = (
    TriageKey("suggested", "Take the &suggested action…", ("Return", "Enter")),
    TriageKey("push", "&Push (preview first)…", ("P",)),
    TriageKey("override", "&Override and push…", ("Shift+P",)),
    TriageKey("accept_source", "Accept the &source", ("A",)),
    TriageKey("accept_ledger", "Accept the &ledger", ("Shift+A",)),
    TriageKey("ignore", "&Ignore with a note…", ("I",)),
    TriageKey("match", "&Match with…", ("M",)),
    TriageKey("unmatch", "&Unmatch…", ("U",)),
    TriageKey("reopen", "Re&open…", ("O",)),
    TriageKey("revert", "&Revert a push…", ("R",)),
    TriageKey("retry", "Re&try a push", ("T",)),
)
"""Single letters, so they are inert while a text field has focus (it takes printable keys first); J and K move."""
KEY_OF = {k.name: k.keys[0] for k in TRIAGE_KEYS}

_RESOLUTION_KEY = {
    Resolution.ACCEPT_SOURCE: "accept_source",
    Resolution.ACCEPT_LEDGER: "accept_ledger",
    Resolution.IGNORE: "ignore",
}


def triage_name(action: Action) -> str:
    """The `TRIAGE_KEYS` name of an offered action (a held-back push is "override", decided by the caller)."""
    if isinstance(action, PushField | PushRecord):
        return "push"
    if isinstance(action, Resolve):
        return _RESOLUTION_KEY[action.resolution]
    if isinstance(action, RetryPush):
        return "retry"
    return action_name(action).split(":")[0]  # match, unmatch, reopen, revert


def with_key(text: str, name: str) -> str:
    """A tooltip naming the action's key: "Accept accessplanit (A)"."""
    key = "Enter" if name == "suggested" else KEY_OF[name]
    return f"{text} ({key})"


# Resolving makes sense while a person still has something to decide.
_RESOLVABLE = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER, ItemStatus.INVALID})


def action_name(action: Action) -> str:
    """A stable object name for an action's button (tests and accessibility tools find buttons by it)."""
    if isinstance(action, PushField):
        return f"push_field:{action.field}:{action.to.value}"
    if isinstance(action, PushRecord):
        return f"push_record:{action.to.value}"
    if isinstance(action, RetryPush):
        return f"retry:{action.push_id}"
    if isinstance(action, Reopen):
        return "reopen"
    if isinstance(action, Unmatch):
        return "unmatch"
    if isinstance(action, Match):
        return "match"
    if isinstance(action, Revert):
        return f"revert:{action.push_id}"
    return f"resolve:{action.resolution.value}"


"""Action ids the services use for resolutions; shown as the fixed Accept/Ignore buttons, not as extra ones."""

NoteProvider = Callable[[QWidget, str], "str | None"]
ReasonProvider = Callable[[QWidget, str, str], "str | None"]
"""(parent, item key, verb: "Reopen" / "Unmatch") -> the note, or None when cancelled."""
MatchProvider = Callable[[QWidget, ItemRow, Sequence[MatchCandidate]], "tuple[int, str] | None"]
"""(parent, the item, its candidates) -> (the other item's id, the note), or None when cancelled."""
PreviewProvider = Callable[[QWidget, PlannedWrite, "PushRecord | PushField"], "PushRecord | PushField | None"]
"""Shows a push's preview and returns the action to send (with the person's choices), or None to cancel."""


def ask_revert_note(parent: QWidget, label: str) -> str | None:
    """Why a push is undone (kept in the audit log); None when cancelled."""
    text, ok = QInputDialog.getText(parent, "Revert", f"{label}\n\nWhy is it undone? (kept in the audit log)")
    return text.strip() if ok else None


def ask_override_note(parent: QWidget, item_key: str) -> str | None:
    """The note a person gives to push a flagged item anyway (None: cancelled); the dialog defaults to Cancel."""
    dialog = NoteDialog(item_key, parent)
    dialog.setWindowTitle(f"Override: {item_key}")
    label = dialog.findChild(QLabel)
    if label is not None:
        label.setText(
            f"<b>{_esc(item_key)}</b> may be a duplicate. Why should it be pushed anyway? "
            "The note is kept in the audit log."
        )
    dialog.ok_button.setText("&Override and push")
    dialog.ok_button.setDefault(False)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
    ok = dialog.exec() == QDialog.DialogCode.Accepted
    return dialog.note() if ok and dialog.note() else None


def _table(model: object, parent: QWidget, name: str, stretch: int | None = None) -> QTableView:
    view = QTableView(parent)
    view.setObjectName(name)
    view.setModel(model)  # type: ignore[arg-type]
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setStretchLastSection(True)
    view.setAlternatingRowColors(True)
    if stretch is not None:
        header = view.horizontalHeader()
        header.setStretchLastSection(False)

        def apply() -> None:
            # A model reset forgets per-section resize modes, so they are set again after each one.
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)

        apply()
        model.modelReset.connect(apply)  # type: ignore[attr-defined]
    return view


class ItemDetailView(QWidget):
    """Shows one item (`set_item`) and runs its actions."""

    sig_detail_loaded = Signal(object)
    """The selected item's detail is on screen: (ItemDetail)."""
    sig_item_changed = Signal(object)
    """An action returned the item as it is now: (ItemRow)."""
    sig_action_finished = Signal(bool, str)
    """An action (push or resolution) ended: (ok, message for people)."""
    sig_item_done = Signal(int, int)
    """An action succeeded (before `sig_action_finished`): (the id it was taken on, the item's id now)."""
    sig_actions_changed = Signal()
    """What `can` answers may have changed (another item, busy or not): menus update their enabled state."""

    def __init__(
        self,
        workspace: Recondesk,
        runner: TaskRunner,
        parent: QWidget | None = None,
        *,
        note_provider: NoteProvider | None = None,
        preview_provider: PreviewProvider | None = None,
    ) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self.note_provider: NoteProvider = note_provider or NoteDialog.ask
        """Asks for the note when Ignore… is pressed; replaceable (tests, scripted use)."""
        self.reason_provider: ReasonProvider = NoteDialog.ask
        """Asks why a decision is undone (Reopen, Unmatch); replaceable."""
        self.match_provider: MatchProvider = MatchDialog.ask
        """Asks which item to match with, and why; replaceable."""
        self.preview_provider: PreviewProvider = preview_provider or PreviewDialog.ask
        """Shows every push's preview before it is sent; replaceable (tests, scripted use)."""
        self.revert_note_provider: NoteProvider = ask_revert_note
        """Asks why a push is reverted; replaceable (tests, scripted use)."""
        self.override_note_provider: NoteProvider = ask_override_note
        """Asks for the note of "Override and push…" on a flagged item; replaceable like `note_provider`."""
        self._item_id: int | None = None
        self._detail: ItemDetail | None = None
        self._generation = 0
        self._busy = False
        self.read_only = False  # a viewer on a team database: nothing is offered (the services refuse it anyway)
        self._acting: tuple[int, str] | None = None  # (id, key) of the item the running action was taken on
        self.focus_after: QWidget | None = None
        """The widget the action buttons follow in the Tab order (the item list), set by the window."""
        self._names = ("the source", "the ledger")  # the systems' names, once `set_roles` gives them

        self.title = QLabel(self._placeholder(), self)
        self.title.setObjectName("detailTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.duplicate_label = QLabel("", self)
        self.duplicate_label.setObjectName("duplicateOf")
        self.duplicate_label.setWordWrap(True)
        self.duplicate_label.setTextFormat(Qt.TextFormat.RichText)
        self.duplicate_label.setVisible(False)
        self.message = QLabel("", self)
        self.message.setObjectName("detailMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.drift_label = QLabel("", self)
        self.drift_label.setObjectName("driftNote")
        self.drift_label.setWordWrap(True)
        self.drift_label.setVisible(False)
        self.drift_model: RecordTableModel[DriftRow] = RecordTableModel(drift_columns(*self._names), self)
        self.drift_table = _table(self.drift_model, self, "driftTable")
        self.drift_table.setVisible(False)

        self.diff_model = DiffModel(self)
        self.diff_table = _table(self.diff_model, self, "diffTable")
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diff_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.actions_box = QWidget(self)
        self.actions_layout = QHBoxLayout(self.actions_box)
        self.actions_layout.setContentsMargins(0, 0, 0, 0)
        self.action_buttons: dict[Action, QPushButton] = {}
        self.accept_source_button = QPushButton("Accept &source", self)
        self.accept_ledger_button = QPushButton("Accept &ledger", self)
        self.ignore_button = QPushButton("&Ignore…", self)
        self.ignore_button.setToolTip(with_key("Resolve without changing either side; a note is required", "ignore"))
        self.accept_source_button.clicked.connect(lambda: self.resolve(Resolution.ACCEPT_SOURCE))
        self.accept_ledger_button.clicked.connect(lambda: self.resolve(Resolution.ACCEPT_LEDGER))
        self.ignore_button.clicked.connect(self._ignore_clicked)
        resolve_row = QHBoxLayout()
        resolve_row.addWidget(self.accept_source_button)
        resolve_row.addWidget(self.accept_ledger_button)
        resolve_row.addWidget(self.ignore_button)
        resolve_row.addStretch(1)

        self.lines_source_model: RecordTableModel[Line] = RecordTableModel(LINE_COLUMNS, self)
        self.lines_ledger_model: RecordTableModel[Line] = RecordTableModel(LINE_COLUMNS, self)
        self.push_model: RecordTableModel[PushRow] = RecordTableModel(PUSH_COLUMNS, self)
        self.audit_model: RecordTableModel[AuditEntry] = RecordTableModel(AUDIT_COLUMNS, self)
        lines = QWidget(self)
        lines_layout = QHBoxLayout(lines)
        lines_layout.setContentsMargins(0, 0, 0, 0)
        self.lines_captions: list[QLabel] = []
        for model, name in ((self.lines_source_model, "linesSource"), (self.lines_ledger_model, "linesLedger")):
            box = QVBoxLayout()
            caption = QLabel("", lines)
            self.lines_captions.append(caption)
            box.addWidget(caption)
            table = _table(model, lines, name, stretch=0)
            box.addWidget(table)
            lines_layout.addLayout(box)
        self.raw_source = QPlainTextEdit(self)
        self.raw_ledger = QPlainTextEdit(self)
        raw = QSplitter(Qt.Orientation.Horizontal, self)
        for edit in (self.raw_source, self.raw_ledger):
            edit.setReadOnly(True)
            edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            raw.addWidget(edit)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(lines, "&Lines")
        self.tabs.addTab(_table(self.push_model, self, "pushTable"), "&Push history")
        self.tabs.addTab(_table(self.audit_model, self, "itemAuditTable"), "A&udit")
        self.tabs.addTab(raw, "&Raw records")

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        top = QWidget(splitter)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.title)
        top_layout.addWidget(self.duplicate_label)
        top_layout.addWidget(self.drift_label)
        top_layout.addWidget(self.drift_table)
        top_layout.addWidget(self.diff_table, 1)
        top_layout.addWidget(self.actions_box)
        top_layout.addLayout(resolve_row)
        top_layout.addWidget(self.message)
        splitter.addWidget(top)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._update_buttons()

    # -- loading ----------------------------------------------------------------------------------------------
    def set_roles(self, roles: Roles) -> None:
        """Name the systems playing each role (from the services) wherever the panel speaks of a side."""
        source, ledger = self._names = (roles.source.label, roles.ledger.label)
        self.diff_model.set_roles(roles)
        self.drift_model = RecordTableModel(drift_columns(source, ledger), self)
        self.drift_table.setModel(self.drift_model)
        self.accept_source_button.setText(f"Accept &{source}")
        self.accept_source_button.setToolTip(with_key(f"Resolve: {source} is right; nothing is sent", "accept_source"))
        self.accept_ledger_button.setText(f"Accept &{ledger}")
        self.accept_ledger_button.setToolTip(with_key(f"Resolve: {ledger} is right; nothing is sent", "accept_ledger"))
        for caption, name in zip(self.lines_captions, self._names, strict=True):
            caption.setText(f"<b>{_esc(name)}</b>")
        if self._detail is None:
            self.title.setText(self._placeholder())

    def _placeholder(self) -> str:
        return f"Select an item to see how {self._names[0]} and {self._names[1]} compare."

    @property
    def item_id(self) -> int | None:
        return self._item_id

    @property
    def detail(self) -> ItemDetail | None:
        return self._detail

    def set_item(self, item_id: int | None) -> None:
        """Show `item_id` (None clears the panel). The detail is read on the DB lane. The message line keeps the
        last action's result (it names its item), so moving on to the next item does not hide it."""
        self._item_id = item_id
        self._generation += 1
        if item_id is None:
            self._show(None)
            return
        generation = self._generation

        def fetch(_ctx: TaskContext) -> ItemDetail:
            return self._ws.item_detail(item_id)

        self._runner.db(
            "load item detail",
            fetch,
            on_result=lambda d: self._loaded(generation, d),
            on_error=lambda msg, _exc: self._load_failed(generation, msg),
        )

    def reload(self) -> None:
        """Data changed: read the shown item again."""
        self.set_item(self._item_id)

    def _loaded(self, generation: int, detail: ItemDetail) -> None:
        if generation == self._generation:
            self._show(detail)
            self.sig_detail_loaded.emit(detail)

    def _load_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._show(None)
            self.message.setText(message)

    def _show(self, detail: ItemDetail | None) -> None:
        self._detail = detail
        if detail is None:
            self.title.setText(self._placeholder())
            self.diff_model.set_diffs(())
            for m in (self.lines_source_model, self.lines_ledger_model):
                m.set_rows(())
            self.push_model.set_rows(())
            self.audit_model.set_rows(())
            self.raw_source.setPlainText("")
            self.raw_ledger.setPlainText("")
        else:
            row = detail.row
            look = style.STATUS_LOOK[row.status]
            badge = (
                f'<span style="background:{look.background}; color:{look.foreground};">&nbsp;{look.marker} '
                f"{look.label}&nbsp;</span>"
            )
            kind = "Invoice" if row.kind.value == "invoice" else "Payment"
            amount = f"{row.currency} {style.money_text(row.amount)}" if row.amount else ""
            extra = ""
            if detail.error:
                extra = f"<br><span style='color:#8a1c1c'>Could not be read: {_esc(detail.error)}</span>"
            elif row.note:
                extra = f"<br>Note: {_esc(row.note)}"
            if "blocked" in row.flags and row.reason:
                extra += f"<br><span style='color:#8a1c1c'>Blocked: {_esc(row.reason)}</span>"
            shown = row.reason and "blocked" not in row.flags  # a blocked item's reason is said below
            why = f"<br><span style='color:#444'>{_esc(row.reason)}</span>" if shown else ""  # why this status
            self.title.setText(
                f"<b>{kind} {_esc(row.key)}</b> &nbsp; {_esc(row.contact)} &nbsp; {amount} &nbsp; {badge}{why}{extra}"
            )
            self.diff_model.set_diffs(detail.diffs)
            self.lines_source_model.set_rows(detail.lines_source)
            self.lines_ledger_model.set_rows(detail.lines_ledger)
            self.push_model.set_rows(detail.pushes)
            self.audit_model.set_rows(detail.audit)
            self.raw_source.setPlainText(detail.raw_source or f"(not in {self._names[0]})")
            self.raw_ledger.setPlainText(detail.raw_ledger or f"(not in {self._names[1]})")
        self._show_twin(detail)
        self._show_drift(detail)
        self._rebuild_actions()
        self._update_buttons()

    def _show_twin(self, detail: ItemDetail | None) -> None:
        """A `possible_duplicate`: "Possible duplicate of <twin>" with the twin's values, beside the item's own.
        The same label carries the item's notes (combined payment, credit note, currency rate) when it has some."""
        notes = "<br>".join(_esc(n) for n in detail.notes) if detail is not None else ""
        if detail is None or not detail.twin_label:
            self.duplicate_label.setText(notes)
            self.duplicate_label.setVisible(bool(notes))
            return
        values = " &nbsp;·&nbsp; ".join(f"{_esc(label)} <b>{_esc(value)}</b>" for label, value in detail.twin_values)
        self.duplicate_label.setText(
            f"<span style='color:#8a4b00'>⚑ Possible duplicate of {_esc(detail.twin_label)}</span>"
            f"{': ' + values if values else ''}<br>Not offered for push: check the twin, or override with a note."
            + (f"<br>{notes}" if notes else "")
        )
        self.duplicate_label.setVisible(True)

    def _show_drift(self, detail: ItemDetail | None) -> None:
        """A `reopened` item of a signed-off period: what moved since the sign-off, three ways."""
        rows = detail.drift if detail is not None else ()
        shown = detail is not None and bool(detail.drift_note)
        self.drift_label.setText(f"⟲ Reopened: {detail.drift_note}" if detail is not None and shown else "")
        self.drift_model.set_rows(rows)
        self.drift_label.setVisible(shown)
        self.drift_table.setVisible(bool(rows))

    def _rebuild_actions(self) -> None:
        for button in self.action_buttons.values():
            self.actions_layout.removeWidget(button)
            button.deleteLater()
        self.action_buttons = {}
        while self.actions_layout.count():
            self.actions_layout.takeAt(0)
        if self._detail is None:
            return
        for spec in self._detail.actions:
            if isinstance(spec.action, Resolve):
                continue  # resolutions have their own fixed buttons below the diff
            button = QPushButton(spec.label, self.actions_box)
            button.setObjectName(f"action:{action_name(spec.action)}")
            button.setToolTip(with_key(spec.label, triage_name(spec.action)))
            if spec.suggested:
                button.setToolTip(f"{button.toolTip()}; suggested: Enter in the list previews it")
                font = button.font()
                font.setBold(True)
                button.setFont(font)
            button.clicked.connect(lambda _checked=False, action=spec.action: self.act(action))
            self.actions_layout.addWidget(button)
            self.action_buttons[spec.action] = button
        for spec in self._detail.held_back:  # pushes a flag holds back: only with a note
            button = QPushButton("Override and push…", self.actions_box)
            button.setObjectName(f"override:{action_name(spec.action)}")
            button.setToolTip(
                with_key(f"{spec.label}, although it may be a duplicate (a note is required)", "override")
            )
            button.clicked.connect(lambda _checked=False, action=spec.action: self._override_clicked(action))
            self.actions_layout.addWidget(button)
            self.action_buttons[spec.action] = button
        self.actions_layout.addStretch(1)
        previous = self.focus_after
        for button in self.action_buttons.values():  # Tab: list -> these buttons -> Accept/Ignore (new widgets)
            if previous is not None:
                QWidget.setTabOrder(previous, button)
            previous = button

    def _override_clicked(self, action: Action) -> None:
        if self._detail is None or not isinstance(action, (PushRecord, PushField)):
            return
        note = self.override_note_provider(self, self._detail.row.key)
        if note and note.strip():
            self.act(replace(action, override_note=note.strip()))

    def _allowed_resolutions(self) -> set[Resolution]:
        """The resolutions the services offer for the item (as `Resolve` actions); when they offer none that way,
        every resolution for an item that still needs a decision."""
        detail = self._detail
        if detail is None or self.read_only:
            return set()
        offered = {a.action.resolution for a in detail.actions if isinstance(a.action, Resolve)}
        if offered:
            return offered
        return set(Resolution) if detail.row.status in _RESOLVABLE else set()

    def _update_buttons(self) -> None:
        detail = self._detail
        allowed = self._allowed_resolutions() if not self._busy else set()
        self.accept_source_button.setEnabled(Resolution.ACCEPT_SOURCE in allowed)
        self.accept_ledger_button.setEnabled(Resolution.ACCEPT_LEDGER in allowed)
        self.ignore_button.setEnabled(Resolution.IGNORE in allowed)
        for b in self.action_buttons.values():
            b.setEnabled(detail is not None and not self._busy)
        self.sig_actions_changed.emit()

    # -- keyboard triage --------------------------------------------------------------------------------------
    def _offered(self, name: str) -> Action | None:
        """The shown item's action of the `TRIAGE_KEYS` kind `name` (the suggested one first), or None."""
        detail = self._detail
        if detail is None or self._busy or self.read_only:
            return None
        if name == "override":
            return detail.held_back[0].action if detail.held_back else None
        specs = sorted(detail.actions, key=lambda s: not s.suggested)  # stable: the suggested one, then in order
        if name == "suggested":
            return specs[0].action if specs and specs[0].suggested else None
        found = next((s.action for s in specs if triage_name(s.action) == name), None)
        if found is None and name in _RESOLUTION_KEY.values():  # offered as fixed buttons (see _allowed_resolutions)
            res = next(r for r, n in _RESOLUTION_KEY.items() if n == name)
            allowed = res in self._allowed_resolutions()
            return Resolve(detail.row.item_id, res, expected_version=detail.row.version) if allowed else None
        return found

    def can(self, name: str) -> bool:
        """Whether the shown item offers an action of the `TRIAGE_KEYS` kind `name` now."""
        return self._offered(name) is not None

    def trigger(self, name: str) -> None:
        """Run the shown item's action of kind `name` as its button would (previews, notes and all)."""
        action = self._offered(name)
        if action is None:
            if self._detail is not None and not self._busy:
                what = "suggested action" if name == "suggested" else f"“{name.replace('_', ' ')}” action"
                self.message.setText(
                    f"{_esc(self._detail.row.key)}: no {what} here. Use the buttons above or see Help → Keyboard "
                    "shortcuts (F1)."
                )
            return
        if name == "override":
            self._override_clicked(action)
        elif isinstance(action, Resolve):
            if action.resolution is Resolution.IGNORE:
                self._ignore_clicked()
            else:
                self.resolve(action.resolution)
        else:
            self.act(action)

    # -- actions ----------------------------------------------------------------------------------------------
    def act(self, action: Action) -> None:
        """Run one of the item's actions on the network lane: a push is previewed first (nothing is sent unless the
        person confirms it in the preview), a revert asks why; retries run as they are. A decision (reopen, unmatch,
        match) asks for its note (and the other item) first and runs on the DB lane."""
        if self._item_id is None or self._busy:
            return
        if isinstance(action, Reopen | Unmatch | Match):
            self._decide(action)
            return
        offered = (*self._detail.actions, *self._detail.held_back) if self._detail else ()
        label = next((a.label for a in offered if a.action == action), action_name(action))
        if isinstance(action, PushRecord | PushField):
            self._preview(action, label)
            return
        if isinstance(action, Revert) and not action.note:
            note = self.revert_note_provider(self, label)
            if note is None:
                return
            action = Revert(action.push_id, note)
        self._send(action, label)

    def _preview(self, action: PushRecord | PushField, label: str) -> None:
        self._set_busy(True, f"Checking: {label}…")

        def work(_ctx: TaskContext) -> PlannedWrite:
            return self._ws.preview(action)

        self._runner.network(
            f"preview {action_name(action)}",
            work,
            on_result=lambda plan: self._previewed(plan, action, label),
            on_error=self._action_failed,
        )

    def _previewed(self, plan: PlannedWrite, action: PushRecord | PushField, label: str) -> None:
        self._set_busy(False, "")
        chosen = self.preview_provider(self, plan, action)
        if chosen is None:
            self.message.setText("Nothing was sent.")
            self.sig_action_finished.emit(False, "Cancelled: nothing was sent.")
            return
        self._send(chosen, label)

    def _send(self, action: Action, label: str) -> None:
        self._set_busy(True, f"{label}…")

        def work(_ctx: TaskContext) -> ActionResult:
            return self._ws.act(action)

        self._runner.network(
            f"action {action_name(action)}",
            work,
            changes=_changes_of,
            on_result=self._action_done,
            on_error=self._action_failed,
        )

    def resolve(self, resolution: Resolution, note: str = "") -> None:
        """Resolve the shown item (accept a side, or ignore with a note) on the DB lane."""
        item_id = self._item_id
        if item_id is None or self._busy:
            return
        if resolution == Resolution.IGNORE and not note.strip():
            self.message.setText("Ignoring needs a note saying why.")
            return
        self._set_busy(True, "Resolving…")
        shown = self._detail.row if self._detail is not None and self._detail.row.item_id == item_id else None
        action = Resolve(item_id, resolution, note.strip(), expected_version=shown.version if shown else None)

        def work(_ctx: TaskContext) -> ActionResult:
            return self._ws.act(action)

        self._runner.db(
            f"resolve {resolution.value}",
            work,
            changes=_changes_of,
            on_result=self._action_done,
            on_error=self._action_failed,
        )

    def _decide(self, action: Reopen | Unmatch | Match) -> None:
        detail = self._detail
        if detail is None:
            return
        if isinstance(action, Match) and not action.other_item_id:
            row, asked = detail.row, action

            def fetch(_ctx: TaskContext) -> list[MatchCandidate]:
                return list(self._ws.match_candidates(row.item_id))

            def chosen(candidates: list[MatchCandidate]) -> None:
                picked = self.match_provider(self, row, candidates)
                if picked is None:
                    self.message.setText("Nothing was matched.")
                    self.sig_action_finished.emit(False, "Cancelled: nothing was matched.")
                    return
                other = next((c.row.version for c in candidates if c.item_id == picked[0]), None)
                self._decide(replace(asked, other_item_id=picked[0], note=picked[1], other_version=other))

            self._runner.db("match candidates", fetch, on_result=chosen, on_error=self._action_failed)
            return
        if isinstance(action, Reopen | Unmatch) and not action.note:
            verb = "Reopen" if isinstance(action, Reopen) else "Unmatch"
            note = self.reason_provider(self, detail.row.key, verb)
            if not note:
                return
            action = replace(action, note=note)
        self._set_busy(True, "Saving the decision…")
        decision = action

        def work(_ctx: TaskContext) -> ActionResult:
            return self._ws.act(decision)

        self._runner.db(
            f"decision {action_name(action)}",
            work,
            changes=_changes_of,
            on_result=self._action_done,
            on_error=self._action_failed,
        )

    def _ignore_clicked(self) -> None:
        if self._detail is None:
            return
        note = self.note_provider(self, self._detail.row.key)
        if note:
            self.resolve(Resolution.IGNORE, note)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        if busy and self._detail is not None:
            self._acting = (self._detail.row.item_id, self._detail.row.key)
        self._busy = busy
        if text:
            self.message.setText(text)
        self._update_buttons()

    def _action_done(self, result: ActionResult) -> None:
        self._set_busy(False)
        acted = self._acting
        colour = "#1d5e2a" if result.ok else "#8a1c1c"
        text = result.message if result.ok else f"{result.message} {_what_to_do(result)}"
        self.message.setText(f"<span style='color:{colour}'>{_esc(_about(acted, text))}</span>")
        if result.item is not None:
            # The item may now be another one (a pushed payment pairs up under a new key): show that one.
            self._item_id = result.item.item_id
            self.sig_item_changed.emit(result.item)
        if result.ok and acted is not None:
            self.sig_item_done.emit(acted[0], result.item.item_id if result.item is not None else acted[0])
        self.sig_action_finished.emit(result.ok, result.message)
        # The runner's "data changed" signal follows and reloads this panel.

    def _action_failed(self, message: str, _exc: BaseException) -> None:
        self._set_busy(False)
        text = f"{message} Try again; if it keeps failing, check Edit → Connections… and the Sync runs tab."
        self.message.setText(f"<span style='color:#8a1c1c'>{_esc(_about(self._acting, text))}</span>")
        self.sig_action_finished.emit(False, message)


def _about(acted: tuple[int, str] | None, text: str) -> str:
    """The message line names the item it speaks of: it stays while the next item is shown."""
    return f"{acted[1]}: {text}" if acted is not None and not text.startswith(acted[1]) else text


def _what_to_do(result: ActionResult) -> str:
    """What a person can do after a refused or failed action (the services' message says what happened)."""
    if result.refused:
        return "Nothing was sent. Fix it in the system named, sync (Ctrl+R), then try again, or decide another way."
    if result.changes.items:
        return "The push is kept: Sync → Retry failed pushes (Ctrl+Shift+P) sends it again without posting twice."
    return "Nothing was changed; choose another action (Help → Keyboard shortcuts lists them)."


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _changes_of(result: ActionResult) -> ChangeSet:
    return result.changes
