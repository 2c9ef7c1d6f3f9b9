"""OpenCV sources: a local camera, a network stream (RTSP/HTTP) and a video file.

OpenCV delivers BGR; every frame here is converted to RGB. cv2 is imported inside functions
so `inspector --help` stays fast.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .base import CameraError, Frame, FrameSource
from .rates import LatestFrameSlot
from .replay import DEFAULT_VIDEO_FPS, _check_fps, _PacedReplay

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm",
                  ".ts", ".mts", ".h264", ".h265", ".mjpg", ".mjpeg", ".flv", ".ogv"}
FAILED_READS = 3  # consecutive failed reads that mean the camera is gone
MAX_SANE_FPS = 1000.0


def _cv2():
    import cv2

    return cv2


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV frame (H, W) grey, (H, W, 3) BGR or (H, W, 4) BGRA -> uint8 RGB (H, W, 3)."""
    cv2 = _cv2()
    if frame.dtype != np.uint8:  # 16-bit machine-vision cameras: keep the top 8 bits
        frame = (frame.astype(np.uint32) >> (8 * (frame.itemsize - 1))).astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _sane_fps(value: float) -> float:
    return float(value) if 0 < value <= MAX_SANE_FPS else 0.0


def hide_password(url: str) -> str:
    """rtsp://user:secret@host/x -> rtsp://user:***@host/x (for descriptions and messages)."""
    return re.sub(r"//([^:/@]*):([^@/]*)@", r"//\1:***@", url)


class VideoFile(_PacedReplay):
    """A video file replayed at its own frame rate (or `fps`), looping by default."""

    def __init__(self, path: str | Path, fps: Optional[float] = None, loop: bool = True) -> None:
        super().__init__(loop)
        _check_fps(fps)
        self.path = Path(path).expanduser()
        self._fps_override = fps
        self._cap = None
        self.nominal_fps = float(fps) if fps is not None else self._probe_fps()
        self._describe()

    def _describe(self) -> None:
        rate = f"{self.nominal_fps:g} FPS" if self.nominal_fps > 0 else "full speed"
        self.description = f"video {self.path.name} @ {rate}" + ("" if self.loop else ", once")

    def _open_capture(self):
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            if not self.path.is_file():
                raise CameraError(f"video {self.path} not found: check the path")
            raise CameraError(f"video {self.path} could not be opened: use a format OpenCV can "
                              "decode (MP4/H.264, AVI/MJPG, MKV, MOV)")
        return cap

    def _probe_fps(self) -> float:
        if not self.path.is_file():
            return DEFAULT_VIDEO_FPS
        try:
            cap = self._open_capture()
        except CameraError:
            return DEFAULT_VIDEO_FPS
        try:
            return _sane_fps(cap.get(_cv2().CAP_PROP_FPS)) or DEFAULT_VIDEO_FPS
        finally:
            cap.release()

    def _prepare(self) -> None:
        self._cap = self._open_capture()
        if self._fps_override is None:
            self.nominal_fps = _sane_fps(self._cap.get(_cv2().CAP_PROP_FPS)) or DEFAULT_VIDEO_FPS
            self._describe()

    def _frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, str]]:
        cv2 = _cv2()
        cap, self._cap = self._cap, None  # the decode thread owns the capture from here
        try:
            in_pass = 0
            while not stop.is_set():
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    in_pass += 1
                    yield to_rgb(bgr), ""
                    continue
                if in_pass == 0:
                    raise CameraError(f"video {self.path} has no frames OpenCV can decode: "
                                      "re-encode it as MP4/H.264 or AVI/MJPG")
                if not self.loop:
                    return
                in_pass = 0
                if not cap.set(cv2.CAP_PROP_POS_FRAMES, 0):  # some containers cannot seek
                    cap.release()
                    cap = self._open_capture()
        finally:
            cap.release()

    def _cleanup(self) -> None:
        cap, self._cap = self._cap, None  # opened but the decode thread never took it
        if cap is not None:
            cap.release()


