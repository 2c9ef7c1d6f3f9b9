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
    assert len(skipped) == 1 and skipped[0].text().startswith("SKIPPED   broken-0.png — not an image")
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


# --- c. an engine that cannot run is not saved; the status names the engine actually in use ---------
def _error_boxes(w):
    from PySide6.QtWidgets import QMessageBox

    return [b for b in w.findChildren(QMessageBox) if b.isVisible()]


def test_switching_to_an_engine_without_weights_is_not_saved(qtbot, make_window, fitted_ws, tmp_path,
                                                             monkeypatch):
    from inspector.services.products import get_product

    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "no-models"))  # VLAD's weights are nowhere
    w = make_window(fitted_ws)
    form = w.tab_widgets["products"].form
    form.engine.setCurrentIndex(form.engine.findData("vlad"))
    assert form.save_button.isEnabled()
    form.save_button.click()
    wait_until(qtbot, lambda: bool(_error_boxes(w)), 30)
    text = _error_boxes(w)[0].text()
    assert "not saved" in text and "clip-vit-l-14" in text and "inspector models import" in text
    assert get_product(w.state.workspace, "washer").engine == "standalone"
    assert "VLAD" not in w.product_state.text()


def test_status_names_the_engine_of_the_fitted_state_in_use(qtbot, make_window, fitted_ws):
    from inspector.services.products import update_product
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(fitted_ws)
    update_product(ws, "washer", engine="vlad")  # chosen (e.g. from the CLI), never fitted
    ws.close()
    w = make_window(fitted_ws)
    header = w.product_state.text()
    assert "VLAD (CLIP few-shot) · fitted" not in header
    assert header.startswith("10 reference(s) · Standalone (no weights) · fitted v1")
    assert "refit needed to switch to VLAD" in header
    assert w.engine_label.text().startswith("Engine: Standalone (no weights) · fitted v1")
    assert "Inspections still use Standalone" in w.tab_widgets["products"].fit_status.text()


# --- d. a fit made by Live shows in the toolbar and the Products tab at once --------------------------
def test_live_fitting_a_product_updates_toolbar_and_products_tab(qtbot, make_window, product_ws, demo_data):
    w = make_window(product_ws)  # 'washer' has references but was never fitted
    assert "not fitted" in w.product_state.text()
    tab = w.tab_widgets["live"]
    tab.set_source("folder", str(demo_data / "test" / "good"), fps=10)
    tab.start()
    wait_until(qtbot, lambda: tab.counts["inspected"] > 0, 90)
    tab.stop()
    assert "fitted v1" in w.product_state.text()
    assert "fitted v1" in w.tab_widgets["products"].summary.text()
    assert w.tab_widgets["products"].threshold.scores  # the histogram of the new calibration


# --- e. a new workspace says what to do; the new-workspace dialog takes a new folder name --------------
def test_new_workspace_shows_no_products_yet_not_no_workspace(qtbot, make_window, tmp_path):
    w = make_window(tmp_path / "fresh-ws")
    tab = w.tab_widgets["products"]
    assert tab.stack.currentWidget() is tab.empty
    assert tab.empty.label.text() == "No products yet"


def test_create_workspace_dialog_accepts_a_new_folder_name(qtbot, make_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

    # a folder picker could only return existing folders (the old dialog); never block the test on one
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    w = make_window()
    dlg = w.create_workspace_dialog()
    dlg.location.setText(str(tmp_path))
    dlg.name.setText("line-3")
    assert not (tmp_path / "line-3").exists()
    assert dlg.ok.isEnabled() and dlg.problem.isHidden()
    dlg.ok.click()
    assert w.state.workspace is not None and w.state.workspace.root == (tmp_path / "line-3").resolve()
    assert (tmp_path / "line-3" / "inspector.db").is_file()
    assert w.stack.currentWidget() is w.tabs

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("not a workspace")
    dlg2 = w.create_workspace_dialog()
    dlg2.location.setText(str(tmp_path))
    dlg2.name.setText("busy")
    assert not dlg2.ok.isEnabled() and "already holds other files" in dlg2.problem.text()
    dlg2.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel).click()


