"""Use case: who acts on this database, and what their role lets them do (team mode).

Every process has an identity: a `login` (the `team_login` setting, else the OS login) found in the database's
`people` table with a display name and a role. Roles, least to most:

| role | may |
|---|---|
| `viewer` | read everything; change nothing (its own first registration and connection health checks aside) |
| `preparer` | also act: decisions, pushes, syncs, connections, the firm's settings |
| `reviewer` | also sign periods off and manage people (`add_person`, `set_role`) |

Enforcement is in the database's write transactions, not only in the GUI: `Team.guard` is installed as the
`Database.write_guard`, so before the first INSERT/UPDATE/DELETE of any write transaction it reads the person's
role in that same transaction and raises `RoleRefused` when the role needed (`needs(...)`, default preparer) is more
than they have. A fresh database's first person becomes a reviewer, and so does anyone who opens a SQLite cache (a
file only its owner can open), so nothing changes for a solo user; a newcomer to a shared PostgreSQL database joins
as a viewer until a reviewer gives them a role.

Must not: import Qt, talk to the network, or keep a role in memory longer than one check (a role changed by a
reviewer holds at the next write).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from app.domain.errors import RecondeskError, StorageError
from app.services.api import Person
from app.settings import META, SETTINGS, SettingError, Settings, from_dict, to_dict
from app.storage import audit as audit_repo
from app.storage import people as people_repo
from app.storage.db import Database, Tx

ROLES = people_repo.ROLES
RANK = {role: i for i, role in enumerate(ROLES)}
AUDIT_KIND = "person"
"""The audit log's item kind for a change to the people list (item key: the login)."""

_needed: ContextVar[str] = ContextVar("recondesk_role_needed", default="preparer")


class RoleRefused(RecondeskError):
    """The person's role does not allow the change (the command line exits 3: refused by a rule)."""


@contextlib.contextmanager
def needs(role: str) -> Iterator[None]:
    """Writes in this block (this thread) need `role` ("viewer": anyone may write, e.g. a health check)."""
    token = _needed.set(role)
    try:
        yield
    finally:
        _needed.reset(token)


def exempt() -> contextlib.AbstractContextManager[None]:
    """Writes anyone may make: one's own registration, health checks, one's personal settings' audit rows."""
    return needs("viewer")


def refusal(login: str, role: str, active: bool, needed: str) -> str:
    """One sentence for people: why the change is refused and whom to ask."""
    if not active:
        return "You are no longer active on this team database; ask a reviewer to reactivate you."
    article = "an" if needed[0] in "aeiou" else "a"
    return (
        f"You are {'an' if role[0] in 'aeiou' else 'a'} {role} on this team database; ask a reviewer to make you "
        f"{article} {needed} (recondesk people set-role {login} {needed})."
    )


