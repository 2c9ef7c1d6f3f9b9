"""Frame sources: replay pacing and looping, hot folder, video files, errors, slot, FPS meter."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.camera import (CameraError, FolderReplay, FpsMeter, Frame, HotFolder,
                              LatestFrameSlot, OpenCVDevice, OpenCVStream, VideoFile,
                              open_source, reconnect)
from inspector.camera import hotfolder as hotfolder_module
from inspector.core.image_io import encode_png, load_image, save_png


def _image(seed: int, size: int = 512) -> np.ndarray:
    """A smooth gradient with noise: compresses like a real photo, unlike pure noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([(x + 7 * seed) % 256, (y + 13 * seed) % 256, (x + y) // 4 % 256], axis=2)
    noise = rng.integers(0, 24, (size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _image_folder(folder: Path, names: list[str], size: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        save_png(folder / name, _image(i, size))
    return folder


def _write_video(path: Path, colours_rgb: list[tuple[int, int, int]], fps: float = 25.0) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for r, g, b in colours_rgb:
        writer.write(np.full((48, 64, 3), (b, g, r), np.uint8))  # OpenCV writes BGR
    writer.release()
    return path


# --- folder replay ---------------------------------------------------------------------------

def test_folder_replay_paces_512px_pngs_at_30_fps_without_drift(tmp_path):
    folder = _image_folder(tmp_path / "imgs", [f"f{i:02d}.png" for i in range(10)], size=512)
    source = open_source(f"folder:{folder}", fps=30)
    assert isinstance(source, FolderReplay)
    assert source.nominal_fps == 30 and "30 FPS" in source.description
    with source:
        frames = [source.read(timeout=1.0) for _ in range(31)]  # about 1 s, loops 3 times
    assert all(f is not None for f in frames)
    stamps = np.array([f.timestamp for f in frames])
    measured = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert measured == pytest.approx(30, rel=0.10)
    # scheduled by start + index / fps: the last frame is on time, not late by summed jitter
    assert abs((stamps[-1] - stamps[0]) - 30 / 30) < 0.05
    assert [f.index for f in frames] == list(range(31))
    assert frames[0].image.shape == (512, 512, 3) and frames[0].image.dtype == np.uint8
    assert np.array_equal(frames[10].image, load_image(folder / "f00.png"))


def test_folder_replay_loops_in_natural_name_order(tmp_path):
    folder = _image_folder(tmp_path / "imgs", ["img10.png", "img2.png", "img1.png"])
    (folder / "notes.txt").write_text("not an image")
    with FolderReplay(folder, fps=0) as source:  # fps 0: as fast as frames decode
        names = [source.read().name for _ in range(7)]
        assert not source.finished
    assert names == ["img1.png", "img2.png", "img10.png"] * 2 + ["img1.png"]


def test_folder_replay_once_finishes(tmp_path):
    folder = _image_folder(tmp_path / "imgs", ["a.png", "b.png", "c.png"])
    source = open_source(str(folder), fps=200, loop=False)  # an existing folder is a replay
    first = source.read()  # read() opens a new source
    assert source.is_open and first.name == "a.png"
    assert [source.read().name for _ in range(2)] == ["b.png", "c.png"]
    assert not source.finished
    assert source.read() is None and source.finished
    t = time.monotonic()
    assert source.read(timeout=1.0) is None
    assert time.monotonic() - t < 0.1  # finished: no waiting
    source.open()  # a finished source is still open; open() is a no-op then
    source.close()
    source.open()  # reopening starts again
    assert source.read().name == "a.png" and not source.finished
    source.close()


def test_folder_replay_skips_unreadable_images(tmp_path):
    folder = _image_folder(tmp_path / "imgs", ["a.png", "c.png"])
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with FolderReplay(folder, fps=0) as source:
        assert [source.read().name for _ in range(4)] == ["a.png", "c.png", "a.png", "c.png"]
        assert len(source.skipped) == 1 and "b.png" in source.skipped[0]


def test_folder_replay_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraError, match="no images"):
        FolderReplay(tmp_path / "empty").open()
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"garbage")
    source = FolderReplay(folder, fps=0)
    with pytest.raises(CameraError, match="could be read"):
        source.read()
    with pytest.raises(CameraError, match="could be read"):  # stays failed until reopened
        source.read()
    source.close()


def test_replay_read_honours_timeout_and_close_wakes_it(tmp_path):
    folder = _image_folder(tmp_path / "imgs", ["a.png", "b.png"])
    source = FolderReplay(folder, fps=2)  # a frame every 0.5 s
    assert source.read().index == 0
    t = time.monotonic()
    assert source.read(timeout=0.1) is None  # not due yet
    assert 0.08 < time.monotonic() - t < 0.3
    assert source.read(timeout=1.0).index == 1  # not lost by the timeout
    threading.Timer(0.1, source.close).start()
    t = time.monotonic()
    assert source.read(timeout=0.45) is None  # due at 1.0 s, woken by close() at 0.1 s
    assert time.monotonic() - t < 0.3
    with pytest.raises(CameraError, match="closed"):
        source.read()


# --- hot folder ------------------------------------------------------------------------------

def test_hot_folder_returns_each_new_file_once_oldest_first(tmp_path):
    drop = tmp_path / "drop"
    _image_folder(drop, ["old.png"])
    source = open_source(f"hotfolder:{drop}")
    assert isinstance(source, HotFolder) and source.nominal_fps == 0
    with source:
        assert source.read(timeout=0.3) is None  # files there before open() are not new
        save_png(drop / "z_first.png", _image(1, 32))
        time.sleep(0.02)
        save_png(drop / "a_second.png", _image(2, 32))
        (drop / ".hidden.png").write_bytes(encode_png(_image(3, 32)))
        got = [source.read(timeout=2.0) for _ in range(2)]
        assert [f.name for f in got] == ["z_first.png", "a_second.png"]
        assert [f.index for f in got] == [0, 1]
        assert np.array_equal(got[0].image, _image(1, 32))
        assert source.read(timeout=0.3) is None  # each file once
    with HotFolder(drop, include_existing=True) as everything:
        names = {everything.read(timeout=2.0).name for _ in range(3)}
        assert names == {"old.png", "z_first.png", "a_second.png"}


def test_hot_folder_never_returns_a_half_written_file(tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    drop.mkdir()
    full = _image(5, 256)
    data = encode_png(full)
    refused, decoded = [], []
    real_check, real_load = hotfolder_module.image_completeness, hotfolder_module.load_image

    def watching_check(path):
        state, why = real_check(path)
        if state != "complete":
            refused.append(Path(path).stat().st_size)
        return state, why

    def watching_load(path):
        decoded.append(Path(path).stat().st_size)
        return real_load(path)

    monkeypatch.setattr(hotfolder_module, "image_completeness", watching_check)
    monkeypatch.setattr(hotfolder_module, "load_image", watching_load)

    def slow_camera():
        with open(drop / "part.png", "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(0.5)  # longer than settle: size looks stable, content is not complete
            f.write(data[len(data) // 2:])

    with HotFolder(drop, settle=0.1) as source:
        writer = threading.Thread(target=slow_camera)
        writer.start()
        frame = source.read(timeout=3.0)
        writer.join()
        assert frame is not None and frame.name == "part.png"
        assert np.array_equal(frame.image, full)
        assert refused and all(size < len(data) for size in refused)  # seen, judged incomplete
        assert decoded == [len(data)]  # only the complete file was decoded
        assert source.read(timeout=0.3) is None


def test_hot_folder_reports_a_vanished_folder(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    source = HotFolder(drop)
    source.open()
    drop.rmdir()
    with pytest.raises(CameraError, match="gone"):
        source.read(timeout=0.2)
    assert source.error is not None
    source.close()


# --- OpenCV sources --------------------------------------------------------------------------

COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)] * 3  # RGB, 12 frames


def test_video_file_reads_frames_in_rgb_at_its_rate(tmp_path):
    video = _write_video(tmp_path / "clip.avi", COLOURS, fps=25)
    source = open_source(str(video), loop=False)
    assert isinstance(source, VideoFile)
    assert source.nominal_fps == pytest.approx(25) and "25 FPS" in source.description
    with open_source(str(video), fps=400, loop=False) as fast:
        assert fast.nominal_fps == 400
        frames = []
        while (frame := fast.read(timeout=1.0)) is not None:
            frames.append(frame)
        assert fast.finished
    assert len(frames) == len(COLOURS)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].name == ""
    for frame, colour in zip(frames, COLOURS):
        mean = frame.image.reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - colour).max() < 20  # MJPG is lossy; channel order must be RGB


def test_video_file_loops(tmp_path):
    video = _write_video(tmp_path / "clip.avi", COLOURS[:4])
    with VideoFile(video, fps=0, loop=True) as source:
        frames = [source.read(timeout=1.0) for _ in range(10)]
    assert [f.index for f in frames] == list(range(10))
    reds = [f.image[..., 0].mean() > 200 for f in frames]
    assert reds == [True, False, False, True] * 2 + [True, False]


def test_live_stream_end_is_a_disconnect_and_reconnect_reopens(tmp_path):
    video = _write_video(tmp_path / "cam.avi", COLOURS)  # a "stream" that stops after 12 frames
    source = OpenCVStream(str(video))
    source.open()
    deadline = time.monotonic() + 5
    with pytest.raises(CameraError, match="stopped sending frames"):
        while time.monotonic() < deadline:
            source.read(timeout=0.5)
    with pytest.raises(CameraError, match="stopped sending frames"):  # until reopened
        source.read()
    attempts = []
    assert reconnect(source, attempts=2, delay=0, on_attempt=lambda *a: attempts.append(a)) == 1
    assert attempts == [(1, 2, None)]
    frame = source.read(timeout=2.0)
    assert isinstance(frame, Frame) and frame.image.shape == (48, 64, 3)
    source.close()


def test_missing_camera_says_what_to_check_and_reconnect_gives_up():
    source = open_source("99")
    assert isinstance(source, OpenCVDevice) and source.description == "camera 99"
    with pytest.raises(CameraError, match="camera 99 could not be opened: check"):
        source.open()
    with pytest.raises(CameraError, match="could not reconnect after 2 attempts"):
        reconnect(source, attempts=2, delay=0.01)


def test_stream_description_hides_the_password():
    source = open_source("rtsp://admin:secret@10.0.0.5/live")
    assert isinstance(source, OpenCVStream)
    assert "secret" not in source.description and "admin:***@10.0.0.5" in source.description


@pytest.mark.parametrize("spec, message", [
    ("", "no frame source given"),
    ("webcam", "unknown frame source 'webcam'.*camera number.*rtsp://.*folder:PATH.*hotfolder"),
    ("folder:/no/such/place", "image folder /no/such/place not found"),
    ("hotfolder:/no/such/place", "hot folder /no/such/place not found"),
    ("/no/such/clip.mp4", "no such file or folder: /no/such/clip.mp4"),
    ("folder:", "names no folder"),
    ("camera:x", "camera numbers are 0, 1"),
])
def test_bad_specs_raise_a_clear_camera_error(spec, message):
    with pytest.raises(CameraError, match=message):
        open_source(spec)


def test_files_that_are_not_videos(tmp_path):
    save_png(tmp_path / "one.png", _image(0, 32))
    with pytest.raises(CameraError, match="single image.*folder:"):
        open_source(str(tmp_path / "one.png"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CameraError, match="could not be opened"):
        open_source(str(tmp_path / "notes.txt")).open()
    with pytest.raises(CameraError, match="frame rate"):
        open_source(str(tmp_path), fps=-1)


# --- hand-over and rates ---------------------------------------------------------------------

def test_latest_frame_slot_keeps_only_the_newest():
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(0) is False
    for i in range(1, 5):
        assert slot.put(i) is True
    assert slot.dropped == 4 and slot.peek() == 4
    assert slot.get(timeout=0) == 4
    t = time.monotonic()
    assert slot.get(timeout=0.05) is None
    assert time.monotonic() - t >= 0.04
    threading.Timer(0.05, slot.put, args=(7,)).start()
    assert slot.get(timeout=2.0) == 7  # a waiting get wakes on put
    threading.Timer(0.05, slot.close).start()
    assert slot.get(timeout=2.0) is None  # and on close


def test_latest_frame_slot_fast_producer_slow_consumer():
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    produced = 2000

    def producer():
        for i in range(produced):
            slot.put(i)
            if i % 100 == 0:
                time.sleep(0.001)
        slot.close()

    got = []
    thread = threading.Thread(target=producer)
    thread.start()
    while (item := slot.get(timeout=2.0)) is not None:
        got.append(item)
        time.sleep(0.002)  # slower than the producer
    thread.join()
    assert got == sorted(got) and len(set(got)) == len(got)  # newest only, never repeated
    assert got[-1] == produced - 1
    assert slot.dropped + len(got) == produced and slot.dropped > 0


def test_fps_meter_rolling_rate_and_decay():
    meter = FpsMeter(window=2.0)
    assert meter.fps(now=0.0) == 0.0
    for i in range(150):  # 50 Hz for 3 s
        meter.tick(now=i / 50)
    last = 149 / 50
    assert meter.fps(now=last + 0.01) == pytest.approx(50, rel=0.01)
    assert meter.fps(now=last + 1.0) == pytest.approx(25, rel=0.05)  # stopped: 50 in the last 2 s
    assert meter.fps(now=last + 2.5) == 0.0
    meter.reset()
    for i in range(10):  # 10 Hz, then 20 Hz: the window follows the newest rate
        meter.tick(now=100 + i / 10)
    for i in range(1, 60):
        meter.tick(now=101 + i / 20)
    assert meter.fps(now=101 + 59 / 20) == pytest.approx(20, rel=0.02)


def test_fps_meter_is_thread_safe():
    meter = FpsMeter()

    def ticker():
        for _ in range(2000):
            meter.tick()

    threads = [threading.Thread(target=ticker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.count == 8000
    assert meter.fps() > 0
