"""The triggered pipeline: one part, one verdict, one record; retention; restart; faults."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import pytest
from PIL import Image

from line_fixtures import fitted_workspace, register_meandiff, write_part

from inspector.core.errors import InspectorError
from inspector.line import HotFolderFeed, LinePipeline, ReplayFeed, SnapFeed
from inspector.services.inspections import query_history


@pytest.fixture
def lws(tmp_path, monkeypatch):
    register_meandiff(monkeypatch)
    ws = fitted_workspace(tmp_path / "ws")
    yield ws
    ws.close()


def _folder(root, n, ng_every=0):
    for i in range(n):
        write_part(root / f"{i:03d}.png", i, defect=bool(ng_every) and i % ng_every == 0)
    return root


def _run(pipe, **kw):
    stop = threading.Event()
    pipe.run(stop, **kw)


def test_replay_plays_each_file_once_and_records_ok_and_ng(lws, tmp_path):
    folder = _folder(tmp_path / "in", 12, ng_every=4)
    pipe = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st", retention="all")
    seen = []
    pipe.add_listener(seen.append)
    _run(pipe)
    assert [r.name for r in seen] == [f"{i:03d}.png" for i in range(12)]
    assert [r.seq for r in seen] == list(range(1, 13))
    assert len({r.part_id for r in seen}) == 12
    assert [r.verdict for r in seen] == ["NG" if i % 4 == 0 else "OK" for i in range(12)]
    assert (pipe.inspected, pipe.ng) == (12, 3)
    rows = query_history(lws, "p")
    assert sorted(r.original_name for r in rows) == [f"{i:03d}.png" for i in range(12)]
    assert all(r.station == "st" and r.source == "file" for r in rows)
    # keep all: the stored image is the file as written
    first = next(r for r in rows if r.original_name == "000.png")
    assert lws.abs_path(first.image_path).read_bytes() == (folder / "000.png").read_bytes()
    assert all(r.cycle_ms >= r.inspect_ms >= 0 for r in seen)


@pytest.mark.parametrize("retention", ["ng", "thumbs"])
def test_retention_keeps_records_for_ok_parts(lws, tmp_path, retention, monkeypatch):
    import inspector.line.pipeline as pipeline

    monkeypatch.setattr(pipeline, "THUMB_SIDE", 32)  # below the 64 x 48 test images
    folder = _folder(tmp_path / "in", 6, ng_every=3)
    pipe = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st", retention=retention)
    _run(pipe)
    rows = query_history(lws, "p")
    assert len(rows) == 6
    for r in rows:
        if r.verdict == "NG":
            assert lws.abs_path(r.image_path).read_bytes() == (folder / r.original_name).read_bytes()
        elif retention == "ng":
            assert r.image_path is None
        else:
            with Image.open(lws.abs_path(r.image_path)) as im:
                assert im.size == (32, 24)


def test_unfitted_and_unknown_products_are_refused(lws, tmp_path):
    from inspector.services.products import create_product

    create_product(lws, "raw", engine="meandiff")
    feed = ReplayFeed(lws, _folder(tmp_path / "in", 1), "st")
    with pytest.raises(InspectorError, match=r"product 'raw' is not fitted — fit and publish it "
                                             r"first with `inspector fit raw`"):
        LinePipeline(lws, "raw", feed, station="st")
    with pytest.raises(InspectorError, match="unknown product 'nope'.*fit and publish it first"):
        LinePipeline(lws, "nope", feed, station="st")
    with pytest.raises(InspectorError, match="retention"):
        LinePipeline(lws, "p", feed, station="st", retention="some")
    assert query_history(lws) == []


def test_restart_inspects_the_rest_exactly_once(lws, tmp_path):
    folder = _folder(tmp_path / "in", 10)
    first = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    _run(first, max_parts=4)
    first.feed.close()
    again = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    names = []
    again.add_listener(lambda r: names.append(r.name))
    _run(again)
    assert names == [f"{i:03d}.png" for i in range(4, 10)]
    assert Counter(r.original_name for r in query_history(lws, "p")) == Counter(
        f"{i:03d}.png" for i in range(10))


def test_crash_between_record_and_ledger_does_not_repeat_the_part(lws, tmp_path, monkeypatch):
    folder = _folder(tmp_path / "in", 5)
    feed = ReplayFeed(lws, folder, "st")
    pipe = LinePipeline(lws, "p", feed, station="st")
    _run(pipe, max_parts=2)
    monkeypatch.setattr(feed, "done", lambda *a: None)  # the process dies before the ledger row
    _run(pipe, max_parts=1)
    assert feed.ledger.count() == 2 and len(query_history(lws, "p")) == 3
    feed.close()
    # the same file names in another folder are other parts: the recovery must not take them
    other = _folder(tmp_path / "other", 3)
    b = LinePipeline(lws, "p", ReplayFeed(lws, other, "st"), station="st")
    _run(b)
    assert b.inspected == 3
    again = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    names = []
    again.add_listener(lambda r: names.append(r.name))
    _run(again)
    assert names == ["003.png", "004.png"]
    assert Counter(r.original_name for r in query_history(lws, "p")) == Counter(
        [f"{i:03d}.png" for i in range(5)] + [f"{i:03d}.png" for i in range(3)])


def test_crash_before_the_record_committed_inspects_the_part_again(lws, tmp_path, monkeypatch):
    import inspector.line.pipeline as pipeline

    folder = _folder(tmp_path / "in", 3)
    pipe = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    _run(pipe, max_parts=1)

    def crash(*a, **k):
        raise SystemExit("killed while writing the record")

    monkeypatch.setattr(pipeline, "record_inspection", crash)
    with pytest.raises(SystemExit):
        _run(pipe, max_parts=1)
    monkeypatch.undo()
    pipe.feed.close()
    again = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    names = []
    again.add_listener(lambda r: names.append(r.name))
    _run(again)
    assert names == ["001.png", "002.png"]
    assert len(query_history(lws, "p")) == 3


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from pathlib import Path
    from PIL import Image
    out = Path(sys.argv[1])
    for i in range(int(sys.argv[2])):
        rng = np.random.default_rng(i)
        a = np.clip(120 + rng.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(out / f"cam_{i:04d}.png")   # written in place, not renamed
        if i % 10 == 0:
            time.sleep(0.01)
""")