# --- f. the outlier warning names the file and goes once that file is removed -----------------------
def test_outlier_warning_names_the_reference_and_goes_when_it_is_removed(qtbot, make_window, fitted_ws):
    import json

    from inspector.services.products import get_product
    from inspector.services.references import list_references
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(fitted_ws)
    state = ws.abs_path(get_product(ws, "washer").state_path)
    refs = list_references(ws, "washer")
    ws.close()
    cal = json.loads((state / "calibration.json").read_text())
    cal["suspect_references"] = [2]  # as fit_and_calibrate leaves it for an outlier third reference
    (state / "calibration.json").write_text(json.dumps(cal))
    fitted_order = json.loads((state / "meta.json").read_text())["references"]
    suspect = next(r for r in refs if r.sha256 == fitted_order[2])

    w = make_window(fitted_ws)
    tab = w.tab_widgets["products"]
    note = tab.threshold.note
    assert not note.isHidden() and suspect.original_name in note.text() and "no. 3" not in note.text()
    row = next(i for i, r in enumerate(tab.grid.model.refs) if r.id == suspect.id)
    tab.grid.view.selectionModel().select(tab.grid.model.index(row),
                                          tab.grid.view.selectionModel().SelectionFlag.Select)
    tab.remove_selected()
    assert tab.grid.model.rowCount() == 9
    assert note.isHidden() and note.text() == ""


# --- h. History sorts by column, filters flagged rows and shows all products ------------------------
def test_history_sorts_by_column_filters_flags_and_shows_all_products(qtbot, make_window, tmp_path):
    import dataclasses

    from PySide6.QtCore import Qt

    from inspector.services.inspections import flag_inspection, record_inspection
    from inspector.services.products import create_product
    from inspector.storage.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    create_product(ws, "washer")
    create_product(ws, "gasket")
    scores = {"washer": [0.2, 10.5, 2.0], "gasket": [0.7, 3.0]}
    for product, values in scores.items():
        for v in values:
            r = dataclasses.replace(_result("NG" if v >= 1 else "OK"), score=v, threshold=1.0)
            rec = record_inspection(ws, product, r, source="batch", original_name=f"{product}-{v}.png")
            if v == 10.5:
                flag_inspection(ws, rec.id, "false_reject")
            if v == 0.7:
                flag_inspection(ws, rec.id, "missed_defect")
    ws.close()
    w = make_window(tmp_path / "ws")
    w.state.select_product("washer")
    tab = w.tab_widgets["history"]
    w.show_tab("history")
    wait_until(qtbot, lambda: tab.model.rowCount() == 3, 30)

    from inspector.gui.tabs.history_model import COLUMNS

    score = COLUMNS.index("Score")
    tab.table.sortByColumn(score, Qt.SortOrder.AscendingOrder)  # as numbers, not as text
    assert [r.score for r in tab.model.records] == [0.2, 2.0, 10.5]
    tab.table.selectRow(2)
    tab.table.sortByColumn(score, Qt.SortOrder.DescendingOrder)
    assert [r.score for r in tab.model.records] == [10.5, 2.0, 0.2]
    assert tab.selected().score == 10.5  # the selection follows its record

    tab.flag.setCurrentIndex(tab.flag.findData("any"))
    wait_until(qtbot, lambda: tab.model.rowCount() == 1, 30)
    assert tab.model.records[0].flag == "false_reject"

    tab.product.setCurrentIndex(0)
    tab.product.activated.emit(0)  # the user picks "All products"
    wait_until(qtbot, lambda: tab.model.rowCount() == 2, 30)
    assert {r.product for r in tab.model.records} == {"washer", "gasket"}
    w.state.notify_products_changed()  # products change, the toolbar product is re-announced
    qtbot.wait(50)
    assert tab.product.currentText() == "All products"
    tab.flag.setCurrentIndex(0)
    wait_until(qtbot, lambda: tab.model.rowCount() == 5, 30)
    assert [r.score for r in tab.model.records] == [10.5, 3.0, 2.0, 0.7, 0.2]  # still sorted by score


