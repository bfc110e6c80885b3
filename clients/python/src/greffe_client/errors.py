"""The client's exceptions: one base class, so callers can catch everything Greffe-related at once."""
from typing import Optional


class GreffeError(Exception):
    """Base class of every error this package raises."""


class ApiError(GreffeError):
    """The server answered with an error status; `message` is its `{"error": …}` text."""

    def __init__(self, status: int, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.retry_after = retry_after


class TransportError(GreffeError):
    """The server could not be reached, or every retry failed before an answer came."""


class VerificationError(GreffeError):
    """A signature, proof, commitment or format check failed: the data must not be trusted."""
