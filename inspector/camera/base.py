"""The frame-source contract shared by cameras, streams, video files and image folders.

A source is created cheaply (nothing opened), then `open()`ed; `read()` returns one `Frame`
at a time. Sources are read from one thread; `close()` may be called from any thread and
wakes a `read()` that is waiting.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..core.errors import InspectorError


class CameraError(InspectorError):
    """A frame source cannot be opened or stopped delivering; the message says what to check."""


@dataclass
class Frame:
    """One captured image.

    image: uint8 RGB (H, W, 3), C-contiguous, owned by the receiver (safe to modify).
    index: 0, 1, 2... per source, restarting at 0 on each `open()`; gaps mean a live
        source dropped frames because its reader was slower than the camera.
    timestamp: `time.monotonic()` seconds when the frame was captured (or was due, for replays).
    name: the file name for folder sources, "" for cameras, streams and video files.
    """

    image: np.ndarray
    index: int
    timestamp: float
    name: str = ""


class FrameSource(ABC):
    """Base of every source. States: new -> open -> (failed | finished) -> closed.

    - `read()` on a source that was never opened opens it first.
    - After a failure `read()` raises the same CameraError until `open()` is called again
      (which is how a GUI retries; see `reconnect`).
    - After `close()` `read()` raises CameraError; `open()` may reopen it.
    """

    description: str = ""  # e.g. "folder /x @ 30 FPS", "camera 0", "video a.mp4 @ 25 FPS"
    nominal_fps: float = 0.0  # the source's frame rate; 0 when unknown (hot folder, some cameras)

    def __init__(self) -> None:
        self._state = "new"
        self._error: Optional[CameraError] = None
        self._stop = threading.Event()  # set by close(); wakes waiting reads
        self._lock = threading.RLock()  # serialises open/close

    # --- public API -----------------------------------------------------------------------

    def open(self) -> None:
        """Open (or reopen after a failure/close). A no-op on a source that is already open.

        Raises CameraError with a plain message saying what to check.
        """
        with self._lock:
            if self._state == "open":
                return
            self._release()
            self._stop = threading.Event()
            self._error = None
            try:
                self._open()
            except CameraError as exc:
                self._release()
                self._state = "failed"
                self._error = exc
                raise
            self._state = "open"

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        """The next frame, or None when none arrived within `timeout` seconds or the source
        is finished (see `finished`). Raises CameraError when the source failed or is closed.
        """
        state = self._state
        if state == "new":
            self.open()
        elif state == "failed":
            assert self._error is not None
            raise self._error
        elif state == "closed":
            raise CameraError(f"{self.description} is closed: open it again to read frames")
        try:
            return self._read(max(0.0, float(timeout)))
        except CameraError as exc:
            with self._lock:
                if self._state == "open":  # a close() racing with us wins
                    self._state = "failed"
                    self._error = exc
                    self._release()
            raise

    def close(self) -> None:
        """Stop and release the device/files. Safe to call twice and from another thread."""
        self._state = "closed"  # before waking a waiting read(), so its next call sees it
        self._stop.set()
        with self._lock:
            self._release()
            self._state = "closed"

    @property
    def finished(self) -> bool:
        """True at the end of a non-looping file or folder (live sources never finish)."""
        return False

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    @property
    def error(self) -> Optional[CameraError]:
        """The failure that stopped the source, if any (cleared by `open()`)."""
        return self._error

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description!r} {self._state}>"

    # --- for subclasses -------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Acquire the device/files; raise CameraError on failure. `self._stop` is fresh."""

    @abstractmethod
    def _read(self, timeout: float) -> Optional[Frame]:
        """Return the next frame, or None on timeout/end; raise CameraError on failure."""

    @abstractmethod
    def _release(self) -> None:
        """Release everything `_open` acquired; must be safe to call when nothing is held."""

    def _sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when close() interrupted the sleep."""
        if seconds <= 0:
            return self._stop.is_set()
        return self._stop.wait(seconds)
