"""Turn what the user typed into a frame source, and retry a source that dropped out."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional

from ..core.image_io import is_image_path
from ..core.progress import CancelFn, check_cancel
from .base import CameraError, FrameSource
from .hotfolder import HotFolder
from .opencv import OpenCVDevice, OpenCVStream, VideoFile, hide_password
from .replay import FolderReplay, _check_fps

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                  "srt://")
ACCEPTED_FORMS = ("a camera number (0, 1, ...), a stream URL (rtsp://... or http://...), "
                  "a video file, folder:PATH or an existing folder (replay its images), "
                  "or hotfolder:PATH (watch a folder for new images)")


def _strip_prefix(spec: str, prefix: str) -> Optional[str]:
    if spec.lower().startswith(prefix):
        path = spec[len(prefix):].strip()
        if not path:
            raise CameraError(f"{spec!r} names no folder: write {prefix}PATH")
        return path
    return None


def open_source(spec: str, fps: Optional[float] = None, loop: bool = True) -> FrameSource:
    """Build the source `spec` names; it is not opened yet (call `open()` or just `read()`).

    spec: "0", "1"... -> OpenCVDevice; "rtsp://..."/"http://..." -> OpenCVStream;
        "camera:N" and "video:PATH" are accepted too;
        a video file -> VideoFile at its own rate unless `fps` is given;
        "folder:PATH" or an existing folder -> FolderReplay at `fps` (default 30);
        "hotfolder:PATH" -> HotFolder (fps and loop do not apply).
    fps: frames per second for replays (0: as fast as frames decode); a request for cameras.
    loop: replays start again at the end (False: `finished` becomes True).
    Raises CameraError naming the spec and the accepted forms.
    """
    _check_fps(fps)
    text = (spec or "").strip()
    if not text:
        raise CameraError(f"no frame source given: give {ACCEPTED_FORMS}")
    lower = text.lower()
    if text.isdigit():
        return OpenCVDevice(int(text), fps=fps)
    if lower.startswith("camera:"):
        number = text[len("camera:"):].strip()
        if not number.isdigit():
            raise CameraError(f"{spec!r}: camera numbers are 0, 1, ... (e.g. camera:0)")
        return OpenCVDevice(int(number), fps=fps)
    if lower.startswith(STREAM_SCHEMES):
        return OpenCVStream(text, fps=fps)
    hot = _strip_prefix(text, "hotfolder:")
    if hot is not None:
        folder = Path(hot).expanduser()
        if not folder.is_dir():
            raise CameraError(f"hot folder {folder} not found: create it or check the path")
        return HotFolder(folder)
    replay = _strip_prefix(text, "folder:")
    if replay is not None:
        folder = Path(replay).expanduser()
        if not folder.is_dir():
            raise CameraError(f"image folder {folder} not found: check the path")
        return FolderReplay(folder, fps=fps, loop=loop)
    video = _strip_prefix(text, "video:")
    path = Path(video if video is not None else text).expanduser()
    if path.is_dir() and video is None:
        return FolderReplay(path, fps=fps, loop=loop)
    if path.is_file():
        if is_image_path(path):
            raise CameraError(f"{path} is a single image: give its folder (folder:{path.parent}) "
                              "to replay images like a camera, or inspect it with `inspector "
                              "inspect`")
        return VideoFile(path, fps=fps, loop=loop)
    if video is not None or "/" in text or "\\" in text or path.suffix:
        raise CameraError(f"no such file or folder: {path}; a frame source is {ACCEPTED_FORMS}")
    raise CameraError(f"unknown frame source {hide_password(text)!r}: give {ACCEPTED_FORMS}")


def reconnect(source: FrameSource, attempts: int = 5, delay: float = 1.0,
              cancel: Optional[CancelFn] = None,
              on_attempt: Optional[Callable[[int, int, Optional[CameraError]], None]] = None,
              ) -> int:
    """Close `source` and call `open()` until it works; returns the attempt that succeeded.

    delay: seconds between attempts. on_attempt(attempt, attempts, last_error) is called
    before each attempt (for a status line). Raises CameraError after `attempts` failures
    (with the last reason) and Cancelled when `cancel()` turns True.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    last: Optional[CameraError] = None
    for attempt in range(1, attempts + 1):
        check_cancel(cancel)
        if on_attempt is not None:
            on_attempt(attempt, attempts, last)
        source.close()
        try:
            source.open()
            if attempt > 1:
                log.info("%s reconnected after %d attempts", source.description, attempt)
            return attempt
        except CameraError as exc:
            last = exc
            log.warning("reconnect %s: attempt %d/%d failed: %s",
                        source.description, attempt, attempts, exc)
        if attempt < attempts:
            end = time.monotonic() + delay
            while time.monotonic() < end:  # sleep in slices so cancel is honoured
                check_cancel(cancel)
                time.sleep(min(0.05, max(0.0, end - time.monotonic())))
    raise CameraError(f"{source.description}: could not reconnect after {attempts} attempts "
                      f"({last})")
