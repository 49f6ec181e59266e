"""Connections: settings in the cache, the secret in the credential store only; "Test connection" over real HTTP
against the accessplanit emulator names the failing step; no secret in the database file or in any message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from services_clients import SandboxClientFactory

from app.credentials import MemoryCredentialStore, connection_entry
from app.domain.status import System
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services.api import ConnectionInfo
from app.services.connections import Connections, StoreSecretBox
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database


@pytest.fixture
def empty_sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    boxes = start_sandboxes(SandboxOptions(fixtures=str(fixtures)))
    yield boxes
    boxes.stop()


def _ap_info(boxes: Sandboxes) -> ConnectionInfo:
    ap = boxes.info["accessplanit"]
    return ConnectionInfo(system=System.ACCESSPLANIT, url=ap["url"], username=ap["username"], auth="password")


def test_secret_goes_to_the_store_and_never_to_the_database(cache: Database, tmp_path: Path) -> None:
    store = MemoryCredentialStore()
    conns = Connections(cache, store, "p1")
    secret = "s3cr3t-Pa55word-XYZ"
    conns.save(ConnectionInfo(System.ACCESSPLANIT, "https://acme.example/accessplan", "ana", "password"), secret)
    [info] = conns.list()
    assert info.has_secret and info.username == "ana" and info.url == "https://acme.example/accessplan"
    got, box = conns.get(System.ACCESSPLANIT)
    assert box.load() == {"password": secret}
    assert secret not in repr(box) and secret not in repr(got)
    cache.dispose()
    for path in tmp_path.glob("cache.sqlite3*"):
        assert secret.encode() not in path.read_bytes(), path


def test_resaving_keeps_the_entry_and_a_missing_secret_keeps_the_old_one(cache: Database) -> None:
    store = MemoryCredentialStore()
    conns = Connections(cache, store, "p1")
    conns.save(ConnectionInfo(System.XERO, "https://x.example", auth="client_credentials", client_id="C1"), "one")
    _, box1 = conns.get(System.XERO)
    conns.save(ConnectionInfo(System.XERO, "https://y.example", auth="client_credentials", client_id="C1"), None)
    info, box2 = conns.get(System.XERO)
    assert info.url == "https://y.example" and info.has_secret
    assert box2.load() == {"client_secret": "one"} and repr(box1) == repr(box2)
    box2.save({"client_secret": "one", "refresh_token": "rotated"})  # what a connector does with a new token
    assert conns.get(System.XERO)[1].load()["refresh_token"] == "rotated"


def test_profiles_do_not_share_secrets(cache: Database) -> None:
    store = MemoryCredentialStore()
    Connections(cache, store, "a").save(ConnectionInfo(System.ACCESSPLANIT, "u", "x", "api_key"), "key-a")
    [name] = store._data  # the store's only entry
    assert name.startswith("a/accessplanit/")
    assert isinstance(Connections(cache, store, "a").get(System.ACCESSPLANIT)[1], StoreSecretBox)
    rec_id = name.split("/")[2]
    assert store.get(connection_entry("b", "accessplanit", rec_id)) is None


def test_check_passes_with_the_right_password(
    cache: Database, empty_sandboxes: Sandboxes, client_factory: SandboxClientFactory
) -> None:
    ws = Workspace(cache, MemoryCredentialStore(), Settings(), client_factory, "p1", who="t")
    ws.save_connection(_ap_info(empty_sandboxes), empty_sandboxes.info["accessplanit"]["password"])
    result = ws.test_connection(System.ACCESSPLANIT)
    assert result.ok, result


def test_check_names_the_failing_step_and_hides_the_secret(
    cache: Database, empty_sandboxes: Sandboxes, client_factory: SandboxClientFactory
) -> None:
    ws = Workspace(cache, MemoryCredentialStore(), Settings(), client_factory, "p1", who="t")
    wrong = "wrong-password-0123456789"
    ws.save_connection(_ap_info(empty_sandboxes), wrong)
    result = ws.test_connection(System.ACCESSPLANIT)
    assert not result.ok and result.step == "credentials", result
    assert wrong not in result.message

    ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, "http://127.0.0.1:9/accessplan", "demo", "password"), None)
    unreachable = ws.test_connection(System.ACCESSPLANIT)
    assert not unreachable.ok and unreachable.step == "reachability", unreachable
    assert wrong not in unreachable.message


def test_check_without_a_connection_says_so(cache: Database, client_factory: SandboxClientFactory) -> None:
    ws = Workspace(cache, MemoryCredentialStore(), Settings(), client_factory, "p1", who="t")
    result = ws.test_connection(System.XERO)
    assert not result.ok and result.step == "configuration" and "no Xero connection" in result.message
    assert ws.summary(None).connections == {"accessplanit": False, "xero": False}
