"""Retrying transient read errors with exponential backoff (:class:`RetryPolicy`).

Only *transient* read errors are retried (:func:`is_transient`): EIO, EAGAIN,
EINTR, EBUSY, ESTALE, and a file missing or shorter than its index says
(``ENOENT``, a short read: what a reader sees while a cook swaps files). Format
errors, a path escaping its root, unknown keys and cancellation fail at once.

Thread rules: :class:`RetryPolicy` is immutable (any thread). :func:`call_with_retry`
runs in a greenlet of the loader's owning hub: it sleeps greenlet-style between
attempts, so nothing else waits (the caller must not hold a decode slot while it
sleeps: the attempt function takes its own).
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable, TypeVar

import gevent

from oxy.errors import FormatError, OperationCancelled
from oxy.runtime.errors import SourceReadError

__all__ = ["NO_RETRY", "RetryPolicy", "call_with_retry", "is_transient"]

T = TypeVar("T")
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.EBUSY, errno.ESTALE,
                              errno.ENOENT})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` tries in all (1 = no retry); the n-th retry waits
    ``min(max_delay, initial_delay * backoff ** (n - 1))`` seconds."""

    max_attempts: int = 3
    initial_delay: float = 0.1
    max_delay: float = 5.0
    backoff: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must be >= 0")
        if self.backoff < 1:
            raise ValueError(f"RetryPolicy.backoff must be >= 1, got {self.backoff}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * self.backoff ** (retry - 1)))


NO_RETRY = RetryPolicy(max_attempts=1)


def is_transient(exc: BaseException) -> bool:
    """True for a read error worth retrying (see the module docstring)."""
    if isinstance(exc, (FormatError, OperationCancelled)):
        return False
    if isinstance(exc, SourceReadError):
        return bool(getattr(exc, "transient", True))
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def call_with_retry(policy: RetryPolicy, attempt: Callable[[], T],
                    on_retry: Callable[[int, BaseException, float], object] | None = None,
                    failed_first: BaseException | None = None) -> T:
    """``attempt()`` until it succeeds, raises a non-transient error, or ``policy``
    runs out (then its last error is raised, with a note saying how many attempts
    were made). ``on_retry(retry_number, error, delay)`` runs before each wait.
    ``failed_first``: a first attempt already made elsewhere failed with this error
    (it counts as attempt 1). Owning-hub greenlet only (sleeps with gevent)."""
    tries = 0
    if failed_first is not None:
        tries = 1
        if not is_transient(failed_first) or tries >= policy.max_attempts:
            raise failed_first
        delay = policy.delay(tries)
        if on_retry is not None:
            on_retry(tries, failed_first, delay)
        gevent.sleep(delay)
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised when not retried
            if not is_transient(exc) or tries >= policy.max_attempts:
                if tries > 1 and is_transient(exc):
                    exc.add_note(f"gave up after {tries} attempts (transient read error)")
                raise
            delay = policy.delay(tries)
            if on_retry is not None:
                on_retry(tries, exc, delay)
        gevent.sleep(delay)
