"""Progress and cancel hooks passed into long work (the GUI wraps them in Qt signals)."""

from __future__ import annotations

from typing import Callable, Optional

from .errors import Cancelled

# progress(done, total, message): called between steps of long work.
ProgressFn = Callable[[int, int, str], None]
# cancel() -> True when the user asked to stop; long work checks it between steps.
CancelFn = Callable[[], bool]


def report(progress: Optional[ProgressFn], done: int, total: int, message: str = "") -> None:
    if progress is not None:
        progress(done, total, message)


def check_cancel(cancel: Optional[CancelFn]) -> None:
    """Raise Cancelled when the user asked to stop."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")
