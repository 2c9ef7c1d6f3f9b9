"""Training tab: trains a tiny detector with the curves growing, cancel + resume, activate."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("accelerate")
pytest.importorskip("pyqtgraph")

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers

TINY_ENGINE = {"resolution": 64, "memory_size": 256, "max_candidates": 4096}
TINY_TRAIN = {"batch_size": 2, "width": 4, "val_defects_per_ref": 1}


def tiny_product_ws(root, tmp_path):
    from inspector.core.image_io import encode_png
    from inspector.generate.procedural import render_good
    from inspector.services import products, references
    from inspector.storage.workspace import init_workspace

    ws = init_workspace(root)
    products.create_product(ws, "washer")
    products.update_product(ws, "washer", engine_settings=dict(TINY_ENGINE))
    folder = tmp_path / "tiny-refs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.png").write_bytes(encode_png(render_good("washer", np.random.default_rng(i), 48)))
    references.add_references(ws, "washer", [folder])
    ws.close()
    return root


def test_train_cancel_resume_activate(qtbot, make_window, tmp_path):
    from inspector.services import products, training

    w = make_window(tiny_product_ws(tmp_path / "ws", tmp_path))
    tab = w.tab_widgets["training"]
    assert w.state.product == "washer"
    tab.extra_config = dict(TINY_TRAIN)
    tab.epochs.setValue(2)
    tab.samples.setValue(8)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    assert tab.train_button.isEnabled() and not tab.resume_button.isEnabled()
    assert not tab.base.model().item(1).isEnabled()  # VLAD: not built yet

    # a run cancelled after its first steps leaves a checkpoint that Resume continues from
    tab.start(resume=False)
    wait_until(qtbot, lambda: len(tab.loss_x) >= 2, 90)
    tab.progress.cancel()
    wait_until(qtbot, lambda: not tab.busy(), 60)
    assert training.list_detectors(w.state.workspace, "washer") == []
    assert tab.resume_button.isEnabled()
    seen = len(tab.loss_x)

    tab.start(resume=True)
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert len(tab.loss_x) > seen  # the curve grew on from where it stopped
    assert tab.loss_x == sorted(set(tab.loss_x)) and tab.loss_x[-1] == 8  # 2 epochs x 8 samples / batch 2
    assert len(tab.val_x) >= 1 and all(0 <= v <= 1 for v in tab.val["i_auroc"])
    dets = training.list_detectors(w.state.workspace, "washer")
    assert [d.version for d in dets] == [1] and tab.table.rowCount() == 1
    assert tab.compare.item(0, 0).text() != "" and tab.compare.item(0, 1).text() != ""
    assert tab.example_labels[0][2].pixmap() is not None and not tab.example_labels[0][2].pixmap().isNull()

    tab.table.selectRow(0)
    tab.activate_selected()
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert training.active_detector(w.state.workspace, "washer").version == 1
    assert products.get_product(w.state.workspace, "washer").engine == "local"
    assert "Active: v1" in tab.active_label.text() and tab.table.item(0, 1).text() == "active"
