"""Hand-over between threads without queues that grow, and a rolling frame-rate meter."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """A single-item mailbox: `put` replaces what is there, `get` takes the newest.

    The producer (camera thread) never blocks and memory never grows: when the consumer
    (scorer) is slower, the older unread item is dropped and counted in `dropped`.
    Thread-safe for any number of producers and consumers.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._has_item = False
        self._closed = False
        self.put_count = 0
        self.get_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store `item`; returns True when an unread item was replaced (dropped)."""
        with self._cond:
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item = item
            self._has_item = True
            self.put_count += 1
            self._cond.notify_all()
            return replaced

    def get(self, timeout: Optional[float] = None) -> Optional[T]:
        """Take the newest item, waiting up to `timeout` seconds (None: wait until one comes).

        Returns None on timeout or once `close()` was called and the slot is empty.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            self.get_count += 1
            return item

    def peek(self) -> Optional[T]:
        """The newest item without taking it (None when empty)."""
        with self._cond:
            return self._item if self._has_item else None

    def clear(self) -> None:
        with self._cond:
            self._item, self._has_item = None, False

    def close(self) -> None:
        """Wake every waiting `get` (they return None once the slot is empty)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed


class FpsMeter:
    """Rolling events-per-second over the last `window` seconds (default 2). Thread-safe.

    Call `tick()` once per frame shown/scored; `fps()` is exact for a steady stream and
    decays to 0 within `window` seconds after the ticks stop.
    """

    def __init__(self, window: float = 2.0) -> None:
        if window <= 0:
            raise ValueError("window must be > 0 seconds")
        self.window = float(window)
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0  # ticks since creation/reset

    def tick(self, now: Optional[float] = None) -> None:
        """Record one event at `now` (default `time.monotonic()`)."""
        t = time.monotonic() if now is None else float(now)
        with self._lock:
            self._times.append(t)
            self.count += 1
            self._prune(t)

    def fps(self, now: Optional[float] = None) -> float:
        """Events per second over the window ending at `now` (default: the current time)."""
        t = time.monotonic() if now is None else float(now)
        with self._lock:
            self._prune(t)
            n = len(self._times)
            if n < 2:
                return 0.0
            first, last = self._times[0], self._times[-1]
            span = last - first
            if span <= 0:
                return 0.0
            mean_gap = span / (n - 1)
            # a gap longer than usual since the last tick means the stream slowed or stopped
            span += max(0.0, (t - last) - mean_gap)
            return (n - 1) / span

    def reset(self) -> None:
        with self._lock:
            self._times.clear()
            self.count = 0

    def _prune(self, now: float) -> None:
        limit = now - self.window
        while self._times and self._times[0] < limit:
            self._times.popleft()
