"""Critical sections that a Ctrl-C cannot cut in half.

Applying a pruning decision changes several tensors (weights, masks, optimizer state) or,
at channel level, the shapes of several modules. An interrupt in the middle would leave
them inconsistent, so the applying code runs inside :func:`deferred_interrupt`: a SIGINT
that arrives meanwhile is remembered and raised as ``KeyboardInterrupt`` once the section
is complete (only in the main thread, where Python delivers signals).
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["deferred_interrupt"]


@contextlib.contextmanager
def deferred_interrupt():
    """Run the body to completion; re-raise a Ctrl-C received meanwhile at its end.

    Examples
    --------
    >>> from skscreen.pruning._atomic import deferred_interrupt
    >>> with deferred_interrupt():
    ...     total = sum(range(10))
    >>> total
    45
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def remember(signum, frame):
        received.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, remember)
    except ValueError:  # pragma: no cover - e.g. signals unavailable in this interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
