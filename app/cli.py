"""Composition root for the command line: parses arguments, wires concrete classes, runs a command or the GUI.

Commands and options are fixed by `../shared/docs/product.md` sections 4 and 8. Exit codes: 0 success, 1 the work
failed (sync errors, a failed check), 2 bad usage (one line), 3 refused by a rule or a configuration problem (no
connection, no keyring), 4 the audit log's chain is broken, 130 interrupted.
Must not: hold business logic (that lives in services) or print a secret (secrets are read from stdin only).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import itertools
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from app import __version__
from app.domain.errors import RecondeskError

log = logging.getLogger("recondesk")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3
EXIT_REFUSED, EXIT_AUDIT_BROKEN = 3, 4


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line on standard error and exit 2 (argparse would print the whole usage first)."""

    def error(self, message: str) -> Any:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common(p: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    p.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="SQLAlchemy database URL (default: a SQLite file in the user data directory)",
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        default=default,
        help="keeps connections, settings and cache apart (default: 'default')",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recondesk", description="Reconcile accessplanit with Xero.")
    parser.add_argument("--version", action="version", version=f"recondesk {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the GUI on the built-in sandboxes")
    parser.add_argument("--demo-invoices", type=int, default=400, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", choices=["window", "sync"], default="", help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (never secrets)")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sandbox", help="run both emulated services on 127.0.0.1 until interrupted")
    _common(p, top=False)
    p.add_argument(
        "--seed", type=int, default=1, help="the generator's seed: the same seed, the same month (default 1)"
    )
    p.add_argument("--invoices", type=int, default=200, help="invoices to generate (default 200)")
    p.add_argument(
        "--paid-instalments",
        type=float,
        default=1.0,
        metavar="MEAN",
        help="mean number of payments of an invoice paid in full (1-50; 3.9 gives 1.5 payments per invoice)",
    )
    p.add_argument("--month", metavar="YYYY-MM", default=None, help="the month to generate (default: this month)")
    p.add_argument(
        "--fixtures", metavar="DIR", default=None, help="load records from JSON files in each service's wire format"
    )
    p.add_argument(
        "--faults",
        metavar="SPEC",
        default="",
        help="failures to inject, e.g. 'error503=0.1,burst429=2x,latency=0.05' (docs/sandboxes.md)",
    )
    p.add_argument("--accessplanit-port", type=int, default=0, metavar="PORT", help="default: any free port")
    p.add_argument("--xero-port", type=int, default=0, metavar="PORT", help="default: any free port")
    p.add_argument(
        "--xero-organisation",
        metavar="NAME",
        action="append",
        default=[],
        help="another (empty) Xero organisation the browser sign-in can connect (repeatable)",
    )
    p.add_argument(
        "--expected",
        metavar="FILE",
        default=None,
        help="write the generator's expected item statuses (report JSON 'items' shape)",
    )

    p = sub.add_parser("connect", help="save a connection (the secret goes to the OS keyring only)")
    csub = p.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    a = csub.add_parser("accessplanit", help="accessplanit API v2")
    _common(a, top=False)
    a.add_argument("--url", required=True, help="root URL, e.g. https://acme.accessplanit.com/accessplan")
    a.add_argument("--username", default="")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    g.add_argument("--api-key-stdin", action="store_true", help="read an API key from standard input")
    a.add_argument("--no-check", action="store_true", help="save without testing the connection first")
    x = csub.add_parser("xero", help="Xero (custom connection, or OAuth sign-in)")
    _common(x, top=False)
    x.add_argument("--url", default="https://api.xero.com/api.xro/2.0", help="accounting API URL")
    x.add_argument("--identity-url", default="", help="identity server (default: Xero's)")
    x.add_argument("--client-id", required=True)
    x.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="custom connection (client credentials): read the client secret from standard input",
    )
    x.add_argument("--tenant-id", default="", help="organisation to use when the sign-in reaches several")
    x.add_argument(
        "--no-browser",
        action="store_true",
        help="OAuth: do not open a browser; print the sign-in URL and wait for the redirect",
    )
    x.add_argument("--no-check", action="store_true", help="save without testing the connection first")

    p = sub.add_parser("sync", help="fetch both systems and reconcile")
    _common(p, top=False)
    p.add_argument("--full", action="store_true", help="re-read everything instead of what changed")
    p.add_argument("--json", action="store_true", help="print the sync-run log as JSON")
    p.add_argument(
        "--wait", action="store_true", help="if another sync of this cache is running, wait for it to end, then sync"
    )
    p.add_argument(
        "--wait-timeout",
        type=_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="with --wait: give up (exit 3) after this long (default 3600)",
    )

    p = sub.add_parser("report", help="the reconciliation report")
    _common(p, top=False)
    p.add_argument("--period", metavar="YYYY-MM", default=None, help="one month (default: everything in the cache)")
    p.add_argument("--format", choices=["json", "csv", "xlsx", "pdf"], default="json")
    p.add_argument("-o", "--output", metavar="FILE", default=None, help="write here (default: standard output)")

    p = sub.add_parser("pack", help="write the month-end pack (xlsx, pdf, csv) of a period into a folder")
    _common(p, top=False)
    p.add_argument("--period", metavar="YYYY-MM", required=True, help="the month")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="the folder (made if missing)")
    p.add_argument("--all-items", action="store_true", help="list the matched items in the PDF too")

    p = sub.add_parser("retry", help="retry failed or uncertain pushes")
    _common(p, top=False)

    p = sub.add_parser("push", help="push a record or one field of an item to one side (checked first)")
    _common(p, top=False)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    p.add_argument("--field", metavar="F", default=None, help="push only this field (po_number, due_date)")
    p.add_argument("--to", required=True, choices=["accessplanit", "xero"], help="the system written to")
    p.add_argument("--dry-run", action="store_true", help="print the exact write as JSON and send nothing")
    p.add_argument("--override", action="store_true", help="allow a flagged push (needs --note)")
    p.add_argument("--note", metavar="TEXT", default="", help="why the override is right")
    p.add_argument("--clear", action="store_true", help="allow writing an empty value over a non-empty one")
    p.add_argument("--new-contact", action="store_true", help="allow creating a new contact in the ledger")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")

    p = sub.add_parser("revert", help="undo a pushed field, if the target still holds what was written")
    _common(p, top=False)
    p.add_argument("push_id", type=int, metavar="PUSH_ID")
    p.add_argument("--note", metavar="TEXT", required=True, help="why it is undone")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    _decision_parsers(sub)
    _team_parsers(sub)
    return parser


