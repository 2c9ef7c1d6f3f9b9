"""Live tab on a replayed folder: frames keep moving, scoring runs, the window stays responsive."""

from __future__ import annotations

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def test_live_replayed_folder_displays_scores_and_stays_responsive(qtbot, make_window, fitted_ws, demo_data):
    from PySide6.QtCore import Qt

    from inspector.services.inspections import query_history

    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    w.show_tab("live")
    tab.set_source("folder", str(demo_data / "test" / "good"), fps=30)
    tab.setFocus()
    qtbot.keyClick(tab, Qt.Key.Key_Space)  # Space starts
    assert tab.is_running()
    wait_until(qtbot, lambda: tab.counts["inspected"] > 0, 60)  # detector loaded, first verdict
    worst_ms = max_gui_latency_ms(qtbot, 2.5)
    shown, scored, _dropped = tab.rates_now()
    assert shown > 15, f"displayed {shown:.1f} FPS from a 30 FPS replay"
    assert scored > 0
    assert worst_ms < 100, f"GUI thread blocked {worst_ms:.0f} ms while scoring"
    assert tab.panel.banner.state in ("OK", "NG")
    assert tab.scored_view.has_image()
    assert "Displayed" in tab.rates.text()

    tab.toggle_pause()
    assert tab.session.paused and "Resume" in tab.pause_btn.text()
    tab.toggle_pause()
    qtbot.keyClick(tab, Qt.Key.Key_Space)  # Space stops
    assert not tab.is_running()
    n_scored = tab.counts["inspected"]
    n_ng = tab.counts["ng"]
    assert tab.count_labels["inspected"].text() == str(n_scored)
    tab.shutdown()  # waits for the run's threads: a frame scored while stopping may still be recorded
    recorded = query_history(w.state.workspace, "washer", source="camera")
    assert n_ng <= len(recorded) <= n_ng + 1  # only NG frames are recorded by default
    assert all(r.verdict == "NG" for r in recorded)


def test_live_missing_source_shows_a_plain_message_and_recovers(qtbot, make_window, fitted_ws, demo_data,
                                                                 tmp_path):
    import shutil

    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    folder = tmp_path / "camera-share"
    tab.set_source("folder", str(folder), fps=10)
    tab.start()
    wait_until(qtbot, lambda: tab.panel.banner.state == "message", 10)
    assert "not found" in tab.panel.banner.text() and "Retrying" in tab.panel.banner.text()
    assert tab.is_running()
    shutil.copytree(demo_data / "test" / "good", folder)  # the share comes back
    wait_until(qtbot, lambda: tab.panel.banner.state in ("OK", "NG"), 30)
    tab.stop()


def test_live_flag_records_an_unrecorded_frame(qtbot, make_window, fitted_ws, demo_data):
    from inspector.services.inspections import query_history

    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    tab.set_source("folder", str(demo_data / "test" / "good"), fps=10)
    tab.start()
    wait_until(qtbot, lambda: tab.last_scored is not None, 60)
    tab.stop()
    tab.set_flag("missed_defect")
    wait_until(qtbot, lambda: any(r.flag == "missed_defect" for r in query_history(w.state.workspace)), 10)


def test_live_says_a_detector_change_waits_for_the_next_start(qtbot, make_window, fitted_ws, tmp_path):
    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    assert tab.detector_line.text().startswith("No local detector active")
    tab.set_source("folder", str(tmp_path / "not-there-yet"), fps=10)
    tab.start()
    assert tab.is_running()
    w.state.notify_updated()  # what the Training tab emits after Activate / Roll back
    assert "this run keeps the detector it started with" in tab.detector_line.text()
    tab.stop()
    assert tab.detector_line.text().startswith("No local detector active")
    assert "keeps the detector" not in tab.detector_line.text()