class _Run:
    """State of one open() of a live source, shared with its grab thread."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.slot: LatestFrameSlot[Frame] = LatestFrameSlot()
        self.error: Optional[CameraError] = None
        self.last_frame_t = time.monotonic()
        self.thread: Optional[threading.Thread] = None


class _OpenCVLive(FrameSource):
    """A live OpenCV capture read on its own thread; only the newest frame is kept.

    When the reader is slower than the camera, older frames are dropped (counted in
    `dropped`; frame indices show the gaps) so latency never builds up.
    """

    def __init__(self, target: int | str, fps: Optional[float] = None,
                 stall_timeout: Optional[float] = 10.0) -> None:
        super().__init__()
        _check_fps(fps)
        self._target = target
        self._requested_fps = fps
        self.stall_timeout = stall_timeout  # None: wait forever (externally triggered cameras)
        self._run: Optional[_Run] = None

    @property
    def dropped(self) -> int:
        return self._run.slot.dropped if self._run else 0

    def _capture(self):
        return _cv2().VideoCapture(self._target)

    def _open_hint(self) -> str:
        raise NotImplementedError

    def _stopped_hint(self) -> str:
        raise NotImplementedError

    def _open(self) -> None:
        cv2 = _cv2()
        cap = self._capture()
        if not cap.isOpened():
            cap.release()
            raise CameraError(self._open_hint())
        if self._requested_fps:
            cap.set(cv2.CAP_PROP_FPS, float(self._requested_fps))
        self.nominal_fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        run = _Run()
        run.thread = threading.Thread(target=self._grab, args=(cap, run), daemon=True,
                                      name=f"grab {self.description}")
        self._run = run
        run.thread.start()

    def _grab(self, cap, run: _Run) -> None:
        failures, index = 0, 0
        try:
            while not run.stop.is_set():
                ok, raw = cap.read()
                if run.stop.is_set():
                    break
                if not ok or raw is None:
                    failures += 1
                    if failures >= FAILED_READS:
                        run.error = CameraError(self._stopped_hint())
                        run.slot.close()
                        return
                    run.stop.wait(0.05)
                    continue
                failures = 0
                run.slot.put(Frame(image=to_rgb(raw), index=index, timestamp=time.monotonic()))
                run.last_frame_t = time.monotonic()
                index += 1
        finally:
            cap.release()  # the grab thread owns the capture: never released while reading

    def _read(self, timeout: float) -> Optional[Frame]:
        run = self._run
        if run is None:
            return None
        frame = run.slot.get(timeout)
        if frame is not None:
            return frame
        if run.error is not None:
            raise run.error
        idle = time.monotonic() - run.last_frame_t
        if self.stall_timeout is not None and idle > self.stall_timeout and not run.stop.is_set():
            raise CameraError(f"{self._stopped_hint()} (nothing for {idle:.0f} s)")
        return None

    def _release(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        run.stop.set()
        run.slot.close()
        if run.thread is not None and run.thread is not threading.current_thread():
            run.thread.join(timeout=1.0)  # a hung driver may keep it; it releases when it returns


class OpenCVDevice(_OpenCVLive):
    """A camera attached to this computer (USB/UVC, or any device OpenCV lists by number)."""

    def __init__(self, index: int, fps: Optional[float] = None,
                 stall_timeout: Optional[float] = 10.0) -> None:
        super().__init__(int(index), fps, stall_timeout)
        self.index = int(index)
        self.description = f"camera {self.index}"

    def _open_hint(self) -> str:
        return (f"camera {self.index} could not be opened: check that it is connected and "
                "powered, that no other program is using it, and the camera number "
                "(0 is the first camera)")

    def _stopped_hint(self) -> str:
        return (f"camera {self.index} stopped sending frames: check the cable/power, "
                "then reconnect")


class OpenCVStream(_OpenCVLive):
    """A network camera stream (rtsp://, http:// MJPEG, ...) read through FFmpeg."""

    def __init__(self, url: str, fps: Optional[float] = None,
                 stall_timeout: Optional[float] = 10.0, open_timeout: float = 10.0) -> None:
        super().__init__(url, fps, stall_timeout)
        self.url = url
        self.open_timeout = float(open_timeout)
        self.description = f"stream {hide_password(url)}"

    def _capture(self):
        cv2 = _cv2()
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.open_timeout * 1000)]
        try:
            return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        except cv2.error:  # an OpenCV without FFmpeg: let it pick a backend
            return cv2.VideoCapture(self.url)

    def _open_hint(self) -> str:
        return (f"stream {hide_password(self.url)} could not be opened: check the address, "
                "user and password, the network, and that the camera is on")

    def _stopped_hint(self) -> str:
        return (f"stream {hide_password(self.url)} stopped sending frames: check the network "
                "and the camera's power, then reconnect")