class Team:
    """The people of one database, seen as `login`."""

    login: str

    def __init__(self, db: Database, login: str, name: str) -> None:
        owner = getattr(db.write_guard, "__self__", None)
        if isinstance(owner, Team) and owner.login != login:
            # The guard belongs to the database object: one person per process, as on a real team database.
            raise ValueError(f"this database is open as {owner.login!r} already; open it again to act as {login!r}")
        self.db = db
        self.login = login
        self._name = name
        self.me = self._join()
        db.write_guard = self.guard

    def _join(self) -> Person:
        """Find this login on the people list, adding it when missing (see the module docstring for the role)."""
        with self.db.transaction(readonly=True) as tx:
            found = people_repo.get_person(tx, self.login)
        if found is not None:
            return Person(found.login, found.name, found.role, found.active)
        try:
            with exempt(), self.db.transaction() as tx:
                found = people_repo.get_person(tx, self.login)  # another process may have added it meanwhile
                if found is None:
                    first = people_repo.count_people(tx) == 0
                    role = "reviewer" if first or self.db.is_sqlite else "viewer"
                    found = people_repo.add_person(tx, self.login, self._name, role, self.login)
                    if not first and not self.db.is_sqlite:  # a newcomer on a shared database
                        audit_repo.append_audit(
                            tx, self.login, "person_join", AUDIT_KIND, self.login, {}, _shown(found), ""
                        )
        except StorageError:
            # A database role that may only read (the firm's GRANT for viewers) cannot register itself: a viewer.
            return Person(self.login, self._name, "viewer", True)
        return Person(found.login, found.name, found.role, found.active)

    # -- the checks --

    def guard(self, tx: Tx) -> None:
        """`Database.write_guard`: refuse the write transaction when this person's role is below what it needs."""
        needed = _needed.get()
        if needed == "viewer":
            return
        found = people_repo.get_person(tx, self.login)
        role, active = (found.role, found.active) if found is not None else ("viewer", True)
        if not active or RANK.get(role, 0) < RANK[needed]:
            raise RoleRefused(refusal(self.login, role, active, needed))

    def current(self) -> Person:
        """This person as the database says now."""
        with self.db.transaction(readonly=True) as tx:
            found = people_repo.get_person(tx, self.login)
        if found is None:
            return dataclasses.replace(self.me, role="viewer")
        self.me = Person(found.login, found.name, found.role, found.active)
        return self.me

    def check(self, needed: str) -> str:
        """ "" when this person may make changes that need `needed`, else why not (a read; the guard re-checks)."""
        me = self.current()
        if me.active and RANK.get(me.role, 0) >= RANK[needed]:
            return ""
        return refusal(self.login, me.role, me.active, needed)

    # -- the people list --

    def people(self) -> list[Person]:
        with self.db.transaction(readonly=True) as tx:
            return [Person(p.login, p.name, p.role, p.active) for p in people_repo.list_people(tx)]

    def add_person(self, login: str, name: str, role: str) -> Person:
        """Add someone (reviewers only); raises `ValueError` for a bad login, name or role, `RoleRefused`."""
        login, name = login.strip(), " ".join(name.split())
        if not login or not name:
            raise ValueError("a login and a name are needed")
        if role not in ROLES:
            raise ValueError(f"the role must be one of {', '.join(ROLES)}")
        with needs("reviewer"), self.db.transaction() as tx:
            self.guard(tx)
            if people_repo.get_person(tx, login) is not None:
                raise ValueError(f"{login} is on the list already (use set-role to change their role)")
            added = people_repo.add_person(tx, login, name, role, self.login)
            audit_repo.append_audit(tx, self.login, "person_add", AUDIT_KIND, login, {}, _shown(added), "")
        return Person(added.login, added.name, added.role, added.active)

    def set_role(self, login: str, role: str | None = None, *, active: bool | None = None) -> Person:
        """Change someone's role or activity (reviewers only). The last active reviewer keeps that role."""
        if role is not None and role not in ROLES:
            raise ValueError(f"the role must be one of {', '.join(ROLES)}")
        with needs("reviewer"), self.db.transaction() as tx:
            self.guard(tx)
            before = people_repo.get_person(tx, login)
            if before is None:
                raise ValueError(f"there is no {login!r} on the people list (see `recondesk people`)")
            demoted = (role is not None and role != "reviewer") or active is False
            if before.role == "reviewer" and before.active and demoted:
                others = [p for p in people_repo.list_people(tx) if p.role == "reviewer" and p.active]
                if len(others) <= 1:
                    raise ValueError("this is the last reviewer; make someone else a reviewer first")
            after = people_repo.update_person(tx, login, self.login, role=role, active=active)
            assert after is not None
            audit_repo.append_audit(tx, self.login, "person_role", AUDIT_KIND, login, _shown(before), _shown(after), "")
        return Person(after.login, after.name, after.role, after.active)

    def rename_me(self, name: str) -> None:
        """Your own display name on the list (anyone may change their own)."""
        with exempt(), self.db.transaction() as tx:
            people_repo.update_person(tx, self.login, self.login, name=name)
        self.me = dataclasses.replace(self.me, name=name)

    # -- the firm's settings --

    def firm_settings(self, local: Settings) -> Settings:
        """`local` with the firm-scope settings as the database holds them. When it holds none yet, the firm
        settings of `local` are copied into it first (by someone who may), so everyone after matches with them."""
        with self.db.transaction(readonly=True) as tx:
            stored = people_repo.load_firm_settings(tx)
        if not stored:
            own = firm_values(local)
            if not self.check("preparer"):
                with self.db.transaction() as tx:
                    if not people_repo.load_firm_settings(tx):  # nobody else copied theirs meanwhile
                        people_repo.save_firm_settings(tx, own, self.login)
            return local
        return merge_firm(local, stored)

    def store_firm(self, tx: Tx, settings: Settings, names: tuple[str, ...]) -> None:
        """Write the firm-scope ones of `names` (in the caller's transaction, after the guard)."""
        values = {n: v for n, v in firm_values(settings).items() if n in names}
        if values:
            people_repo.save_firm_settings(tx, values, self.login)


def firm_values(settings: Settings) -> dict[str, Any]:
    """The firm-scope settings as JSON-able values (money as text)."""
    data = to_dict(settings)
    return {m.name: data[m.name] for m in SETTINGS if m.scope == "firm"}


def merge_firm(local: Settings, stored: dict[str, Any]) -> Settings:
    """`local` with each firm-scope setting `stored` holds (a value that no longer parses keeps the default)."""
    firm = {n: v for n, v in stored.items() if n in META and META[n].scope == "firm"}
    try:
        parsed = from_dict(firm)
    except SettingError:  # pragma: no cover - from_dict keeps defaults for bad values
        return local
    return dataclasses.replace(local, **{n: getattr(parsed, n) for n in firm})


def _shown(p: people_repo.PersonRecord) -> dict[str, Any]:
    return {"name": p.name, "role": p.role, "active": p.active}
