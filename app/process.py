"""Process hardening, applied first thing by the command line and the GUI entry points (`harden()`):

- umask 0o077: every file Recondesk creates (cache, its -wal/-shm, settings, exports, lock files) is owner-only
  (0600 files, 0700 folders), whatever the user's default umask;
- no core dumps: RLIMIT_CORE 0 and, on Linux, PR_SET_DUMPABLE 0 (a core of an aborted sync would hold the password,
  the client secret and the tokens; not dumpable also stops other processes of the same user from ptrace-reading
  its memory). RLIMIT_CORE is inherited by child processes (dumpable is reset by exec).

Must not: import anything beyond the standard library, or fail the start: a platform without one of these keeps
going with what it has.
"""

from __future__ import annotations

import os
import sys

OWNER_ONLY_UMASK = 0o077
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl(option: int, arg: int = 0) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0))


def harden() -> None:
    """Owner-only files and no core dumps for this process and its children. Safe to call more than once."""
    os.umask(OWNER_ONLY_UMASK)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # Windows has no resource module; writes no cores by default
        pass
    if sys.platform.startswith("linux"):
        try:
            _prctl(PR_SET_DUMPABLE, 0)
        except (OSError, AttributeError):
            pass


def dumpable() -> int:
    """PR_GET_DUMPABLE on Linux (0: no core, no ptrace by peers); -1 elsewhere."""
    if not sys.platform.startswith("linux"):
        return -1
    return _prctl(PR_GET_DUMPABLE)