def _team_parsers(sub: Any) -> None:
    """`people` (list, add, set-role, activate, deactivate) and `team login` (team mode; docs/team.md)."""
    p = sub.add_parser("people", help="the people of this database and their roles (changes: reviewers only)")
    _common(p, top=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    psub = p.add_subparsers(dest="people_command", metavar="add|set-role|activate|deactivate")
    a = psub.add_parser("add", help="add someone: LOGIN --name NAME --role preparer|reviewer|viewer")
    _common(a, top=False)
    a.add_argument("login", metavar="LOGIN", help="their login (their OS user, or their `team_login` setting)")
    a.add_argument("--name", required=True, help="the name the audit log shows")
    a.add_argument("--role", required=True, choices=("viewer", "preparer", "reviewer"))
    r = psub.add_parser("set-role", help="change someone's role: LOGIN ROLE")
    _common(r, top=False)
    r.add_argument("login", metavar="LOGIN")
    r.add_argument("role", choices=("viewer", "preparer", "reviewer"), metavar="ROLE")
    for verb, text in (("activate", "let someone act again"), ("deactivate", "stop someone changing anything")):
        d = psub.add_parser(verb, help=text)
        _common(d, top=False)
        d.add_argument("login", metavar="LOGIN")
    p = sub.add_parser("team", help="the team database: store your password for it in the keyring")
    _common(p, top=False)
    tsub = p.add_subparsers(dest="team_command", metavar="login|logout", required=True)
    t = tsub.add_parser("login", help="check and keep your team database password (--db URL, or the server below)")
    _common(t, top=False)
    t.add_argument("--host", default=None, help="the PostgreSQL server (saved in your settings once it works)")
    t.add_argument("--port", type=int, default=None, help="its port (default 5432)")
    t.add_argument("--database", default=None, help="the firm's database on it")
    t.add_argument("--user", default=None, help="your user on it")
    t.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    t = tsub.add_parser("logout", help="forget the team database (and its password): back to this computer's cache")
    _common(t, top=False)


def _decision_parsers(sub: Any) -> None:
    """`items`, `resolve`, `reopen`, `match`, `candidates`, `unmatch`, `audit verify` (product.md section 8)."""

    def who(p: argparse.ArgumentParser) -> None:
        _common(p, top=False)
        p.add_argument(
            "--who", metavar="NAME", default=None, help="your name in the audit log (default: the saved one)"
        )
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")

    p = sub.add_parser("items", help="list items (id, kind, key, status, flags, fields, reason)")
    _common(p, top=False)
    p.add_argument("--period", metavar="YYYY-MM", default=None, help="one month (default: all)")
    p.add_argument("--status", metavar="S", action="append", default=[], help="only this status (repeatable)")
    p.add_argument("--flag", metavar="F", action="append", default=[], help="only items with this flag (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("resolve", help="resolve an item: accept a side, or ignore it with a note")
    who(p)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--accept", choices=["accessplanit", "xero"], help="this system is right; nothing is sent")
    g.add_argument("--ignore", action="store_true", help="leave the difference as it is (needs --note)")
    p.add_argument("--note", default="", help="why (needed with --ignore)")

    p = sub.add_parser("reopen", help="undo a resolve or a manual match")
    who(p)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    p.add_argument("--note", required=True, help="why the decision is undone")

    p = sub.add_parser("match", help="pair two one-sided items of the same kind by hand")
    who(p)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    p.add_argument("other_item_id", type=int, metavar="OTHER_ITEM_ID")
    p.add_argument("--note", required=True, help="why these two records are the same")

    p = sub.add_parser("candidates", help="the likely counterparts of a one-sided item, best first, with scores")
    _common(p, top=False)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("unmatch", help="undo a manual match")
    who(p)
    p.add_argument("item_id", type=int, metavar="ITEM_ID")
    p.add_argument("--note", default="", help="why (optional)")

    p = sub.add_parser("signoff", help="sign a period off (refused while items are open, unless --with-exceptions)")
    who(p)
    p.add_argument("--period", metavar="YYYY-MM", required=True, help="the month to sign off")
    p.add_argument("--with-exceptions", action="store_true", help="sign off with the open items listed as exceptions")
    p.add_argument("--note", required=True, help="what was checked (kept with the sign-off)")

    p = sub.add_parser("audit", help="the audit log")
    asub = p.add_subparsers(dest="audit_command", metavar="verify", required=True)
    v = asub.add_parser("verify", help="check the audit log's hash chain (exit 4 when broken)")
    _common(v, top=False)
    v.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("settings", help="list the settings, or change one (audited; re-reconciles what it affects)")
    _common(p, top=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    ssub = p.add_subparsers(dest="settings_command", metavar="set")
    s = ssub.add_parser("set", help="change one setting: NAME VALUE (a mapping as KEY=VALUE,KEY=VALUE or JSON)")
    _common(s, top=False)
    s.add_argument("--who", metavar="NAME", default=None, help="your name in the audit log (default: the saved one)")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.add_argument("name", metavar="NAME")
    s.add_argument("value", metavar="VALUE")

    p = sub.add_parser(
        "disconnect", help="revoke what can be revoked, remove the saved secret from the keyring, keep the cache"
    )
    who(p)
    p.add_argument("target", nargs="?", choices=("accessplanit", "xero"), metavar="accessplanit|xero", default=None)
    p.add_argument("--system", choices=("accessplanit", "xero"), default=None, help="the same as the positional")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line, behind a guard: an unexpected error prints one line and the path of a log file with the
    details (exit 1); `-v` prints the traceback as well."""
    from app.process import harden

    harden()  # owner-only files, no core dumps (app/process.py); before anything is created or read
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except Exception as exc:
        return _unexpected(exc, args)


def _main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # each command prints its own outcome: no log line repeats it, no traceback without -v
        logging.getLogger().setLevel(logging.ERROR)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_no_traceback)
    # urllib3's DEBUG lines carry whole URLs, query included: the OAuth redirect's authorization code. Not with -v.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    profile = args.profile or "default"
    try:
        if args.command == "sandbox":
            return _cmd_sandbox(args)
        problem = bad_db_url(args.db)
        if problem:
            print(f"recondesk: --db: {problem}", file=sys.stderr)
            return EXIT_USAGE
        if args.command is None:
            return _cmd_gui(args, profile)
        from app import composition

        if args.command == "connect":
            return _cmd_connect(args, profile)
        if args.command == "team":
            return _cmd_team_login(args, profile)
        ws = composition.build_workspace(
            args.db, profile, composition.system_credentials(), who=getattr(args, "who", None)
        )
        if args.command in _DECISION_COMMANDS:
            return _DECISION_COMMANDS[args.command](ws, args)
        if args.command == "disconnect":
            return _cmd_disconnect(ws, args)
        if args.command == "sync":
            return _cmd_sync(ws, args)
        if args.command == "report":
            return _cmd_report(ws, args)
        if args.command == "pack":
            return _cmd_pack(ws, args)
        if args.command == "push":
            return _cmd_push(ws, args)
        if args.command == "revert":
            return _cmd_revert(ws, args)
        if args.command == "retry":
            results = ws.retry_failed()
            for r in results:
                print(("ok: " if r.ok else "failed: ") + r.message)
            # Refused for good: retrying unchanged gets the same refusal, so they are listed, not retried (and do
            # not make every run fail); a change, or pushing the item again by hand, sends them.
            for push in ws.pusher.refused():
                print(f"needs a change first: push {push.id} ({push.action}) for {push.item_key}: {push.last_error}")
            if not results:
                print("Nothing to retry.")
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
    except RecondeskError as exc:
        print(f"recondesk: {exc.user_text()}", file=sys.stderr)
        from app.domain.errors import ConfigurationError, KeyringUnavailable
        from app.services.team import RoleRefused

        refused = isinstance(exc, ConfigurationError | KeyringUnavailable | RoleRefused)
        return EXIT_CONFIG if refused else EXIT_FAILED
    except KeyboardInterrupt:
        print("recondesk: interrupted; everything committed so far is kept.", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print("recondesk: The disk is full: free some space and try again.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def _cmd_gui(args: argparse.Namespace, profile: str) -> int:
    from app import composition

    if args.demo:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="recondesk-demo-"))
        ws, sandboxes = composition.demo_workspace(directory, invoices=args.demo_invoices)
        print(
            f"Demo: sandboxes at {sandboxes.info['accessplanit']['url']} and {sandboxes.info['xero']['url']}; "
            f"cache {directory / 'demo.sqlite3'}",
            flush=True,
        )
        try:
            from app.ui.app import run_gui

            return run_gui(
                ws,
                title_suffix="demo on sandboxes",
                xero_sign_in=partial(composition.connect_xero_oauth, ws),
                smoke=args.smoke,
                write_details=write_details,
                scrub=scrub,
                verbose=args.verbose,
            )
        finally:
            sandboxes.stop()
    from app.ui.app import run_gui
    from app.ui.main_window import REOPEN

    while True:  # Settings > Team database: the window asks to be opened again on the database now named
        ws = composition.build_workspace(args.db, profile, composition.system_credentials())
        code = run_gui(
            ws,
            xero_sign_in=partial(composition.connect_xero_oauth, ws),
            smoke=args.smoke,
            write_details=write_details,
            scrub=scrub,
            verbose=args.verbose,
        )
        ws.db.dispose()
        if code != REOPEN:
            return code


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from app.sandbox.common import Faults
    from app.sandbox.runner import SandboxOptions, split_faults, start_sandboxes

    problem = ""
    if args.month is not None and not _is_month(args.month):
        problem = f"--month: {args.month!r} is not a month; use YYYY-MM, e.g. 2026-10"
    elif args.invoices < 0:
        problem = f"--invoices: {args.invoices} is less than 0; give a count of invoices to generate"
    elif args.fixtures is not None and not Path(args.fixtures).is_dir():
        problem = f"--fixtures: {args.fixtures!r} is not a folder; give the folder holding accessplanit/ and xero/"
    elif args.expected is not None and not Path(args.expected).resolve().parent.is_dir():
        problem = f"--expected: the folder of {args.expected!r} does not exist; create it first"
    else:
        for port, name in ((args.accessplanit_port, "--accessplanit-port"), (args.xero_port, "--xero-port")):
            if not 0 <= port <= 65535:
                problem = f"{name}: {port} is not a port; use 1-65535, or 0 for any free port"
        try:
            for spec in split_faults(args.faults):
                Faults(spec)  # reads every value: `error500=abc` is refused here, not in a traceback later
        except ValueError as exc:
            problem = problem or f"--faults: {str(exc).rstrip('.')}; see docs/sandboxes.md"
    if problem:
        print(f"recondesk: {problem}", file=sys.stderr)
        return EXIT_USAGE

    opts = SandboxOptions(
        seed=args.seed,
        invoices=args.invoices,
        paid_instalments=args.paid_instalments,
        fixtures=args.fixtures,
        faults=args.faults,
        accessplanit_port=args.accessplanit_port,
        xero_port=args.xero_port,
        xero_organisations=tuple(args.xero_organisation),
    )
    if args.month:
        opts.month = args.month
    try:
        sandboxes = start_sandboxes(opts)
    except ValueError as exc:  # a fixture file that is not JSON, or not in a service's wire format
        print(f"recondesk: --fixtures: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a port in use, or not ours to take
        print(f"recondesk: the sandboxes could not start: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if args.expected:
        if sandboxes.expected is None:
            print(
                "recondesk: these fixtures are too far from the wire formats to compute expected statuses",
                file=sys.stderr,
            )
            sandboxes.stop()
            return EXIT_USAGE
        Path(args.expected).write_text(json.dumps({"items": sandboxes.expected}, indent=1), encoding="utf-8")
    print(json.dumps(sandboxes.info), flush=True)
    print(
        f"accessplanit: {sandboxes.info['accessplanit']['url']}\nXero: {sandboxes.info['xero']['url']}\n"
        "Press Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the normal way to stop
            while not stop.is_set():
                stop.wait(0.5)  # short waits, so Ctrl+C is seen at once
    finally:
        sandboxes.stop()
    return EXIT_OK


def _read_secret() -> str:
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise SystemExit("recondesk: no secret on standard input")
    return secret


def _save(ws: Any, info: Any, secret: str, *, check: bool) -> Any:
    """Save a connection, by default only once it works (`--no-check`: save without trying it)."""
    if check:
        return ws.save_checked(info, secret)
    ws.save_connection(info, secret)
    return None


def _cmd_connect(args: argparse.Namespace, profile: str) -> int:
    from app import composition
    from app.domain.status import System
    from app.services.api import ConnectionInfo

    for name in ("url", "identity_url"):
        value = getattr(args, name, "")
        if value and bad_service_url(value):
            print(f"recondesk: --{name.replace('_', '-')}: {bad_service_url(value)}", file=sys.stderr)
            return EXIT_USAGE
    ws = composition.build_workspace(args.db, profile, composition.system_credentials())
    if args.system == "accessplanit":
        secret = _read_secret()
        auth = "api_key" if args.api_key_stdin else "password"
        if auth == "password" and not args.username:
            print("recondesk: --username is needed with --password-stdin", file=sys.stderr)
            return EXIT_USAGE
        info = ConnectionInfo(system=System.ACCESSPLANIT, url=args.url.rstrip("/"), username=args.username, auth=auth)
        result = _save(ws, info, secret, check=not args.no_check)
    else:
        if args.client_secret_stdin:
            secret = _read_secret()
            info = ConnectionInfo(
                system=System.XERO,
                url=args.url.rstrip("/"),
                auth="client_credentials",
                identity_url=args.identity_url.rstrip("/"),
                client_id=args.client_id,
                tenant_id=args.tenant_id,
            )
            result = _save(ws, info, secret, check=not args.no_check)
        else:
            result = composition.connect_xero_oauth(
                ws,
                api_url=args.url.rstrip("/"),
                identity_url=args.identity_url.rstrip("/"),
                client_id=args.client_id,
                tenant_id=args.tenant_id,
                open_browser=not args.no_browser,
            )
    if result is not None and not result.ok:
        print(f"recondesk: connection not saved: {result.step}: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Saved the {args.system} connection; its secret is in the {ws.credentials_description()}.")
    return EXIT_OK


def _sync_json(result: Any) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "ok": result.ok,
        "cancelled": result.cancelled,
        "started_at": result.started_at.isoformat() + "Z",
        "finished_at": result.finished_at.isoformat() + "Z",
        "streams": [
            {
                "system": str(s.system),
                "stream": s.stream,
                "fetched": s.fetched,
                "pages": s.pages,
                "calls": s.calls,
                "retries": s.retries,
                "invalid": s.invalid,
                "error": s.error,
            }
            for s in result.streams
        ],
        "counts": result.counts,
        "errors": list(result.errors),
        "budget": result.budget,
    }


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse type: a bad one is a usage error, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _cmd_sync(ws: Any, args: argparse.Namespace) -> int:
    from app.domain.progress import CancelToken, ProgressEvent
    from app.services.sync import WAITING, SyncBusy

    cancel = CancelToken()

    def progress(ev: ProgressEvent) -> None:
        if ev.stage == WAITING:  # said once, whatever the output (a script's log shows why it took long)
            print(f"recondesk: {ev.message.replace('Recondesk will start yours', 'this one starts')}", file=sys.stderr)
            return
        if not args.json and sys.stderr.isatty():
            print(f"\r{ev.stage}: {ev.done} {ev.unit}, {ev.pages} pages, {ev.calls} calls   ", end="", file=sys.stderr)

    def on_sigterm(*_: object) -> None:
        cancel.cancel()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        result = ws.sync(full=args.full, progress=progress, cancel=cancel, wait=args.wait_timeout if args.wait else 0)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    except SyncBusy as busy:  # refused (exit 3): another sync holds the cache; --wait waits for it
        more = f" (waited {args.wait_timeout:g} s)." if args.wait else ", or sync with --wait to queue behind it."
        print(f"recondesk: {busy.user_text().rstrip('.')}{more}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(_sync_json(result), indent=1))
    else:
        print("", file=sys.stderr) if sys.stderr.isatty() else None
        state = "cancelled" if result.cancelled else ("done" if result.ok else "finished with errors")
        print(f"Sync {state}: " + ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())))
        for err in result.errors:
            print(f"  error: {err}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _cmd_disconnect(ws: Any, args: argparse.Namespace) -> int:
    from app.domain.status import System

    chosen = {c for c in (args.target, args.system) if c}
    if len(chosen) != 1:
        print("recondesk: name one connection: `recondesk disconnect accessplanit|xero`", file=sys.stderr)
        return EXIT_USAGE
    result = ws.disconnect(System(chosen.pop()))
    if args.json:
        print(json.dumps({"ok": result.ok, "message": result.message}))
    else:
        print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def _cmd_report(ws: Any, args: argparse.Namespace) -> int:
    if _bad_period(args.period):
        return EXIT_USAGE
    if args.output:
        problem = _unwritable(Path(args.output))
        if problem:
            print(f"recondesk: -o: {problem}", file=sys.stderr)
            return EXIT_USAGE
    data = ws.report_bytes(args.period, args.format)
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise  # said once for every command, in main
            print(f"recondesk: the report was not written to {args.output!r}: {_os_reason(exc)}", file=sys.stderr)
            return EXIT_FAILED
    else:
        if args.format in ("xlsx", "pdf"):
            print("recondesk: use -o FILE for binary formats", file=sys.stderr)
            return EXIT_USAGE
        sys.stdout.write(data.decode("utf-8"))
        if not data.endswith(b"\n"):
            sys.stdout.write("\n")
    return EXIT_OK


def _cmd_pack(ws: Any, args: argparse.Namespace) -> int:
    """`pack --period P -o DIR [--all-items]`: exit 2 for a bad period or a folder that cannot be written."""
    if _bad_period(args.period):
        return EXIT_USAGE
    folder = Path(args.output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"recondesk: cannot use {str(folder)!r} as the pack's folder: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if not os.access(folder, os.W_OK | os.X_OK):
        print(f"recondesk: the folder {str(folder)!r} is not writable", file=sys.stderr)
        return EXIT_USAGE
    try:
        paths = ws.write_pack(args.period, folder, all_items=args.all_items)
    except OSError as exc:
        print(f"recondesk: the pack was not written: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in paths:
        print(path)
    return EXIT_OK


def _cmd_push(ws: Any, args: argparse.Namespace) -> int:
    """Preview (checked), then send unless `--dry-run`; a write a rule refuses exits 3 with one line."""
    from app.domain.status import System
    from app.services.api import PushField, PushRecord

    if args.override and not args.note.strip():
        print("recondesk: --override needs --note saying why.", file=sys.stderr)
        return EXIT_USAGE
    target, note = System(args.to), args.note.strip() if args.override else ""
    action: PushField | PushRecord = (
        PushField(args.item_id, args.field, target, override_note=note, clear=args.clear)
        if args.field
        else PushRecord(args.item_id, target, override_note=note, new_contact=args.new_contact)
    )
    plan = ws.preview(action)
    if args.dry_run:
        print(json.dumps(_plan_json(plan), indent=2, ensure_ascii=False))
    if plan.problems:
        choice = {"clear": " (--clear allows it)", "new_contact": " (--new-contact allows it)"}.get(plan.needs, "")
        print(f"recondesk: refused: {' '.join(plan.problems)}{choice}", file=sys.stderr)
        return EXIT_REFUSED
    if args.dry_run:
        return EXIT_OK
    result = ws.act(action)
    return _print_result(result, args.json)


def _cmd_revert(ws: Any, args: argparse.Namespace) -> int:
    from app.services.api import Revert

    if not args.note.strip():
        print("recondesk: revert needs --note saying why.", file=sys.stderr)
        return EXIT_USAGE
    return _print_result(ws.act(Revert(args.push_id, args.note.strip())), args.json)


def _plan_json(plan: Any) -> dict[str, Any]:
    """A `PlannedWrite` as product.md's dry-run JSON: target, method, path, body, before -> after per field."""
    return {
        "item_id": plan.item_id,
        "target": plan.target.value,
        "method": plan.method,
        "path": plan.path,
        "body": json.loads(plan.body, parse_float=str),
        "changes": [{"field": c.field, "label": c.label, "before": c.before, "after": c.after} for c in plan.changes],
        "problems": list(plan.problems),
        "needs": plan.needs,
        "blocked": plan.blocked,
        "sent": False,
    }


def _print_result(result: Any, as_json: bool) -> int:
    code = EXIT_OK if result.ok else (EXIT_REFUSED if result.refused else EXIT_FAILED)
    if as_json:
        row = result.item
        item = None if row is None else {"id": row.item_id, "key": row.key, "status": row.status.value}
        print(json.dumps({"ok": result.ok, "message": result.message, "refused": result.refused, "item": item}))
    elif result.ok:
        print(result.message)
    else:
        print(f"recondesk: {result.message}", file=sys.stderr)
    return code


# --- decisions and the audit log (product.md section 8) ---------------------------------------------------------


def _reason(row: Any, roles: Any) -> str:
    """One sentence for people: why the item has its status (the services' own reason when they gave one)."""
    if row.reason:
        return str(row.reason)
    what = f"{row.kind.value.capitalize()} {row.key}"
    status = row.status.value
    if status == "matched":
        return f"{what}: both systems agree" + (f" ({row.note.lower()})." if row.note else ".")
    if status == "differs":
        return f"{what}: {roles.source.label} and {roles.ledger.label} differ in {', '.join(row.fields)}."
    if status == "only_in_source":
        return f"{what} is in {roles.source.label} only."
    if status == "only_in_ledger":
        return f"{what} is in {roles.ledger.label} only."
    if status == "resolved":
        return f"{what} was resolved by a person: {row.note}."
    return f"{what} could not be read" + (f": {row.note}." if row.note else ".")


def _item_json(row: Any, roles: Any) -> dict[str, Any]:
    return {
        "id": row.item_id,
        "kind": row.kind.value,
        "key": row.key,
        "status": row.status.value,
        "flags": list(row.flags),
        "fields": list(row.fields),
        "reason": _reason(row, roles),
        "invoice": row.invoice,
        "contact": row.contact,
        "date": row.date,
        "currency": row.currency,
        "amount": row.amount,
        "accessplanit_id": row.source_id,
        "xero_id": row.ledger_id,
        "note": row.note,
    }


def _cmd_items(ws: Any, args: argparse.Namespace) -> int:
    from app.domain.status import ItemStatus
    from app.services.api import ItemFilter

    try:
        statuses = tuple(ItemStatus(s) for s in args.status)
    except ValueError:
        known = ", ".join(s.value for s in ItemStatus)
        print(f"recondesk: unknown status in {args.status}; use one of {known}", file=sys.stderr)
        return EXIT_USAGE
    if _bad_period(args.period):
        return EXIT_USAGE
    roles, flt, after = ws.roles(), ItemFilter(period=args.period, statuses=statuses), None
    rows: list[Any] = []
    while True:
        page = ws.page(flt, "key", after, 1000)
        rows.extend(r for r in page.rows if all(f in r.flags for f in args.flag))
        if page.next is None:
            break
        after = page.next
    if args.json:
        print(json.dumps({"items": [_item_json(r, roles) for r in rows]}, indent=1))
    else:
        for r in rows:
            flags = f" [{', '.join(r.flags)}]" if r.flags else ""
            print(f"{r.item_id}\t{r.kind.value}\t{r.key}\t{r.status.value}{flags}\t{_reason(r, roles)}")
    return EXIT_OK


def _no_traceback(record: logging.LogRecord) -> bool:
    """A log line without its traceback (that is for `-v`)."""
    record.exc_info = None
    record.exc_text = None
    return True


def _is_month(text: str) -> bool:
    """`YYYY-MM` with a month 1-12."""
    return (
        len(text) == 7
        and text[4] == "-"
        and text[:4].isdigit()
        and text[:4].isascii()
        and text[5:] in {f"{m:02d}" for m in range(1, 13)}
    )


def bad_db_url(url: str | None) -> str:
    """Why `--db URL` cannot be used ("" when it can). A SQLite file's folder must exist already: a folder the user
    did not ask for is never created (the default location, with no `--db`, is Recondesk's own)."""
    if url is None:
        return ""
    from app.storage.db import url_parts

    try:
        parsed = url_parts(url)
    except ValueError:
        return f"{url!r} is not a database URL; use e.g. sqlite:////home/me/recondesk.sqlite3 or postgresql://..."
    if parsed.backend != "sqlite":
        return ""
    database = parsed.database
    if database in ("", ":memory:"):
        return ""
    folder = Path(database).expanduser().resolve().parent
    if not folder.is_dir():
        return f"the folder {str(folder)!r} does not exist; create it first, or choose another place for the cache"
    if not Path(database).exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {str(folder)!r} is not writable; choose another place for the cache"
    return ""


def bad_service_url(url: str) -> str:
    """Why `url` cannot be a service's address ("" when it can): checked before anything is sent."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return f"{url!r} is not a web address; use e.g. https://acme.accessplanit.com/accessplan"
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        return f"{url!r} is not a web address; use e.g. https://acme.accessplanit.com/accessplan"
    return ""


def _unwritable(path: Path) -> str:
    """Why a file cannot be written at `path` ("" when it looks writable); its folder is never created."""
    folder = path.expanduser().resolve().parent
    if not folder.is_dir():
        return f"the folder {str(folder)!r} does not exist; create it first, or write the file elsewhere"
    if path.is_dir():
        return f"{str(path)!r} is a folder; give a file name"
    if not os.access(folder, os.W_OK | os.X_OK) and not (path.exists() and os.access(path, os.W_OK)):
        return f"the folder {str(folder)!r} is not writable; write the file elsewhere"
    return ""


def _os_reason(exc: OSError) -> str:
    """What an operating-system error means for people: a full disk says so."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full; free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied; write the file elsewhere"
    return exc.strerror or type(exc).__name__


_LOG_NUMBERS = itertools.count()


def _log_path() -> Path:
    """Where the details of an unexpected error go: Recondesk's data folder, else the temporary folder."""
    import tempfile
    import time

    n = next(_LOG_NUMBERS)  # one process may write several (the GUI keeps running after one)
    name = f"recondesk-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}{f'-{n}' if n else ''}.log"
    try:
        import platformdirs

        from app.composition import APP_NAME

        folder = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder / name
    except Exception:
        return Path(tempfile.gettempdir()) / name


_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]+@")


def scrub(text: str) -> str:
    """`text` without secrets: URL passwords, token fields, bearer values. The GUI's exception hook uses it too."""
    from app.connectors.http import Scrubber

    return Scrubber().scrub(_URL_PASSWORD.sub(r"\1***@", text))


def _details(exc: BaseException) -> str:
    """The traceback of `exc` with secrets scrubbed."""
    import traceback

    return scrub("".join(traceback.format_exception(exc)))


def write_details(exc: BaseException) -> Path | None:
    """Write the scrubbed traceback of `exc` to a new owner-only (0600) log file; its path, or None if it could
    not be written. The GUI's exception hook uses it too."""
    try:
        path = _log_path()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"recondesk {__version__}: {' '.join(sys.argv[1:2])}\n{_details(exc)}")
        return path
    except OSError:
        return None


def _unexpected(exc: BaseException, args: argparse.Namespace) -> int:
    """One line on standard error and the details (traceback, secrets scrubbed) in a log file; exit 1."""
    path = write_details(exc)
    where = f" The details are in {path}." if path is not None else ""
    if getattr(args, "verbose", False):
        print(_details(exc), file=sys.stderr, end="")
    print(f"recondesk: unexpected error ({type(exc).__name__}); nothing more was done.{where}", file=sys.stderr)
    return EXIT_FAILED


def _bad_period(period: str | None) -> bool:
    """True (after one line on standard error) when `--period` is given and is not YYYY-MM with a month 1-12."""
    from app.services.report import PeriodError, check_period

    try:
        check_period(period)
    except PeriodError as exc:
        print(f"recondesk: --period: {exc}", file=sys.stderr)
        return True
    return False


def _decide(ws: Any, args: argparse.Namespace, action: Any, ids: Sequence[int]) -> int:
    """Run one decision; exit 2 for an unknown item, 3 when a rule refuses it."""
    known = {r.item_id for r in ws.rows(list(ids))}
    missing = [i for i in ids if i not in known]
    if missing:
        print(f"recondesk: there is no item {missing[0]} (see `recondesk items`)", file=sys.stderr)
        return EXIT_USAGE
    result = ws.act(action)
    if args.json:
        item = _item_json(result.item, ws.roles()) if result.item is not None else None
        print(json.dumps({"ok": result.ok, "message": result.message, "who": ws.who, "item": item}, indent=1))
    elif result.ok:
        print(result.message)
    else:
        print(f"recondesk: {result.message}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_REFUSED


def _cmd_resolve(ws: Any, args: argparse.Namespace) -> int:
    from app.domain.status import Resolution
    from app.services.api import Resolve

    if args.ignore and not args.note.strip():
        print("recondesk: --ignore needs --note TEXT saying why", file=sys.stderr)
        return EXIT_USAGE
    if args.ignore:
        resolution = Resolution.IGNORE
    else:
        resolution = Resolution.ACCEPT_SOURCE if args.accept == ws.roles().source.value else Resolution.ACCEPT_LEDGER
    return _decide(ws, args, Resolve(args.item_id, resolution, args.note), [args.item_id])


def _cmd_reopen(ws: Any, args: argparse.Namespace) -> int:
    from app.services.api import Reopen

    if not args.note.strip():
        print("recondesk: --note must say why the decision is undone", file=sys.stderr)
        return EXIT_USAGE
    return _decide(ws, args, Reopen(args.item_id, args.note), [args.item_id])


def _cmd_match(ws: Any, args: argparse.Namespace) -> int:
    from app.services.api import Match

    if not args.note.strip():
        print("recondesk: --note must say why these two records are the same", file=sys.stderr)
        return EXIT_USAGE
    return _decide(ws, args, Match(args.item_id, args.other_item_id, args.note), [args.item_id, args.other_item_id])


def _cmd_candidates(ws: Any, args: argparse.Namespace) -> int:
    """The ranked candidates of a one-sided item (pick one with `recondesk match ITEM_ID OTHER_ID --note ...`)."""
    found = ws.rows([args.item_id])
    if not found:
        print(f"recondesk: there is no item {args.item_id} (see `recondesk items`)", file=sys.stderr)
        return EXIT_USAGE
    row, roles = found[0], ws.roles()
    ranked = ws.match_candidates(args.item_id)
    if args.json:
        out = [
            {"score": c.score, "band": c.band, "scores": dict(c.scores), "why_not": c.why_not,
             "item": _item_json(c.row, roles)}
            for c in ranked
        ]  # fmt: skip
        print(json.dumps({"item": _item_json(row, roles), "candidates": out}, indent=1))
        return EXIT_OK
    if row.status.value not in ("only_in_source", "only_in_ledger"):
        print(f"The item {row.key} is {row.status.value}: only a one-sided item has candidates.")
        return EXIT_OK
    if not ranked:
        print(f"No one-sided item of the other system in {row.currency} to match {row.key} with.")
    for c in ranked:
        per_field = ", ".join(f"{name} {value}" for name, value in c.scores)
        print(f"{c.score:3d}\t{c.item_id}\t{c.row.key}\t{c.row.contact}\t{c.row.date}\t{c.row.currency} {c.row.amount}"
              f"\t{c.why_not}\t({per_field})")  # fmt: skip
    return EXIT_OK


def _cmd_unmatch(ws: Any, args: argparse.Namespace) -> int:
    from app.services.api import Unmatch

    return _decide(ws, args, Unmatch(args.item_id, args.note), [args.item_id])


def _cmd_audit(ws: Any, args: argparse.Namespace) -> int:
    found = ws.verify_audit()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": found.ok,
                    "checked": found.checked,
                    "first_broken_id": found.first_broken_id,
                    "message": found.message,
                }
            )
        )
    elif found.ok:
        print(found.message)
    else:
        print(f"recondesk: the audit log is broken at {found.message}", file=sys.stderr)
    return EXIT_OK if found.ok else EXIT_AUDIT_BROKEN


