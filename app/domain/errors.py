"""Errors as data for people: every error a user can meet says what happened and what to do.

Must not: carry secrets. Anything that formats a message from a response must scrub it first (connectors.http).
"""

from __future__ import annotations


class RecondeskError(Exception):
    """Base class. `str(err)` is the message for the user; `hint` says what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_text(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigurationError(RecondeskError):
    """A connection or setting is missing or wrong."""


class KeyringUnavailable(RecondeskError):
    """No OS keyring; we never fall back to plaintext."""


class ConnectorError(RecondeskError):
    """A call to a remote system failed. `system` is the system's value ("accessplanit"/"xero")."""

    def __init__(self, message: str, hint: str = "", *, system: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.system = system
        self.status = status


class AuthenticationError(ConnectorError):
    """Credentials refused, token revoked or `invalid_grant`: the user must reconnect."""


class RateLimited(ConnectorError):
    """The service said slow down. `retry_after` seconds; `problem` is minute/day/concurrent/hour."""

    def __init__(
        self, message: str, hint: str = "", *, system: str = "", retry_after: float = 60.0, problem: str = "minute"
    ) -> None:
        super().__init__(message, hint, system=system, status=429)
        self.retry_after = retry_after
        self.problem = problem


class TransientError(ConnectorError):
    """Timeout, reset, 5xx, truncated or non-JSON body: worth retrying."""


class RejectedError(ConnectorError):
    """The service refused the request (validation). Not worth retrying as is. `details` lists its reasons."""

    def __init__(
        self, message: str, hint: str = "", *, system: str = "", status: int | None = 400, details: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, hint, system=system, status=status)
        self.details = details


class NotFoundError(ConnectorError):
    """The record or endpoint does not exist."""


class StorageError(RecondeskError):
    """The cache database failed (disk full, locked, damaged, unreachable). The step in progress was rolled back;
    everything committed before it is kept."""


class CancelledError(RecondeskError):
    """The user cancelled; work done so far is kept."""

    def __init__(self, message: str = "Cancelled.", hint: str = "") -> None:
        super().__init__(message, hint)
