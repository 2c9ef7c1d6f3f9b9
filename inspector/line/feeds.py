"""Where parts come from: a hot folder, a replayed folder (each file once), or snaps of a camera.

A feed turns triggers into `Part`s, one at a time, and never drops one: file feeds wait for the
scorer (the next file is taken only when the pipeline asks). Folder feeds keep a ledger of the
files they delivered, so a restarted station neither repeats nor skips a file.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

from ..camera.base import CameraError, FrameSource
from ..camera.hotfolder import HotFolder
from ..camera.replay import list_images
from ..core.errors import ImageError, InspectorError
from ..core.image_io import load_image
from ..storage.workspace import Workspace
from .ledger import Ledger
from .parts import Part

log = logging.getLogger(__name__)

SOURCE_FORMS = "hotfolder:DIR, replay:DIR or camera:N"


def _identity(path: Path) -> Optional[tuple[int, int]]:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Feed(ABC):
    """One source of parts. `next_part` is called from the scoring thread only."""

    description = ""
    record_source = "file"  # the history's source column: "file" or "camera"
    ledger: Optional[Ledger] = None

    def open(self) -> None:
        """Open (or reopen after a fault); raises CameraError saying what to check."""

    @abstractmethod
    def next_part(self, timeout: float) -> Optional[Part]:
        """The next part, or None when none came within `timeout` s; CameraError on a fault."""

    def begin(self, part: Part, product: str) -> None:
        """Called just before the part's record is written."""
        if self.ledger is not None and part.identity is not None:
            self.ledger.mark_pending(part.name, part.identity, product)

    def done(self, part: Part, record_id: int, product: str) -> None:
        """Called right after the part's record committed (record_id 0: skipped, no record)."""
        if self.ledger is not None and part.identity is not None:
            self.ledger.mark_done(part.name, part.identity, record_id, product)

    @property
    def finished(self) -> bool:
        """True when a replay played its last file (live feeds never finish)."""
        return False

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()  # reopens on next use, so a closed feed can be opened again


class _LedgeredHotFolder(HotFolder):
    """A HotFolder that treats files the ledger already holds as seen (not decoded again)."""

    def __init__(self, folder: Path, ledger: Ledger, **kw: float) -> None:
        super().__init__(folder, include_existing=True, **kw)
        self.ledger = ledger

    def _open(self) -> None:
        super()._open()
        for mtime_ns, name, size in self._scan():
            if self.ledger.is_done(name, (size, mtime_ns)):
                self._seen.add(name)


class HotFolderFeed(Feed):
    """Each complete new image in `folder` is one part (files there at start count too,
    unless the ledger says they were inspected). The trigger time is the file's mtime."""

    record_source = "camera"

    def __init__(self, ws: Workspace, folder: str | Path, station: str,
                 poll_interval: float = 0.01, settle: float = 0.02) -> None:
        self.folder = Path(folder).expanduser()
        self.station = station
        self.description = f"hot folder {self.folder}"
        self.ledger = Ledger(ws, self.folder)
        self._hot = _LedgeredHotFolder(self.folder, self.ledger, poll_interval=poll_interval,
                                       settle=settle)
        self._opened_wall = 0.0

    def open(self) -> None:
        if self.folder.is_dir():
            self._recover()
        self._hot.close()
        self._hot.open()
        self._opened_wall = time.time()

    def _recover(self) -> None:
        for name in self.ledger.recover(self.station):
            log.info("%s was recorded before the last stop; not inspected again", name)

    def next_part(self, timeout: float) -> Optional[Part]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._hot.read(timeout=max(0.0, deadline - time.monotonic()))
            if frame is None:
                return None
            path = self.folder / frame.name
            try:
                data = path.read_bytes()
                st = os.stat(path)
            except OSError:  # taken away right after it settled: the decoded image still counts
                data, st = None, None
            identity = (st.st_size, st.st_mtime_ns) if st else None
            if identity is not None and self.ledger.is_done(frame.name, identity):
                continue
            arrived = st.st_mtime if st else time.time()
            return Part(image=frame.image, name=frame.name, data=data, suffix=path.suffix.lower(),
                        identity=identity, trigger_wall=max(arrived, self._opened_wall))

    def close(self) -> None:
        self._hot.close()
        super().close()


