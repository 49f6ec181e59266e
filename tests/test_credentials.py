"""Credentials against a real Secret Service (gnome-keyring in a private D-Bus session, see scripts/with-keyring)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.credentials import KeyringCredentialStore, MemoryCredentialStore, connection_entry


def test_secret_round_trips_through_the_secret_service(secret_service: object) -> None:
    store = KeyringCredentialStore(service="recondesk-test")
    assert "SecretService" in store.describe()
    name = connection_entry("default", "accessplanit", "c0ffee")
    store.set(name, {"password": "correct horse battery staple"})
    assert store.get(name) == {"password": "correct horse battery staple"}
    # the keyring itself holds it (not some cache of ours)
    import keyring

    assert "correct horse battery staple" in (keyring.get_password("recondesk-test", name) or "")
    store.delete(name)
    assert store.get(name) is None
    store.delete(name)  # deleting twice is harmless


@pytest.mark.parametrize("forced_backend", [None, "keyring.backends.fail.Keyring"])
def test_no_keyring_means_a_clear_error_and_no_fallback(tmp_path: object, forced_backend: str | None) -> None:
    # A child process without any D-Bus session: keyring finds no backend; we must refuse, never fall back.
    code = (
        "from app.credentials import KeyringCredentialStore\n"
        "from app.domain.errors import KeyringUnavailable\n"
        "try:\n    KeyringCredentialStore().set('x', {'password': 'p'})\n"
        "except KeyringUnavailable as e:\n    print('REFUSED', e.user_text())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    if forced_backend:
        env["PYTHON_KEYRING_BACKEND"] = forced_backend
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=".")
    assert "REFUSED" in out.stdout, out.stdout + out.stderr
    assert "gnome-keyring" in out.stdout


def test_memory_store_is_per_process_and_copies() -> None:
    store = MemoryCredentialStore()
    secret = {"password": "p"}
    store.set("a", secret)
    secret["password"] = "changed"
    assert store.get("a") == {"password": "p"}
    store.delete("a")
    assert store.get("a") is None


def test_the_lazy_store_opens_the_keyring_only_when_a_secret_is_needed(tmp_path: object) -> None:
    """A report needs no secret: on a machine without a keyring it must work; the first secret access refuses."""
    code = (
        "from app.credentials import LazyKeyringStore\n"
        "from app.domain.errors import KeyringUnavailable\n"
        "store = LazyKeyringStore()\n"
        "print('CONSTRUCTED')\n"
        "try:\n    store.get('x')\n"
        "except KeyringUnavailable as e:\n    print('REFUSED', e.user_text())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=".")
    assert "CONSTRUCTED" in out.stdout and "REFUSED" in out.stdout, out.stdout + out.stderr
