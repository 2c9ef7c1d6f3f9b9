"""Replayed sources that behave like a camera: an image folder and a video file.

Frames are decoded ahead on a background thread (a small bounded queue) and delivered at the
source's rate. Pacing never drifts: frame i is due at start + i / fps, so a late frame is
followed by earlier ones until the schedule is met again; after a stall longer than
`MAX_CATCH_UP_S` the schedule restarts from now instead of bursting.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from abc import abstractmethod
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..core.errors import ImageError
from ..core.image_io import is_image_path, load_image
from .base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)

DEFAULT_FOLDER_FPS = 30.0
DEFAULT_VIDEO_FPS = 30.0  # used when a video file does not say its rate
MAX_CATCH_UP_S = 1.0
DECODE_AHEAD = 8  # frames decoded ahead of the reader
FOLDER_CACHE_BYTES = 256 * 1024 * 1024  # decoded images kept for the next loop

_END = object()
_CLOSED = object()


def natural_key(name: str) -> list:
    """Sort "img2.png" before "img10.png" (camera frame counters are often not zero-padded)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (no hidden files), in natural name order."""
    files = [p for p in folder.iterdir()
             if p.is_file() and is_image_path(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def _check_fps(fps: Optional[float]) -> None:
    if fps is not None and not fps >= 0:
        raise CameraError(f"frame rate must be a positive number of frames per second, got {fps}")


class _PacedReplay(FrameSource):
    """Delivers frames produced by `_frames()` (run on a decode thread) at `nominal_fps`.

    nominal_fps == 0 means unpaced: frames come as fast as they decode.
    """

    def __init__(self, loop: bool) -> None:
        super().__init__()
        self.loop = bool(loop)
        self._queue: queue.Queue = queue.Queue(maxsize=DECODE_AHEAD)
        self._thread: Optional[threading.Thread] = None
        self._t0: Optional[float] = None
        self._next = 0
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    @abstractmethod
    def _frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, str]]:
        """Yield (uint8 RGB image, name) in play order; loops itself when `self.loop`."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Check/acquire what `_frames` needs; raise CameraError (runs in open())."""

    def _open(self) -> None:
        self._prepare()
        self._queue = queue.Queue(maxsize=DECODE_AHEAD)
        self._t0, self._next, self._finished = None, 0, False
        stop = self._stop
        self._thread = threading.Thread(target=self._produce, args=(stop, self._queue),
                                        name=f"decode {self.description}", daemon=True)
        self._thread.start()

    def _produce(self, stop: threading.Event, out: queue.Queue) -> None:
        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        frames = self._frames(stop)
        try:
            for item in frames:
                if not put(item):
                    return
            put(_END)
        except CameraError as exc:
            put(exc)
        except Exception as exc:  # a decoder bug must reach the reader, not die silently
            log.exception("decoding %s failed", self.description)
            put(CameraError(f"{self.description}: decoding failed ({exc})"))
        finally:
            frames.close()  # runs the generator's cleanup (file handles) on this thread

    def _read(self, timeout: float) -> Optional[Frame]:
        if self._finished:
            return None
        deadline = time.monotonic() + timeout
        fps = self.nominal_fps
        if fps > 0 and self._t0 is not None:
            due = self._t0 + self._next / fps
            wait = due - time.monotonic()
            if wait > timeout:  # not due within the timeout: behave like a camera that is idle
                self._sleep(timeout)
                return None
        try:
            item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None  # decoding slower than asked; the schedule catches up below
        if item is _CLOSED:
            return None
        if item is _END:
            self._finished = True
            return None
        if isinstance(item, CameraError):
            raise item
        image, name = item
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now  # the schedule starts with the first frame read, not at open()
        elif fps > 0:
            due = self._t0 + self._next / fps
            if now - due > MAX_CATCH_UP_S:
                self._t0 = now - self._next / fps  # long stall: restart the schedule
            elif self._sleep(due - now):
                return None  # closed while waiting
        frame = Frame(image=image, index=self._next, timestamp=time.monotonic(), name=name)
        self._next += 1
        return frame

    def _release(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            try:  # unblock a producer waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=2.0)
        try:  # wake a read() waiting for a frame; it returns None
            self._queue.put_nowait(_CLOSED)
        except queue.Full:
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        """Release file handles after the decode thread stopped."""


class FolderReplay(_PacedReplay):
    """A simulated camera: the images of a folder in natural name order at `fps`.

    Images are decoded with `load_image` on a background thread; decoded images are kept
    (up to 256 MB) so later loops cost only a copy. Unreadable files are skipped with a
    warning and listed in `skipped`; the folder's file list is taken at `open()`.
    """

    def __init__(self, folder: str | Path, fps: Optional[float] = None, loop: bool = True) -> None:
        super().__init__(loop)
        _check_fps(fps)
        self.folder = Path(folder).expanduser()
        self.nominal_fps = DEFAULT_FOLDER_FPS if fps is None else float(fps)
        rate = f"{self.nominal_fps:g} FPS" if self.nominal_fps > 0 else "full speed"
        self.description = f"folder {self.folder} @ {rate}" + ("" if self.loop else ", once")
        self.skipped: list[str] = []
        self._paths: list[Path] = []

    def _prepare(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"image folder {self.folder} not found: check the path")
        try:
            self._paths = list_images(self.folder)
        except OSError as exc:
            raise CameraError(f"cannot list {self.folder}: {exc.strerror or exc}") from None
        if not self._paths:
            raise CameraError(f"no images in {self.folder}: put PNG, JPEG, BMP or TIFF files there")
        self.skipped = []

    @property
    def image_count(self) -> int:
        """Images found at the last open() (0 before)."""
        return len(self._paths)

    def _frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, str]]:
        cache: dict[Path, np.ndarray] = {}
        cached_bytes = 0
        bad: set[Path] = set()
        while True:
            delivered = 0
            for path in self._paths:
                if stop.is_set():
                    return
                if path in bad:
                    continue
                image = cache.get(path)
                if image is not None:
                    image = image.copy()  # the receiver owns its frame; the cache stays intact
                else:
                    try:
                        image = load_image(path)
                    except ImageError as exc:
                        log.warning("folder replay skips %s", exc)
                        bad.add(path)
                        self.skipped.append(str(exc))
                        continue
                    if cached_bytes + image.nbytes <= FOLDER_CACHE_BYTES:
                        cache[path] = image.copy()
                        cached_bytes += image.nbytes
                delivered += 1
                yield image, path.name
            if delivered == 0:
                first = self.skipped[0] if self.skipped else "files vanished"
                raise CameraError(f"none of the {len(self._paths)} images in {self.folder} "
                                  f"could be read ({first})")
            if not self.loop:
                return