def _cmd_signoff(ws: Any, args: argparse.Namespace) -> int:
    """Sign a period off; exit 2 for a bad period or note, 3 while items are open without --with-exceptions."""
    if _bad_period(args.period):
        return EXIT_USAGE
    if not args.note.strip():
        print("recondesk: --note must say what was checked", file=sys.stderr)
        return EXIT_USAGE
    result = ws.sign_off(args.period, args.note, args.with_exceptions)
    code = EXIT_OK if result.ok else (EXIT_REFUSED if result.refused else EXIT_USAGE)
    if args.json:
        state = result.state
        out: dict[str, Any] = {"ok": result.ok, "message": result.message, "period": args.period}
        if state is not None:
            out.update(
                by=state.by,
                at=state.at.isoformat(),
                note=state.note,
                with_exceptions=state.with_exceptions,
                hash=state.hash,
                exceptions=list(state.exceptions),
                items=result.items,
                totals=[
                    {
                        "system": t.system.value,
                        "currency": t.currency,
                        "invoices": t.invoices,
                        "total": t.total,
                        "paid": t.paid,
                        "due": t.due,
                    }
                    for t in result.totals
                ],
            )
        print(json.dumps(out, indent=1))
    elif result.ok:
        print(result.message)
    else:
        print(f"recondesk: {result.message}", file=sys.stderr)
    return code