def test_hot_folder_200_images_from_another_process(lws, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    pipe = LinePipeline(lws, "p", HotFolderFeed(lws, hot, "st"), station="st", retention="ng")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(hot), "200"])
    stop = threading.Event()
    threading.Timer(90, stop.set).start()  # a safety net only
    try:
        pipe.run(stop, max_parts=200)
    finally:
        stop.set()
        writer.wait(30)
    time.sleep(0.3)  # anything extra would show up now
    rows = query_history(lws, "p")
    assert len(rows) == 200
    assert Counter(r.original_name for r in rows) == Counter(f"cam_{i:04d}.png" for i in range(200))
    assert all(r.source == "camera" for r in rows)


def test_hot_folder_that_disappears_faults_and_recovers(lws, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    pipe = LinePipeline(lws, "p", HotFolderFeed(lws, hot, "st"), station="st", fault_retry_s=0.1)
    states = []
    pipe.add_state_listener(lambda s, why: states.append((s, why)))
    stop = threading.Event()
    t = threading.Thread(target=pipe.run, args=(stop,), kwargs={"max_parts": 2})
    t.start()
    write_part(hot / "a.png", 1)
    _wait(lambda: pipe.inspected == 1)
    shutil.rmtree(hot)
    _wait(lambda: pipe.state == "fault")
    assert "is gone" in pipe.reason or "not found" in pipe.reason
    hot.mkdir()
    _wait(lambda: pipe.state == "running")
    write_part(hot / "b.png", 2)
    t.join(20)
    stop.set()
    assert not t.is_alive()
    assert [s for s, _ in states][:3] == ["running", "fault", "running"]
    assert sorted(r.original_name for r in query_history(lws, "p")) == ["a.png", "b.png"]


def test_software_trigger_snaps_one_frame_per_trigger(lws, tmp_path):
    from inspector.camera import FolderReplay

    camera = FolderReplay(_folder(tmp_path / "cam", 3), fps=0, loop=True)  # stands in for a camera
    pipe = LinePipeline(lws, "p", SnapFeed(camera), station="st", software_trigger=True)
    got = []
    pipe.add_listener(got.append)
    stop = threading.Event()
    t = threading.Thread(target=pipe.run, args=(stop,))
    t.start()
    time.sleep(0.3)
    assert got == []  # no trigger, no part
    ids = [pipe.trigger() for _ in range(5)]
    _wait(lambda: len(got) == 5)
    stop.set()
    t.join(10)
    assert [r.part_id for r in got] == ids
    assert len(query_history(lws, "p")) == 5
    with pytest.raises(InspectorError, match="triggered by its source"):
        LinePipeline(lws, "p", ReplayFeed(lws, tmp_path / "cam", "st"), station="st").trigger()


def _wait(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_a_part_the_engine_refuses_is_skipped_once_and_the_line_goes_on(lws, tmp_path, monkeypatch):
    folder = _folder(tmp_path / "in", 4)
    pipe = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    predict = pipe.detector.predict
    calls = []

    def picky(image):
        calls.append(1)
        if len(calls) == 2:
            raise InspectorError("image is 1x1 px — give a larger image")
        return predict(image)

    monkeypatch.setattr(pipe.detector, "predict", picky)
    _run(pipe)
    assert (pipe.inspected, pipe.skipped) == (3, 1)
    assert sorted(r.original_name for r in query_history(lws, "p")) == ["000.png", "002.png", "003.png"]
    pipe.feed.close()
    again = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st")
    _run(again)
    assert again.inspected == 0  # the refused file is not tried again after a restart


def test_snap_takes_a_frame_captured_after_the_trigger_not_one_waiting_from_before():
    import numpy as np

    from inspector.camera.base import Frame, FrameSource

    class Camera(FrameSource):  # a camera whose mailbox still holds a frame from before
        def _open(self):
            self.frames = [Frame(np.zeros((4, 4, 3), np.uint8), 0, time.monotonic() - 0.05),
                           None]

        def _read(self, timeout):
            if self.frames and self.frames[0] is not None:
                return self.frames.pop(0)
            time.sleep(0.01)
            return Frame(np.full((4, 4, 3), 7, np.uint8), 1, time.monotonic())

        def _release(self):
            pass

    feed = SnapFeed(Camera())
    feed.open()
    part = feed.next_part(timeout=1.0)
    assert part is not None and int(part.image[0, 0, 0]) == 7


def test_recheck_parts_are_counted_kept_whole_and_sent(lws, tmp_path):
    """A borderline part (inside the recheck band) is neither OK nor NG: counted on its own, sent
    with the counts, and its image kept whole under --retain ng, since a person decides it."""
    from inspector.services.engine_state import set_recheck_band

    set_recheck_band(lws, "p", 0.5)  # goods' scores sit near the threshold: most become RECHECK
    folder = _folder(tmp_path / "in", 8, ng_every=4)
    pipe = LinePipeline(lws, "p", ReplayFeed(lws, folder, "st"), station="st", retention="ng")
    seen = []
    pipe.add_listener(seen.append)
    _run(pipe)
    verdicts = Counter(r.verdict for r in seen)
    assert verdicts["RECHECK"] > 0 and verdicts["NG"] == 2
    assert (pipe.inspected, pipe.ng, pipe.recheck) == (8, verdicts["NG"], verdicts["RECHECK"])
    last = seen[-1].to_message()["counts"]
    assert last == {"inspected": 8, "ng": verdicts["NG"], "recheck": verdicts["RECHECK"]}
    assert f"{verdicts['RECHECK']} RECHECK]" in seen[-1].log_line()
    rows = query_history(lws, "p")
    for r in rows:
        if r.verdict in ("NG", "RECHECK"):
            assert lws.abs_path(r.image_path).read_bytes() == (folder / r.original_name).read_bytes()
        else:
            assert r.image_path is None
    pipe.reset_counts()
    assert (pipe.inspected, pipe.ng, pipe.recheck) == (0, 0, 0)
