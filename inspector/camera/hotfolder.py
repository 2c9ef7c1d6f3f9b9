"""Watch a folder where a line camera drops images; return each new complete file once.

Polling only (no extra dependency, works on network shares). A file is returned when
(1) its size and modification time did not change for `settle` seconds and (2) it decodes
completely, so a file still being written is never returned. Ready files come oldest first
(by modification time, then name). A file that stays undecodable for `give_up` seconds is
skipped with a warning and listed in `skipped`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import ImageError
from ..core.image_io import is_image_path, load_image
from .base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    signature: tuple[int, int]  # (size, mtime_ns) when last seen
    since: float  # monotonic time the signature was first seen unchanged
    failing_since: Optional[float] = None  # first failed decode of a stable file


def _is_candidate(name: str) -> bool:
    # camera software often writes "~x.png", ".x.png" or "x.png.part" and renames when done
    return not name.startswith((".", "~")) and is_image_path(Path(name))


class HotFolder(FrameSource):
    """New images appearing in `folder`, each returned once (nominal_fps is 0: unknown).

    include_existing: also return the images already there at `open()` (default: only new ones).
    poll_interval, settle, give_up: seconds.
    """

    def __init__(self, folder: str | Path, include_existing: bool = False,
                 poll_interval: float = 0.05, settle: float = 0.1, give_up: float = 10.0) -> None:
        super().__init__()
        self.folder = Path(folder).expanduser()
        self.include_existing = include_existing
        self.poll_interval = float(poll_interval)
        self.settle = float(settle)
        self.give_up = float(give_up)
        self.nominal_fps = 0.0
        self.description = f"hot folder {self.folder}"
        self.skipped: list[str] = []
        self._seen: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._next = 0

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
        self._pending, self._next, self.skipped = {}, 0, []
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
        for mtime_ns, name, size in sorted(entries):
            if name in self._seen:
                continue
            signature = (size, mtime_ns)
            pending = self._pending.get(name)
            if pending is None or pending.signature != signature:
                self._pending[name] = _Pending(signature, now)  # new or still growing
                continue
            if size == 0 or now - pending.since < self.settle:
                continue
            frame = self._try_decode(name, pending, now)
            if frame is not None:
                return frame
        return None

    def _try_decode(self, name: str, pending: _Pending, now: float) -> Optional[Frame]:
        path = self.folder / name
        try:
            image = load_image(path)
            st = path.stat()
        except (ImageError, OSError) as exc:
            # stable but not decodable: the writer paused mid-file, or the file is broken
            if pending.failing_since is None:
                pending.failing_since = now
            elif now - pending.failing_since > self.give_up:
                log.warning("hot folder skips %s (still unreadable after %.0f s)", exc, self.give_up)
                self.skipped.append(str(exc))
                self._seen.add(name)
                del self._pending[name]
            pending.since = now  # wait another settle period before retrying
            return None
        if (st.st_size, st.st_mtime_ns) != pending.signature:  # grew while we decoded it
            self._pending[name] = _Pending((st.st_size, st.st_mtime_ns), time.monotonic())
            return None
        self._seen.add(name)
        del self._pending[name]
        frame = Frame(image=image, index=self._next, timestamp=time.monotonic(), name=name)
        self._next += 1
        return frame