def _cmd_settings(ws: Any, args: argparse.Namespace) -> int:
    """List the settings (`--json`: one object), or `set NAME VALUE`: exit 2 for an unknown name or bad value."""
    if getattr(args, "settings_command", None) == "set":
        result = ws.change_settings({args.name: args.value})
        if args.json:
            print(json.dumps({"ok": result.ok, "message": result.message, "who": ws.who}, indent=1))
        elif result.ok:
            print(result.message)
        else:
            print(f"recondesk: {result.message}", file=sys.stderr)
        return EXIT_OK if result.ok else (EXIT_REFUSED if result.refused == "role" else EXIT_USAGE)
    view = ws.settings_view()
    if args.json:
        out = {
            v.name: {
                "value": {k: val for k, val in v.mapping} if v.kind == "mapping" else v.value,
                "default": v.default,
                "label": v.label,
                "group": v.group,
                "scope": v.scope,
                "kind": v.kind,
                "affects": list(v.affects),
                "help": v.help,
            }
            for v in view.values
        }
        print(json.dumps({"settings": out}, indent=1))
        return EXIT_OK
    for group in view.groups:
        print(f"[{group}]")
        for v in (v for v in view.values if v.group == group):
            mark = "" if v.value == v.default else "  (default " + (v.default or "empty") + ")"
            print(f"  {v.name} = {v.value}{mark}")
    return EXIT_OK


