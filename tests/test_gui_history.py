"""History tab: filters, the selected record with its regions, flags, CSV and PDF export."""

from __future__ import annotations

import csv

import pytest

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


@pytest.fixture
def inspected_ws(fitted_ws, demo_data):
    from inspector.services.inspect import detector_for, inspect_paths
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(fitted_ws)
    det, _ = detector_for(ws, "washer")
    folders = [demo_data / "test" / d for d in sorted(p.name for p in (demo_data / "test").iterdir())]
    results = list(inspect_paths(ws, "washer", folders, det, source="batch"))
    ws.close()
    assert any(r.result.is_ng for r in results)
    return fitted_ws


def test_history_filters_shows_regions_flags_and_exports(qtbot, make_window, inspected_ws, tmp_path):
    from inspector.services.inspections import query_history

    w = make_window(inspected_ws)
    tab = w.tab_widgets["history"]
    w.show_tab("history")
    wait_until(qtbot, lambda: tab.model.rowCount() == 10, 30)
    assert "10 inspection(s)" in tab.summary.text()

    tab.verdict.setCurrentText("NG")
    wait_until(qtbot, lambda: 0 < tab.model.rowCount() < 10, 30)
    assert {r.verdict for r in tab.model.records} == {"NG"}
    n_ng = tab.model.rowCount()
    tab.source.setCurrentIndex(tab.source.findData("camera"))
    wait_until(qtbot, lambda: tab.model.rowCount() == 0, 30)
    assert "No inspections match" in tab.summary.text()
    tab.source.setCurrentIndex(0)
    tab.period.setCurrentText("Today")
    wait_until(qtbot, lambda: tab.model.rowCount() == n_ng, 30)

    tab.table.selectRow(0)
    wait_until(qtbot, tab.view.has_image, 10)
    rec = tab.selected()
    assert tab.panel.banner.state == "NG"
    assert len(tab.view.layers["boxes"]) >= len(rec.regions) and tab.view.layers["outline"]

    tab.set_flag("false_reject")  # an NG verdict can only be a false reject
    assert {r.id: r.flag for r in query_history(w.state.workspace)}[rec.id] == "false_reject"
    assert tab.model.records[0].flag == "false_reject"

    out = tmp_path / "history.csv"
    tab.export_csv(out)
    wait_until(qtbot, lambda: not tab.progress.busy(), 30)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == n_ng and {r["verdict"] for r in rows} == {"NG"}

    pdf = tmp_path / "report.pdf"
    tab.export_pdf(pdf)
    wait_until(qtbot, lambda: not tab.progress.busy(), 60)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000  # text + example images