# --- i. the PDF report: headers and captions whole, setup figures included ------------------------------
def test_pdf_report_cells_and_captions_fit_and_it_names_the_setup(qtbot, ws, tmp_path):
    import dataclasses

    import numpy as np
    from PySide6.QtPdf import QPdfDocument

    from helpers import write_png
    from inspector.core.result import Region
    from inspector.gui.pdf_report import write_report
    from inspector.services.inspections import query_history, record_inspection
    from inspector.services.products import create_product

    create_product(ws, "washer")
    png = write_png(tmp_path / "img.png", size=(160, 120)).read_bytes()
    mask = np.ones((10, 12), bool)
    for i in range(5):  # long names wrap their captions over several lines
        r = dataclasses.replace(_result("NG"), threshold=0.43, engine_version="2.1",
                                regions=[Region((5, 5, 17, 15), mask, 120, "scratch", 0.9)])
        record_inspection(ws, "washer", r, source="batch", image_bytes=png, station="line 3",
                          operator="Dana", original_name=f"shift-b/camera-left/lot-2026-12-01/part-{i:04d}"
                          "-with-a-long-descriptive-file-name.png")
    for i in range(2):  # borderline parts: counted apart, neither OK nor NG
        record_inspection(ws, "washer", dataclasses.replace(_result("RECHECK"), threshold=0.43), source="batch")
    layout: list = []
    out = write_report(ws.root, query_history(ws), tmp_path / "r.pdf", "Inspection report — washer",
                       "today", "line 3", layout=layout)
    for kind, _page, box, needed in layout:
        if kind in ("cell", "caption"):  # the text needs no more room than it was given
            assert needed.width() <= box.width() + 0.5 and needed.height() <= box.height() + 0.5, (kind, box,
                                                                                                  needed)
    images = [(pg, b) for k, pg, b, _n in layout if k == "image"]
    captions = [(pg, b) for k, pg, b, _n in layout if k == "caption"]
    assert len(images) == 5 and len(captions) == 5
    for pg, c in captions:
        assert not any(pg == pi and c.intersects(b) for pi, b in images)  # no caption under an image

    doc = QPdfDocument()
    doc.load(str(out))
    text = " ".join(" ".join(doc.getAllText(i).text().split()) for i in range(doc.pageCount()))
    for expected in ("False rejects", "Missed defects", "Threshold", "0.43", "standalone 2.1", "line 3", "Dana",
                     "Recheck", "washer 7 0 5 2 71.4%"):  # inspected, OK, NG, RECHECK, NG rate
        assert expected in text, (expected, text[:300])


# --- g. the first window fits the screen; long texts elide; overlay labels stay on the image --------
LAPTOP = (1366, 768 - 40)  # a 1366x768 screen less a title bar


def test_first_window_fits_the_available_screen_and_every_tab_fits_a_laptop(qtbot, settings_file, fitted_ws):
    from inspector.gui.app import create_window

    w = create_window(fitted_ws, settings_file=settings_file)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    avail = w.screen().availableGeometry()
    assert avail.contains(w.frameGeometry()), (avail, w.frameGeometry())
    assert w.frameGeometry().height() <= avail.height() and w.height() >= 600  # fits, and still roomy
    for key in w.tab_widgets:  # the window's minimum is the largest tab's: all must fit 1366x768
        w.show_tab(key)
        hint = w.minimumSizeHint()
        assert hint.width() <= LAPTOP[0] and hint.height() <= LAPTOP[1], (key, hint)
    w.close()