class ReplayFeed(Feed):
    """The images of a folder in name order, each once (or round and round with `loop`,
    each pass new parts and no ledger). A file is read only when the pipeline asks for it."""

    def __init__(self, ws: Workspace, folder: str | Path, station: str, loop: bool = False) -> None:
        self.folder = Path(folder).expanduser()
        self.station = station
        self.loop = loop
        self.description = f"replay {self.folder}" + (" (loop)" if loop else "")
        self.ledger = None if loop else Ledger(ws, self.folder)
        self._paths: list[Path] = []
        self._next = 0
        self._finished = False

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"replay folder {self.folder} not found: check the path")
        try:
            self._paths = list_images(self.folder)
        except OSError as exc:
            raise CameraError(f"cannot list {self.folder}: {exc.strerror or exc}") from None
        if not self._paths:
            raise CameraError(f"no images in {self.folder}: put PNG, JPEG, BMP or TIFF files there")
        if self.ledger is not None:
            for name in self.ledger.recover(self.station):
                log.info("%s was recorded before the last stop; not inspected again", name)
        self._next, self._finished = 0, False

    @property
    def finished(self) -> bool:
        return self._finished

    def next_part(self, timeout: float) -> Optional[Part]:
        while not self._finished:
            if self._next >= len(self._paths):
                if not self.loop:
                    self._finished = True
                    return None
                self._next = 0
            path = self._paths[self._next]
            self._next += 1
            identity = _identity(path)
            if identity is None:
                log.warning("replay skips %s: it is gone", path.name)
                continue
            if self.ledger is not None and self.ledger.is_done(path.name, identity):
                continue
            try:
                data = path.read_bytes()
                image = load_image(path)
            except (ImageError, OSError) as exc:
                log.warning("replay skips %s: %s", path.name, exc)
                continue
            return Part(image=image, name=path.name, data=data, suffix=path.suffix.lower(),
                        identity=identity, trigger_wall=time.time())
        return None


class SnapFeed(Feed):
    """One frame of a camera (any FrameSource) per software trigger: the first frame captured
    after the pipeline asked, so a frame waiting from before the trigger is never the part."""

    record_source = "camera"

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.description = source.description

    def open(self) -> None:
        self.source.close()
        self.source.open()

    @property
    def finished(self) -> bool:
        return self.source.finished

    def next_part(self, timeout: float) -> Optional[Part]:
        asked = time.monotonic()
        deadline = asked + timeout
        while True:
            frame = self.source.read(timeout=max(0.0, deadline - time.monotonic()))
            if frame is None:
                return None
            if frame.timestamp >= asked:
                return Part(image=frame.image, name=frame.name, trigger_wall=time.time())

    def close(self) -> None:
        self.source.close()


def open_feed(ws: Workspace, spec: str, station: str, loop: bool = False) -> Feed:
    """hotfolder:DIR | replay:DIR | camera:N -> a feed (not opened). InspectorError when bad."""
    kind, sep, rest = (spec or "").partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if not sep or not rest:
        raise InspectorError(f"source {spec!r} is not one of {SOURCE_FORMS} — e.g. --source "
                             "hotfolder:/data/line")
    if kind == "hotfolder":
        folder = Path(rest).expanduser()
        if not folder.is_dir():
            raise InspectorError(f"hot folder {folder} not found — create it or check the path")
        return HotFolderFeed(ws, folder, station)
    if kind == "replay":
        folder = Path(rest).expanduser()
        if not folder.is_dir():
            raise InspectorError(f"replay folder {folder} not found — check the path")
        return ReplayFeed(ws, folder, station, loop=loop)
    if kind == "camera":
        if not rest.isdigit():
            raise InspectorError(f"{spec!r}: camera numbers are 0, 1, ... — e.g. --source camera:0")
        from ..camera.opencv import OpenCVDevice

        return SnapFeed(OpenCVDevice(int(rest)))
    raise InspectorError(f"unknown source kind '{kind}' — give {SOURCE_FORMS}")
