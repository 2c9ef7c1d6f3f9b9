"""Live tab line mode: the verdict belongs to the image shown (continuous and triggered), one part
per trigger (hot folder, Space), a replay plays each file once, image retention from Settings.

On the fast `meandiff` test engine with 64x48 images."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from line_fixtures import fitted_workspace, register_meandiff, write_part
from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


@pytest.fixture
def line_ws(tmp_path, monkeypatch) -> Path:
    register_meandiff(monkeypatch)
    ws = fitted_workspace(tmp_path / "ws", "p")
    ws.close()
    return tmp_path / "ws"


def _parts(folder: Path, n: int, ng_every: int = 3) -> list[Path]:
    return [write_part(folder / f"part{i:03d}.png", 2000 + i, defect=(i % ng_every == 0)) for i in range(n)]


def _open_live(make_window, ws_root: Path, mode: str):
    w = make_window(ws_root)
    if w.state.product != "p":
        w.state.select_product("p")
    tab = w.tab_widgets["live"]
    w.show_tab("live")
    tab.set_mode(mode)
    tab.setFocus()
    return w, tab


class IdentityCheck:
    """Connected after the tab's own slots: on every update the main view, the banner and the
    result that was delivered must name the same frame, and the view must hold that image."""

    def __init__(self, tab) -> None:  # noqa: ANN001
        self.tab, self.updates, self.mismatches = tab, 0, []
        tab.result_shown.connect(self._shown)

    def _shown(self, frame_id: str) -> None:
        t = self.tab
        self.updates += 1
        got = (t.view.shown_frame_id, t.panel.banner.shown_frame_id, t.last_scored.frame_id)
        if len(set(got)) != 1 or got[0] != frame_id or t.view.shown_image is not t.last_scored.frame.image:
            self.mismatches.append(got)
        if t.panel.banner.state != t.last_scored.result.verdict:
            self.mismatches.append(("verdict", t.panel.banner.state, t.last_scored.result.verdict))


def test_continuous_main_view_and_banner_show_the_same_scored_frame(qtbot, make_window, line_ws, tmp_path):
    folder = tmp_path / "replay"
    _parts(folder, 12)
    w, tab = _open_live(make_window, line_ws, "continuous")
    check = IdentityCheck(tab)
    tab.set_source("folder", str(folder), fps=60)
    tab.start()
    wait_until(qtbot, lambda: check.updates >= 15, 60)
    wait_until(qtbot, lambda: "skipped" in tab.skipped.text(), 5)
    tab.stop()
    assert check.mismatches == []
    assert tab.inset.isVisible() and tab.canvas._image is not None  # the raw picture is the inset
    assert tab.view.shown_frame_id.startswith("frame-")


def test_triggered_hot_folder_n_files_n_records_n_verdicts(qtbot, make_window, line_ws, tmp_path):
    from inspector.services.inspections import query_history
    from inspector.storage.workspace import open_workspace

    n = 8
    hot = tmp_path / "hot"
    hot.mkdir()
    w, tab = _open_live(make_window, line_ws, "triggered")
    check = IdentityCheck(tab)
    tab.set_source("hotfolder", str(hot))
    tab.start()
    wait_until(qtbot, lambda: tab.session.ready, 30)

    def writer() -> None:  # another thread drops the parts, as a camera would
        for i in range(n):
            tmp = write_part(tmp_path / "staging" / f"part{i:03d}.png", 3000 + i, defect=(i % 4 == 0))
            tmp.rename(hot / tmp.name)
            time.sleep(0.03)

    t = threading.Thread(target=writer)
    t.start()
    t.join()
    wait_until(qtbot, lambda: tab.parts_shown >= n, 60)
    qtbot.wait(500)  # no part comes twice
    tab.stop()
    tab.shutdown()
    assert tab.parts_shown == n and check.updates == n and check.mismatches == []
    assert tab.counts == {"inspected": n, "ng": 2, "recheck": 0}
    assert tab.count_labels["inspected"].text() == str(n) and tab.count_labels["rate"].text() == "25.0%"
    assert "cycle" in tab.cycle.text() and tab.last_cycle_ms is not None and tab.last_cycle_ms >= 0
    ws = open_workspace(line_ws)
    try:
        rows = query_history(ws, "p")
    finally:
        ws.close()
    assert sorted(r.original_name for r in rows) == [f"part{i:03d}.png" for i in range(n)]
    assert tab.panel.banner.state in ("OK", "NG")  # the last part stays on screen after Stop

    tab.reset_counts()  # New shift
    assert tab.counts == {"inspected": 0, "ng": 0, "recheck": 0} and tab.count_labels["rate"].text() == "–"



def test_recheck_parts_have_their_own_count(qtbot, make_window, line_ws, tmp_path):
    from inspector.services.engine_state import set_recheck_band
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(line_ws)
    try:
        set_recheck_band(ws, "p", 0.5)  # the goods' scores sit near the threshold: most are RECHECK
    finally:
        ws.close()
    folder = tmp_path / "replay"
    _parts(folder, 6)
    w, tab = _open_live(make_window, line_ws, "continuous")
    check = IdentityCheck(tab)
    verdicts = []
    tab.result_shown.connect(lambda _fid: verdicts.append(tab.last_scored.result.verdict))
    tab.set_source("folder", str(folder), fps=60)
    tab.start()
    wait_until(qtbot, lambda: check.updates >= 6, 60)
    tab.stop()
    assert check.mismatches == [] and "RECHECK" in verdicts
    assert tab.counts["recheck"] == verdicts.count("RECHECK") == int(tab.count_labels["recheck"].text())
    assert tab.counts["ng"] == verdicts.count("NG")  # RECHECK is not NG


def test_triggered_space_takes_exactly_one_part(qtbot, make_window, line_ws, tmp_path):
    from PySide6.QtCore import Qt

    from inspector.services.inspections import query_history
    from inspector.storage.workspace import open_workspace

    folder = tmp_path / "camera"
    _parts(folder, 3)
    w, tab = _open_live(make_window, line_ws, "triggered")
    check = IdentityCheck(tab)
    tab.set_source("camera", f"folder:{folder}")  # a camera stand-in: frames until snapped
    tab.start()
    assert tab.snap_btn.isVisible() and not tab.pause_btn.isVisible()
    wait_until(qtbot, lambda: tab.session.ready, 30)
    assert tab.snap_btn.isEnabled()
    qtbot.keyClick(tab, Qt.Key.Key_Space)  # Space is the foot pedal: one part
    wait_until(qtbot, lambda: tab.parts_shown == 1, 30)
    qtbot.wait(800)
    assert tab.parts_shown == 1 and tab.is_running()  # the source goes on; no part without a trigger
    first = tab.view.shown_frame_id
    tab.snap_btn.click()
    wait_until(qtbot, lambda: tab.parts_shown == 2, 30)
    assert tab.view.shown_frame_id != first
    tab.stop()
    tab.shutdown()
    assert check.updates == 2 and check.mismatches == []
    ws = open_workspace(line_ws)
    try:
        assert len(query_history(ws, "p")) == 2  # OK parts are recorded too
    finally:
        ws.close()


def test_triggered_replay_plays_each_file_once_with_retention_from_settings(qtbot, make_window, line_ws,
                                                                            tmp_path):
    from inspector.services.inspections import query_history
    from inspector.storage.workspace import open_workspace

    n = 6
    folder = tmp_path / "replay"
    _parts(folder, n, ng_every=3)  # part000 and part003 are NG
    w, tab = _open_live(make_window, line_ws, "triggered")
    settings_tab = w.tab_widgets["settings"]
    settings_tab.retention.setCurrentIndex(settings_tab.retention.findData("ng"))
    check = IdentityCheck(tab)
    tab.set_source("folder", str(folder), fps=30)
    assert not tab.loop.isChecked()
    tab.start()
    wait_until(qtbot, lambda: not tab.is_running(), 60)  # the replay ends by itself
    tab.shutdown()
    assert tab.parts_shown == n and check.updates == n and check.mismatches == []
    assert "no more files" in tab.rates.text()
    assert tab.panel.banner.state in ("OK", "NG")
    ws = open_workspace(line_ws)
    try:
        rows = query_history(ws, "p")
    finally:
        ws.close()
    assert sorted(r.original_name for r in rows) == [f"part{i:03d}.png" for i in range(n)]
    kept = sorted(r.original_name for r in rows if r.image_path)
    assert kept == ["part000.png", "part003.png"]  # NG only: OK parts have a record, no image


def test_mode_switch_and_repeated_start_stop_are_clean(qtbot, make_window, line_ws, tmp_path, caplog):
    folder = tmp_path / "replay"
    _parts(folder, 4)
    w, tab = _open_live(make_window, line_ws, "triggered")
    tab.set_source("camera", f"folder:{folder}")
    for mode in ("triggered", "continuous", "triggered", "continuous"):
        tab.set_mode(mode)
        tab.start()
        qtbot.wait(150)
        tab.stop()
    assert not tab.is_running()
    tab.shutdown()
    assert not tab._stopped
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_closing_the_window_during_a_triggered_run_joins_the_line_thread(qtbot, make_window, line_ws,
                                                                          tmp_path, caplog):
    folder = tmp_path / "replay"
    _parts(folder, 40)
    w, tab = _open_live(make_window, line_ws, "triggered")
    tab.set_source("folder", str(folder))
    tab.loop.setChecked(True)  # loops: parts keep coming while the window closes
    tab.start()
    wait_until(qtbot, lambda: tab.parts_shown >= 2, 30)
    session = tab.session
    w.close()
    assert not session.running  # joined before the widgets go
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
