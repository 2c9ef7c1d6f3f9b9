"""Frame sources for the Live view: cameras, streams, video files and image folders (no Qt).

    source = open_source("folder:/data/cookie/test", fps=30)   # or "0", "rtsp://...", "a.mp4"
    with source:
        frame = source.read(timeout=1.0)   # Frame(image uint8 RGB (H, W, 3), index, timestamp, name)

`LatestFrameSlot` hands the newest frame from the capture thread to the scorer (older unread
frames are dropped, never queued) and `FpsMeter` measures display and scoring rates.
"""

from .base import CameraError, Frame, FrameSource
from .hotfolder import HotFolder
from .opencv import OpenCVDevice, OpenCVStream, VideoFile
from .rates import FpsMeter, LatestFrameSlot
from .replay import FolderReplay
from .sources import ACCEPTED_FORMS, open_source, reconnect

__all__ = [
    "ACCEPTED_FORMS", "CameraError", "FolderReplay", "FpsMeter", "Frame", "FrameSource",
    "HotFolder", "LatestFrameSlot", "OpenCVDevice", "OpenCVStream", "VideoFile",
    "open_source", "reconnect",
]