def test_long_progress_texts_elide_instead_of_being_cut(qtbot):
    from inspector.gui.widgets.progress_panel import ProgressPanel

    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.resize(320, 40)
    panel.setVisible(True)
    text = "calibrating: fold 2 of 10 — about 12 s left"
    panel.label.setText(text)
    qtbot.wait(10)
    assert panel.label.is_elided() and panel.label.elided().endswith("…")
    assert panel.label.toolTip() == text
    assert panel.label.minimumSizeHint().width() < 120  # never widens the panel beyond the window
    panel.resize(900, 40)
    qtbot.wait(10)
    assert not panel.label.is_elided()


def test_overlay_labels_stay_inside_the_image_at_its_edges(qtbot):
    import numpy as np
    from PySide6.QtCore import QRectF

    from inspector.gui.image_view import ImageView, LabelItem
    from inspector.gui.overlay_data import BoxLabel, OverlayData

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(420, 320)
    view.show()
    qtbot.waitExposed(view)
    image = np.zeros((200, 300, 3), np.uint8)
    corners = [BoxLabel((288, 0, 300, 8), "scratch 0.97 · 96 px"),  # top-right corner
               BoxLabel((0, 0, 6, 6), "dent 0.91 · 36 px"),  # top-left
               BoxLabel((290, 190, 300, 200), "stain 0.88 · 100 px")]  # bottom-right
    view.set_image(image, OverlayData(300, 200, None, [], corners))
    for zoom in (view.fit, view.one_to_one, lambda: view.zoom_by(2.0)):
        zoom()
        image_px = view.mapFromScene(QRectF(0, 0, 300, 200)).boundingRect()
        for label in (i for i in view.layers["boxes"] if isinstance(i, LabelItem)):
            shown = label.deviceTransform(view.viewportTransform()).mapRect(label.boundingRect()).toRect()
            assert image_px.adjusted(-1, -1, 1, 1).contains(shown), (label.text, shown, image_px)


QUIT_SCRIPT = r"""
import faulthandler, sys, time
faulthandler.enable()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from inspector.gui.app import create_window

app = QApplication(sys.argv[:1])
w = create_window(sys.argv[1] and __import__("pathlib").Path(sys.argv[1]))
w.show()
live = w.tab_widgets["live"]
live.set_source("folder", sys.argv[2], fps=60)
state = {"runs": 0}

def step():
    if live.counts["inspected"] == 0 and state["runs"] == 0:
        if not live.is_running():
            live.start()
        QTimer.singleShot(50, step)
        return
    state["runs"] += 1
    if state["runs"] < 6:  # stop and start while frames are in flight, then quit while running
        live.stop()
        live.start()
        QTimer.singleShot(60, step)
    else:
        w.close()
        app.quit()

QTimer.singleShot(0, step)
QTimer.singleShot(90000, app.quit)  # a hung run still ends (and fails below)
code = app.exec()
print("inspected", live.counts["inspected"])
sys.exit(code)
"""


def test_quitting_while_live_runs_exits_cleanly(fitted_ws, demo_data, tmp_path):
    """The whole process, as a user quits it: no 'Signal source has been deleted', no fatal error."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "INSPECTOR_SETTINGS": str(tmp_path / "settings.ini"), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", QUIT_SCRIPT, str(fitted_ws), str(demo_data / "test" / "good")],
                          env=env, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "inspected" in proc.stdout and "inspected 0" not in proc.stdout, out
    for bad in ("Signal source has been deleted", "Fatal Python error", "Traceback", "Segmentation fault"):
        assert bad not in out, out


def test_opening_a_workspace_after_a_crash_says_what_was_cleaned(qtbot, make_window, product_ws):
    """A temp file of a writer that died is removed on opening; the status bar says so (the CLI
    prints the same note), so an engineer knows the crash was handled."""
    dead = product_ws / ".tmp" / ".tmp-999999999-Reference.PNG.partial"  # no such process
    dead.parent.mkdir(exist_ok=True)
    dead.write_bytes(b"half")
    w = make_window(product_ws)
    assert not dead.exists()
    message = w.statusBar().currentMessage()
    assert message.startswith("Removed 1 leftover(s) of an interrupted write") and dead.name in message
