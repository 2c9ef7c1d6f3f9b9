"""What the window got wrong (issue 9, item 9): one test per fault, each failing on the old code."""

from __future__ import annotations

import threading

import pytest

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


# --- j. stopping Live never emits on a deleted object; closing joins the threads ----------------------
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_live_start_stop_and_close_log_no_lifetime_errors(qtbot, make_window, fitted_ws, demo_data, capfd,
                                                         monkeypatch):
    import time

    errors: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: errors.append(f"{a.thread.name}: {a.exc_value!r}"))
    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    w.show_tab("live")
    tab.set_source("folder", str(demo_data / "test" / "good"), fps=60)
    tab.start()
    wait_until(qtbot, lambda: tab.counts["inspected"] > 0, 60)  # scoring: the threads emit all the time
    for i in range(6):  # stop while frames and verdicts are in flight, start again at once
        tab.stop()
        tab.start()
        qtbot.wait(40 + 40 * i)
    sessions = [tab.session, *tab._stopped]
    w.close()  # closing while running: the threads are stopped and joined before widgets go
    assert all(not s.running for s in sessions)
    qtbot.wait(300)
    time.sleep(0.3)
    out, err = capfd.readouterr()
    assert not errors, errors
    for bad in ("Signal source has been deleted", "Fatal Python error", "Traceback"):
        assert bad not in out + err, err


# --- a. a batch with unreadable files skips and lists them, and inspects the rest ---------------------
def _batch_with_broken_files(tmp_path, demo_data, n_broken: int, n_good: int = 2):
    import shutil

    folder = tmp_path / "batch"
    folder.mkdir()
    for src in sorted((demo_data / "test" / "good").iterdir())[:n_good]:
        shutil.copy(src, folder / src.name)
    for i in range(n_broken):
        (folder / f"broken-{i}.png").write_bytes(b"this is not a PNG at all")
    return folder


def test_batch_skips_and_lists_an_unreadable_file_and_inspects_the_rest(qtbot, make_window, fitted_ws,
                                                                        demo_data, tmp_path):
    from PySide6.QtCore import Qt

    w = make_window(fitted_ws)
    tab = w.tab_widgets["inspect"]
    tab.inspect([_batch_with_broken_files(tmp_path, demo_data, n_broken=1)])
    wait_until(qtbot, lambda: not tab.progress.busy(), 60)
    assert len(tab.entries) == 2 and tab.results.count() == 3
    rows = [tab.results.item(i) for i in range(3)]
    skipped = [r for r in rows if r.text().startswith("SKIPPED")]
    assert len(skipped) == 1 and "broken-0.png — " in skipped[0].text()
    assert not skipped[0].flags() & Qt.ItemFlag.ItemIsSelectable  # greyed, nothing to review
    assert "1 skipped" in tab.counts.text() and "2 inspected" in tab.counts.text()
    assert tab.panel.banner.state in ("OK", "NG")  # the last inspected image, not "Could not inspect"
    tab.select_entry(0)
    tab.next()
    assert tab.current == 1 and tab.results.currentItem().text()[:2] in ("OK", "NG")


def test_batch_of_only_unreadable_files_says_nothing_was_inspected(qtbot, make_window, fitted_ws, demo_data,
                                                                   tmp_path):
    w = make_window(fitted_ws)
    tab = w.tab_widgets["inspect"]
    tab.inspect([_batch_with_broken_files(tmp_path, demo_data, n_broken=2, n_good=0)])
    wait_until(qtbot, lambda: not tab.progress.busy(), 60)
    assert tab.entries == [] and tab.results.count() == 2
    assert tab.panel.banner.state == "message" and "Nothing inspected" in tab.panel.banner.text()
    assert "0 inspected" in tab.counts.text() and "2 skipped" in tab.counts.text()


# --- b. a false reject only on NG, a missed defect only on OK; clearing always works -------------------
def _result(verdict: str):
    import numpy as np

    from inspector.core.result import InspectionResult

    return InspectionResult(score=0.9 if verdict == "NG" else 0.1, anomaly_map=np.zeros((8, 8), np.float32),
                            mask=np.zeros((8, 8), bool), regions=[], verdict=verdict, threshold=0.5,
                            engine_id="standalone", engine_version="1", timings_ms={"total": 1.0})


def test_flag_service_refuses_a_flag_that_contradicts_the_verdict(ws):
    from inspector.core.errors import InspectorError
    from inspector.services.inspections import flag_inspection, query_history, record_inspection
    from inspector.services.products import create_product

    create_product(ws, "p")
    ok = record_inspection(ws, "p", _result("OK"), source="file")
    ng = record_inspection(ws, "p", _result("NG"), source="file")
    with pytest.raises(InspectorError, match=r"is OK, so it cannot be a false reject .*— flag it as a missed"):
        flag_inspection(ws, ok.id, "false_reject")
    with pytest.raises(InspectorError, match=r"is NG, so it cannot be a missed defect"):
        flag_inspection(ws, ng.id, "missed_defect")
    flag_inspection(ws, ok.id, "missed_defect")
    flag_inspection(ws, ng.id, "false_reject")
    flags = {r.id: r.flag for r in query_history(ws)}
    assert flags == {ok.id: "missed_defect", ng.id: "false_reject"}
    flag_inspection(ws, ng.id, "")  # clearing stays possible
    assert {r.id: r.flag for r in query_history(ws)}[ng.id] == ""


def test_flag_buttons_offer_only_the_flag_that_fits_the_verdict(qtbot):
    from inspector.gui.tabs.result_panel import ResultPanel

    panel = ResultPanel(on_flag=lambda _f: None)
    qtbot.addWidget(panel)
    panel.set_flag("", "NG")
    assert panel.flag_fr.isEnabled() and not panel.flag_md.isEnabled()
    panel.set_flag("", "OK")
    assert panel.flag_md.isEnabled() and not panel.flag_fr.isEnabled()
    panel.set_flag("false_reject", "OK")  # a wrong flag stored earlier can still be cleared
    assert panel.flag_fr.isEnabled() and panel.flag_fr.isChecked() and panel.flag_md.isEnabled()
    panel.set_flag(None, "OK")
    assert not panel.flag_fr.isEnabled() and not panel.flag_md.isEnabled()
