"""Test-wide set-up: Qt offscreen before any Qt import, throw-away user directories, and the two real services
that some tests need (a Secret Service keyring, a PostgreSQL server), which `make test` starts for the run.

A test that needs one of those and finds it missing FAILS with a message saying how to run it, rather than
skipping quietly: a green run must mean the real parts were exercised.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = tempfile.mkdtemp(prefix="recondesk-tests-")
for _var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = os.path.join(_HOME, _var.lower())
if "RECONDESK_KEYRING_HOME" not in os.environ:  # with-keyring points XDG_DATA_HOME at the keyring's own dir
    os.environ["XDG_DATA_HOME"] = os.path.join(_HOME, "xdg_data_home")


@pytest.fixture
def secret_service() -> Iterator[object]:
    """The real Secret Service keyring of `scripts/with-keyring`; fails when not running under it."""
    if os.environ.get("RECONDESK_TEST_KEYRING") != "secret-service":
        pytest.fail("this test needs a real Secret Service: run it under scripts/with-keyring (make test does)")
    import keyring

    backend = keyring.get_keyring()
    assert type(backend).__module__ == "keyring.backends.SecretService", f"unexpected keyring backend {backend!r}"
    yield backend


@pytest.fixture
def pg_url() -> str:
    """URL of the throw-away PostgreSQL server of `scripts/with-postgres`."""
    url = os.environ.get("RECONDESK_TEST_PG_URL")
    if not url:
        if os.environ.get("RECONDESK_ALLOW_NO_PG") == "1":
            pytest.skip("RECONDESK_ALLOW_NO_PG=1: PostgreSQL tests explicitly turned off for this run")
        pytest.fail("this test needs PostgreSQL: run it under scripts/with-postgres (make test does)")
    return url
