"""The hot folder against the ways real writers fill a file: each file is returned exactly once
and pixel-identical to what was written.

- preallocate then fill (Windows Explorer / robocopy / SMB copies): the file appears at its
  final size full of zeros and is written front to back, pausing longer than `settle`;
- a slow writer that pauses longer than `give_up` (the file must not be skipped for ever);
- write under a temporary name, then rename into place.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from inspector.camera import HotFolder
from inspector.core.image_io import COMPLETE, INCOMPLETE, SUSPECT, image_completeness

SETTLE, GIVE_UP = 0.2, 0.6  # short, so that the tests exercise pauses longer than both


def _picture(seed: int, h: int = 120, w: int = 161) -> np.ndarray:
    """A gradient with noise (nowhere black: a zero byte run means "not written yet")."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 3 + seed) % 200, (y * 2) % 200, (x + y) % 200], axis=2) + 30
    return (base + rng.integers(0, 25, (h, w, 3))).astype(np.uint8)


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def preallocate_then_fill(path: Path, data: bytes, pause: float, chunks: int = 8) -> None:
    """Create `path` at its final size (zeros), then write it front to back in `chunks`
    pieces, pausing `pause` seconds after the first half."""
    with open(path, "wb") as f:
        f.truncate(len(data))
        f.flush()
        step = -(-len(data) // chunks)
        for i in range(0, len(data), step):
            if i >= len(data) // 2 and pause:
                time.sleep(pause)
                pause = 0
            f.write(data[i:i + step])
            f.flush()
            time.sleep(0.01)


def slow_writer(path: Path, data: bytes, pause: float) -> None:
    with open(path, "wb") as f:
        f.write(data[: len(data) // 3])
        f.flush()
        time.sleep(pause)
        f.write(data[len(data) // 3:])


def rename_into_place(path: Path, data: bytes, pause: float) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(pause)
        f.write(data[len(data) // 2:])
    os.replace(tmp, path)


def _run(tmp_path: Path, writer: Callable[[Path, bytes, float], None], fmt: str, pause: float,
         **source_kw) -> tuple[list, HotFolder, list[list[str]]]:
    """Start `writer` on one file, read the hot folder until well after it finished."""
    drop = tmp_path / "drop"
    drop.mkdir()
    suffix = {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
    data = _encode(_picture(7), fmt)
    frames, skipped_seen = [], []
    with HotFolder(drop, settle=SETTLE, give_up=GIVE_UP, **source_kw) as source:
        thread = threading.Thread(target=writer, args=(drop / f"part.{suffix}", data, pause))
        thread.start()
        finished_at = None
        while finished_at is None or time.monotonic() - finished_at < 1.0:
            frame = source.read(timeout=0.05)
            if frame is not None:
                frames.append((frame, data))
            skipped_seen.append(source.skipped)
            if finished_at is None and not thread.is_alive():
                finished_at = time.monotonic()
        thread.join()
    return frames, source, skipped_seen


def _assert_once_and_identical(frames) -> None:
    assert len(frames) == 1, f"delivered {len(frames)} times"
    frame, data = frames[0]
    assert np.array_equal(frame.image, _decoded(data)), "delivered before it was fully written"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_preallocated_then_filled_file_is_delivered_complete(tmp_path, fmt):
    frames, _, _ = _run(tmp_path, preallocate_then_fill, fmt, pause=3 * SETTLE)
    _assert_once_and_identical(frames)


def test_writer_pausing_longer_than_give_up_is_delivered_when_it_finishes(tmp_path):
    # the 11 s pause of a real share, scaled down: the pause outlasts settle and give_up
    frames, source, skipped_seen = _run(tmp_path, slow_writer, "PNG", pause=GIVE_UP + 1.0)
    _assert_once_and_identical(frames)
    assert any(skipped_seen), "the paused file was never reported as skipped"
    assert "part.png" in next(s for s in skipped_seen if s)[0]
    assert source.skipped == []  # it changed, was watched again, and was delivered


def test_preallocated_bmp_with_a_pause_longer_than_give_up(tmp_path):
    frames, _, _ = _run(tmp_path, preallocate_then_fill, "BMP", pause=GIVE_UP + 0.3,
                        suspect_settle=GIVE_UP + 1.0)
    _assert_once_and_identical(frames)


def test_rename_into_place_is_delivered_once(tmp_path):
    frames, _, skipped_seen = _run(tmp_path, rename_into_place, "JPEG", pause=2 * SETTLE)
    _assert_once_and_identical(frames)
    assert not any(skipped_seen)


def test_a_broken_file_is_skipped_until_it_is_replaced(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    good = _encode(_picture(3), "PNG")
    with HotFolder(drop, settle=SETTLE, give_up=GIVE_UP) as source:
        (drop / "x.png").write_bytes(good[:200] + b"\x07" * 300)  # garbage that never completes
        deadline = time.monotonic() + GIVE_UP + 2.0
        while not source.skipped and time.monotonic() < deadline:
            assert source.read(timeout=0.05) is None
        assert source.skipped and source.skipped[0].startswith("x.png: ")
        (drop / "x.png").write_bytes(good)  # the same name, now complete
        frame = source.read(timeout=3.0)
        assert frame is not None and frame.name == "x.png"
        assert np.array_equal(frame.image, _decoded(good)) and source.skipped == []
        assert source.read(timeout=3 * SETTLE) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_completeness_of_every_prefix_of_a_preallocated_file(tmp_path, fmt):
    data = _encode(_picture(11), fmt)
    path = tmp_path / "f"
    for k in range(0, len(data), max(1, len(data) // 97)):
        path.write_bytes(data[:k] + bytes(len(data) - k))  # written up to k, zeros after
        state, why = image_completeness(path)
        assert state in (INCOMPLETE, SUSPECT) and why, (k, state)
    path.write_bytes(data)
    assert image_completeness(path) == (COMPLETE, "")
    path.write_bytes(data[:-1])  # truncated by one byte
    assert image_completeness(path)[0] == INCOMPLETE


def test_an_image_with_a_black_last_row_is_delivered_after_a_quiet_spell(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    picture = _picture(5)
    picture[0] = 0  # BMP rows are stored bottom-up: the top row is the last bytes of the file
    data = _encode(picture, "BMP")
    with HotFolder(drop, settle=SETTLE, suspect_settle=1.0) as source:
        tmp = drop / ".x.bmp"
        tmp.write_bytes(data)
        os.replace(tmp, drop / "x.bmp")  # appears complete at once: could be a preallocated copy
        start = time.monotonic()
        frame = source.read(timeout=3.0)
        waited = time.monotonic() - start
        assert frame is not None and np.array_equal(frame.image, picture)
        assert waited >= 1.0  # held back until nothing changed for suspect_settle
        assert source.read(timeout=3 * SETTLE) is None


def test_a_black_last_row_seen_growing_is_not_held_back(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    picture = _picture(6)
    picture[0] = 0
    data = _encode(picture, "BMP")
    with HotFolder(drop, settle=SETTLE, suspect_settle=30.0) as source:
        thread = threading.Thread(target=slow_writer, args=(drop / "x.bmp", data, 3 * SETTLE))
        thread.start()
        frame = source.read(timeout=5.0)  # far less than suspect_settle
        thread.join()
        assert frame is not None and np.array_equal(frame.image, picture)
