"""The only module that touches secrets at rest: a `CredentialStore` protocol and its OS-keyring implementation.

Secrets go to the OS keyring under the service name `recondesk`, one entry per connection (the entry's user name is
`<profile>/<system>/<connection id>`; the value is a JSON object of strings, e.g. a password, or a Xero client secret
and the current refresh token). When no keyring is available we stop with a message saying how to get one: there
is no plaintext fallback, ever. `MemoryCredentialStore` keeps secrets in this process only (the demo and tests).
Must not: log, print or put a secret into an exception message.
"""

from __future__ import annotations

import json
import threading
from typing import Protocol

from app.domain.errors import KeyringUnavailable

SERVICE = "recondesk"

_NO_KEYRING_HINT = (
    "Recondesk keeps passwords and tokens only in the system keyring and will not store them anywhere else. "
    "On Linux, install and unlock a Secret Service (GNOME Keyring or KWallet: "
    "`sudo apt install gnome-keyring`, then log in again); on Windows the Credential Manager and on macOS the "
    "Keychain are used automatically."
)


class CredentialStore(Protocol):
    """Secrets by connection name. Values are dicts of strings."""

    def get(self, name: str) -> dict[str, str] | None: ...

    def set(self, name: str, secret: dict[str, str]) -> None: ...

    def delete(self, name: str) -> None: ...

    def describe(self) -> str:
        """Where secrets are kept, for people ("GNOME Keyring (Secret Service)")."""
        ...


def _decode(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return {"secret": raw}
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


class KeyringCredentialStore:
    """Secrets in the OS keyring through the `keyring` package. Refuses insecure backends."""

    # Backends that store secrets in plain or merely encoded files, or nowhere at all.
    _REFUSED = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer")

    def __init__(self, service: str = SERVICE) -> None:
        import keyring  # deferred: importing keyring probes D-Bus, which the GUI should not wait for at start-up
        import keyring.errors

        self._keyring = keyring
        self._errors = keyring.errors
        self.service = service
        self._lock = threading.Lock()
        backend = keyring.get_keyring()
        module = type(backend).__module__
        inner = [type(b).__module__ for b in getattr(backend, "backends", [])]
        if any(module.startswith(r) for r in self._REFUSED) and not any(not m.startswith(self._REFUSED) for m in inner):
            raise KeyringUnavailable("No system keyring is available.", _NO_KEYRING_HINT)
        if any(module.startswith(r) for r in ("keyrings.alt",)):
            raise KeyringUnavailable("Only an insecure file keyring is installed.", _NO_KEYRING_HINT)
        self.backend_name = f"{module}.{type(backend).__name__}"

    def describe(self) -> str:
        return f"system keyring ({self.backend_name})"

    def _call(self, fn: str, *args: str) -> str | None:
        try:
            with self._lock:
                result: str | None = getattr(self._keyring, fn)(self.service, *args)
                return result
        except self._errors.KeyringLocked as exc:
            raise KeyringUnavailable(
                "The system keyring is locked.", "Unlock it (log in again, or open Passwords and Keys) and retry."
            ) from exc
        except self._errors.NoKeyringError as exc:
            raise KeyringUnavailable("No system keyring is available.", _NO_KEYRING_HINT) from exc
        except self._errors.PasswordDeleteError:
            return None
        except self._errors.KeyringError as exc:
            # The backend's message can name the item but never holds the secret value.
            raise KeyringUnavailable(
                f"The system keyring refused the request ({type(exc).__name__}).",
                "Check that the keyring is unlocked, then retry.",
            ) from exc

    def get(self, name: str) -> dict[str, str] | None:
        return _decode(self._call("get_password", name))

    def set(self, name: str, secret: dict[str, str]) -> None:
        self._call("set_password", name, json.dumps(secret, sort_keys=True))

    def delete(self, name: str) -> None:
        self._call("delete_password", name)


class LazyKeyringStore:
    """The OS keyring, opened on the first secret actually needed: commands that touch no secret (a report, the
    item list) work on a machine without a keyring; those that do get `KeyringUnavailable` with how to get one."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service
        self._store: KeyringCredentialStore | None = None
        self._lock = threading.Lock()

    def _open(self) -> KeyringCredentialStore:
        with self._lock:
            if self._store is None:
                self._store = KeyringCredentialStore(self.service)
            return self._store

    def describe(self) -> str:
        return self._open().describe()

    def get(self, name: str) -> dict[str, str] | None:
        return self._open().get(name)

    def set(self, name: str, secret: dict[str, str]) -> None:
        self._open().set(name, secret)

    def delete(self, name: str) -> None:
        self._open().delete(name)


class MemoryCredentialStore:
    """Secrets in this process only, gone when it exits. For the demo's sandbox credentials and for tests."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "memory (this session only)"

    def get(self, name: str) -> dict[str, str] | None:
        with self._lock:
            found = self._data.get(name)
            return dict(found) if found is not None else None

    def set(self, name: str, secret: dict[str, str]) -> None:
        with self._lock:
            self._data[name] = dict(secret)

    def delete(self, name: str) -> None:
        with self._lock:
            self._data.pop(name, None)


def connection_entry(profile: str, system: str, connection_id: str) -> str:
    """The keyring user name of one connection's secret."""
    return f"{profile}/{system}/{connection_id}"
