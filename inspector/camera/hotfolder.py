"""Watch a folder where a line camera drops images; return each new complete file once.

Polling only (no extra dependency, works on network shares). A file is returned when
(1) its size and modification time did not change over `stable_polls` polls spanning at least
`settle` seconds, (2) its bytes are structurally complete (`core.image_io.image_completeness`:
PNG chunks and IEND, JPEG end-of-image after the scan, BMP/TIFF pixel data inside the file),
and (3) it decodes. Windows and SMB copies create a file at its final size filled with zeros
and then write it front to back, so size and header look final early: a BMP or TIFF whose last
pixel bytes are still zero is returned only after `suspect_settle` quiet seconds (or at once
when it was seen growing, as a sequential writer's file does). Ready files come oldest first
(by modification time, then name). A file that stays unchanged and incomplete or undecodable
for `give_up` seconds is listed in `skipped` with a warning, and is still watched: when it
changes (a writer that paused resumes) it is pending again and returned once complete.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import ImageError
from ..core.image_io import INCOMPLETE, SUSPECT, image_completeness, is_image_path, load_image
from .base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    signature: tuple[int, int]  # (size, mtime_ns) when last seen
    since: float  # monotonic time the signature was first seen
    polls: int = 1  # consecutive polls that saw this signature
    grew: bool = False  # seen at a smaller non-zero size: written in sequence, not preallocated
    checked: float = float("-inf")  # monotonic time of the last content check
    failing_since: Optional[float] = None  # first failed check of this unchanged file
    skipped: bool = False  # listed in `skipped` (unchanged and unreadable for give_up seconds)


def _is_candidate(name: str) -> bool:
    # camera software often writes "~x.png", ".x.png" or "x.png.part" and renames when done
    return not name.startswith((".", "~")) and is_image_path(Path(name))


class HotFolder(FrameSource):
    """New images appearing in `folder`, each returned once (nominal_fps is 0: unknown).

    include_existing: also return the images already there at `open()` (default: only new ones).
    poll_interval, settle, suspect_settle, give_up: seconds; stable_polls: polls (see module doc).
    """

    def __init__(self, folder: str | Path, include_existing: bool = False,
                 poll_interval: float = 0.05, settle: float = 0.25, give_up: float = 10.0,
                 stable_polls: int = 3, suspect_settle: float = 2.0) -> None:
        super().__init__()
        self.folder = Path(folder).expanduser()
        self.include_existing = include_existing
        self.poll_interval = float(poll_interval)
        self.settle = float(settle)
        self.give_up = float(give_up)
        self.stable_polls = max(2, int(stable_polls))
        self.suspect_settle = float(suspect_settle)
        self.nominal_fps = 0.0
        self.description = f"hot folder {self.folder}"
        self._skipped: dict[str, str] = {}
        self._seen: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._next = 0

    @property
    def skipped(self) -> list[str]:
        """Why each file that is unchanged and unreadable for `give_up` seconds is not returned
        (a file leaves this list when it changes: it is watched again)."""
        return list(self._skipped.values())

    def _scan(self) -> list[tuple[int, str, int]]:
        """(mtime_ns, name, size) of candidate files; CameraError when the folder is gone."""
        entries = []
        try:
            with os.scandir(self.folder) as it:
                for entry in it:
                    if not _is_candidate(entry.name):
                        continue
                    try:
                        if not entry.is_file():
                            continue
                        st = entry.stat()
                    except OSError:  # removed between listing and stat
                        continue
                    entries.append((st.st_mtime_ns, entry.name, st.st_size))
        except FileNotFoundError:
            raise CameraError(f"hot folder {self.folder} is gone: check that the drive or "
                              "network share is connected") from None
        except NotADirectoryError:
            raise CameraError(f"hot folder {self.folder} is not a folder: check the path") from None
        except OSError as exc:
            raise CameraError(f"hot folder {self.folder} cannot be read ({exc.strerror or exc}): "
                              "check the share and its permissions") from None
        return entries

    def _open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"hot folder {self.folder} not found: create it or check the path")
        self._pending, self._next, self._skipped = {}, 0, {}
        entries = self._scan()
        self._seen = set() if self.include_existing else {name for _, name, _ in entries}

    def _release(self) -> None:
        self._pending = {}

    def _read(self, timeout: float) -> Optional[Frame]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._poll()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._sleep(min(self.poll_interval, remaining)):
                return None

    def _poll(self) -> Optional[Frame]:
        """One look at the folder; returns the oldest new file that is complete, if any."""
        entries = self._scan()
        now = time.monotonic()
        present = {name for _, name, _ in entries}
        self._seen &= present  # a name that is deleted and written again counts as new
        for name in [n for n in self._pending if n not in present]:
            del self._pending[name]
            self._skipped.pop(name, None)
        for mtime_ns, name, size in sorted(entries):
            if name in self._seen:
                continue
            signature = (size, mtime_ns)
            pending = self._pending.get(name)
            if pending is None or pending.signature != signature:
                grew = pending is not None and (pending.grew or 0 < pending.signature[0] < size)
                if pending is not None and self._skipped.pop(name, None) is not None:
                    log.info("hot folder: %s changed, watching it again", name)
                self._pending[name] = _Pending(signature, now, grew=grew)  # new or being written
                continue
            pending.polls += 1
            if size == 0 or pending.polls < self.stable_polls or now - pending.since < self.settle:
                continue
            # an unchanged unreadable file is looked at again now and then, not at every poll
            retry = self.give_up if pending.skipped else self.settle
            if now - pending.checked < retry:
                continue
            frame = self._try_deliver(name, pending, now)
            if frame is not None:
                return frame
        return None

    def _failed(self, name: str, pending: _Pending, now: float, why: str) -> None:
        if pending.failing_since is None:
            pending.failing_since = now
        elif not pending.skipped and now - pending.failing_since >= self.give_up:
            log.warning("hot folder skips %s until it changes (%s, unchanged for %.0f s)",
                        name, why, self.give_up)
            pending.skipped = True
            self._skipped[name] = f"{name}: {why}"

    def _try_deliver(self, name: str, pending: _Pending, now: float) -> Optional[Frame]:
        path = self.folder / name
        pending.checked = now
        try:
            state, why = image_completeness(path)
        except OSError as exc:
            state, why = INCOMPLETE, f"cannot be read ({exc.strerror or exc})"
        if state == SUSPECT and not pending.grew and now - pending.since < self.suspect_settle:
            return None  # maybe preallocated and still being filled: wait for a longer quiet spell
        if state == INCOMPLETE:
            self._failed(name, pending, now, why)
            return None
        try:
            image = load_image(path)
            st = path.stat()
        except (ImageError, OSError) as exc:
            # complete-looking but not decodable: the writer paused mid-file, or the file is broken
            self._failed(name, pending, now, str(exc))
            return None
        if (st.st_size, st.st_mtime_ns) != pending.signature:  # changed while we decoded it
            return None  # the next poll sees the new signature and starts watching it afresh
        self._seen.add(name)
        del self._pending[name]
        self._skipped.pop(name, None)
        frame = Frame(image=image, index=self._next, timestamp=time.monotonic(), name=name)
        self._next += 1
        return frame
