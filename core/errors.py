"""Errors certops raises on purpose. Each carries a message a user can act on; entry points print it as one line."""

from __future__ import annotations

from collections.abc import Sequence

from core.model import Reason


class CertopsError(Exception):
    """A failure with a message meant for the user (no traceback)."""


class NotInitialised(CertopsError):
    """The data directory has not been set up with `certops init`."""


class StoreCorrupted(CertopsError):
    """A data file cannot be read; certops stops rather than start empty."""


class NotFound(CertopsError):
    """An id names nothing certops knows."""


class InvalidInput(CertopsError):
    """Input that is malformed before any rule applies (a bad file, a bad record)."""


class RuleViolation(CertopsError):
    """One or more domain rules refuse the request. `reasons` lists every violated rule."""

    def __init__(self, reasons: Sequence[Reason], headline: str = "refused") -> None:
        self.reasons = list(reasons)
        self.headline = headline
        super().__init__(f"{headline}: " + "; ".join(str(r) for r in self.reasons))


class WaiverRequired(CertopsError):
    """An irreversible combination was asked for without the refund waiver (C7)."""


class ProviderError(CertopsError):
    """The certificate provider refused or failed a request."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or throttled us; the same call may succeed later."""


class OperationNotSupported(ProviderError):
    """The provider has no way to do this through its API (CAS has no combine call)."""


class NotifierError(CertopsError):
    """A notice could not be delivered now; it stays queued and is retried."""