_DECISION_COMMANDS = {
    "signoff": _cmd_signoff,
    "items": _cmd_items,
    "resolve": _cmd_resolve,
    "reopen": _cmd_reopen,
    "match": _cmd_match,
    "candidates": _cmd_candidates,
    "unmatch": _cmd_unmatch,
    "audit": _cmd_audit,
    "settings": _cmd_settings,
}


# --- team mode: people and the team database (docs/team.md) ------------------------------------------------------


def _cmd_people(ws: Any, args: argparse.Namespace) -> int:
    """List the people, or change them (reviewers only): exit 2 for a bad login or name, 3 when refused."""
    from app.services.team import RoleRefused

    verb = getattr(args, "people_command", None)
    try:
        if verb == "add":
            done = ws.add_person(args.login, args.name, args.role)
            print(f"Added {done.login} ({done.name}) as {done.role}.")
        elif verb == "set-role":
            done = ws.set_role(args.login, args.role)
            print(f"{done.login} ({done.name}) is now {done.role}.")
        elif verb in ("activate", "deactivate"):
            done = ws.set_role(args.login, active=verb == "activate")
            print(f"{done.login} ({done.name}) is now {'active' if done.active else 'inactive'}.")
    except RoleRefused as exc:
        print(f"recondesk: {exc.user_text()}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as exc:
        print(f"recondesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if verb:
        return EXIT_OK
    me = ws.me()
    people = list(ws.people())
    if getattr(args, "json", False):
        rows = [{"login": p.login, "name": p.name, "role": p.role, "active": p.active} for p in people]
        print(json.dumps({"me": me.login, "people": rows}, indent=1))
        return EXIT_OK
    for p in people:
        mark = "  (you)" if p.login == me.login else ""
        print(f"{p.login:<20} {p.role:<9} {'active' if p.active else 'inactive':<9} {p.name}{mark}")
    return EXIT_OK


_DECISION_COMMANDS["people"] = _cmd_people


def _cmd_team_login(args: argparse.Namespace, profile: str) -> int:
    """Check a password on the team database (`--db URL` or Settings > Team database) and keep it in the keyring;
    exit 2 without a server database, 1 when the server refuses it (nothing is stored then)."""
    import dataclasses

    from app import composition
    from app.settings import SettingError, parse_value
    from app.storage.db import url_parts

    settings = composition.load_settings(profile)
    if args.team_command == "logout":
        url = settings.team_url()
        if url:
            composition.system_credentials().delete(composition.team_entry(url))
        composition.save_settings(profile, dataclasses.replace(settings, team_db_host="", team_db_name=""))
        print("Recondesk opens this computer's own cache from now on; the team database's password was removed.")
        return EXIT_OK
    given = {
        "team_db_host": args.host,
        "team_db_port": args.port,
        "team_db_name": args.database,
        "team_db_user": args.user,
    }
    try:
        chosen = dataclasses.replace(settings, **{k: parse_value(k, v) for k, v in given.items() if v is not None})
    except SettingError as exc:
        print(f"recondesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    url = args.db or chosen.team_url()
    if not url or url_parts(url).backend == "sqlite":
        print(
            "recondesk: no team database: give --db postgresql+psycopg://USER@HOST/DATABASE, or set the team "
            "database's server, database and user (recondesk settings set team_db_host ...)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if url_parts(url).has_password:
        print("recondesk: --db: leave the password out of the URL; it is asked for and kept", file=sys.stderr)
        return EXIT_USAGE
    if args.password_stdin:
        password = _read_secret()
    else:
        import getpass

        password = getpass.getpass(f"Password for {url}: ")  # it holds none (refused above)
        if not password:
            print("recondesk: no password given; nothing was stored", file=sys.stderr)
            return EXIT_USAGE
    result = composition.check_team_database(url, password)
    if not result.ok:
        print(f"recondesk: {result.message} The password was not stored.", file=sys.stderr)
        return EXIT_FAILED
    credentials = composition.system_credentials()
    credentials.set(composition.team_entry(url), {"password": password})
    if chosen != settings and not args.db:
        composition.save_settings(profile, chosen)  # Recondesk opens the team database from now on
    print(f"{result.message} The password is in the {credentials.describe()}.")
    return EXIT_OK
