"""Training tab: trains a tiny detector with the curves growing, cancel + resume, activate; Products,
Inspect and Live then show the active detector, Inspect scores with it, Roll back changes both."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("accelerate")
pytest.importorskip("pyqtgraph")

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers
from test_train_vlad import clip_env, tiny_clip  # noqa: F401 - the tiny CLIP model fixtures

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


def inspect_one(qtbot, w, path):
    """Inspect `path` in the Inspect tab; the engine id of its stored inspection row."""
    from inspector.services.inspections import query_history

    tab = w.tab_widgets["inspect"]
    tab.inspect([path])
    wait_until(qtbot, lambda: not tab.progress.busy() and len(tab.entries) == 1, 60)
    row = next(r for r in query_history(w.state.workspace, "washer") if r.id == tab.entries[0].record_id)
    return row.engine_id


def shown(w) -> list[str]:
    """The detector line of the Products, Inspect, Live and Training tabs."""
    return [w.tab_widgets[t].detector_line.text() for t in ("products", "inspect", "live")] + \
        [w.tab_widgets["training"].active_label.text()]


def test_train_cancel_resume_activate(qtbot, make_window, tmp_path):
    from inspector.core.image_io import encode_png
    from inspector.generate.procedural import render_good
    from inspector.services import engine_state, products, training
    from inspector.train.loop import TrainConfig

    w = make_window(tiny_product_ws(tmp_path / "ws", tmp_path))
    tab = w.tab_widgets["training"]
    assert w.state.product == "washer"
    assert all(t.startswith("No local detector active") for t in shown(w)), shown(w)
    tab.extra_config = dict(TINY_TRAIN)
    tab.epochs.setValue(2)
    tab.samples.setValue(8)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    assert tab.train_button.isEnabled() and not tab.resume_button.isEnabled()
    vlad = tab.base.model().item(1)  # VLAD adapters: no CLIP weights here, so not offered, and why
    assert not vlad.isEnabled() and "needs the CLIP weights" in vlad.toolTip(), vlad.toolTip()

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
    assert tab.table.item(0, 1).text() == "active"
    metrics = dets[0].metrics["validation"]["local"]
    for text in shown(w):  # every tab says which detector scores, with its validation figures
        assert text.startswith("Local detector v1 active, Inspect and Live use it · trained "), text
        assert f"I-AUROC {metrics['i_auroc']:.3f}" in text and f"PRO {metrics['pro']:.3f}" in text, text
    part = tmp_path / "part.png"
    part.write_bytes(encode_png(render_good("washer", np.random.default_rng(77), 48)))
    assert inspect_one(qtbot, w, part) == "local"

    # v2 activated on a product already published is used at once (no draft), Roll back returns to v1
    training.train_product(w.state.workspace, "washer", TrainConfig(epochs=1, samples_per_epoch=8, seed=1,
                                                                    **TINY_TRAIN))
    tab.refresh()
    tab.table.selectRow(1)
    tab.activate_selected()
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert training.detector_in_use(w.state.workspace, "washer") == 2
    assert all(t.startswith("Local detector v2 active, Inspect and Live use it") for t in shown(w)), shown(w)
    assert inspect_one(qtbot, w, part) == "local"
    assert tab.rollback_button.isEnabled()
    tab.roll_back()
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert training.active_detector(w.state.workspace, "washer").version == 1
    assert training.detector_in_use(w.state.workspace, "washer") == 1
    assert all(t.startswith("Local detector v1 active, Inspect and Live use it") for t in shown(w)), shown(w)
    assert inspect_one(qtbot, w, part) == "local"

    # the engine switched back to standalone: the active detector is shown as not in use
    products.update_product(w.state.workspace, "washer", engine="standalone")
    engine_state.fit_product(w.state.workspace, "washer", publish=True)
    w.state.notify_updated()
    for text in shown(w):
        assert text.startswith("Local detector v1 active but not in use: inspections run Standalone"), text


def test_vlad_adapters_train_compare_and_activate_from_the_tab(qtbot, make_window, tmp_path, clip_env):
    """With the product's CLIP model here (a tiny random one in the real format) the tab offers the
    VLAD base; the run's comparison is against untrained VLAD, and activating makes the product's
    engine `vlad` with the trained adapters, which every tab then names."""
    from test_train_vlad import SETTINGS

    from inspector.services import products, training

    root = tiny_product_ws(tmp_path / "ws", tmp_path)
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(root)
    products.update_product(ws, "washer", engine_settings={**SETTINGS, "image_size": 64})
    ws.close()
    w = make_window(root)
    tab = w.tab_widgets["training"]
    assert tab.base.model().item(1).isEnabled()
    tab.base.setCurrentIndex(tab.base.findData("vlad"))
    tab.extra_config = {"batch_size": 8, "image_size": 64, "lr": 3e-3, "val_defects_per_ref": 1}
    tab.epochs.setValue(1)
    tab.samples.setValue(8)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    tab.start(resume=False)
    wait_until(qtbot, lambda: not tab.busy(), 120)
    dets = training.list_detectors(w.state.workspace, "washer")
    assert [(d.version, d.base_engine) for d in dets] == [(1, "vlad")]
    assert tab.compare.horizontalHeaderItem(0).text() == "Untrained VLAD"
    assert tab.compare.item(0, 0).text() != "" and tab.example_labels[0][1].pixmap() is not None
    tab.table.selectRow(0)
    tab.activate_selected()
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert products.get_product(w.state.workspace, "washer").engine == "vlad"
    assert training.detector_in_use(w.state.workspace, "washer") == 1
    assert all(t.startswith("VLAD adapters v1 active, Inspect and Live use it") for t in shown(w)), shown(w)


def test_the_high_quality_stage_offers_the_products_synthetic_sets(qtbot, make_window, tmp_path, monkeypatch):
    from inspector.services import synthetic, training

    w = make_window(tiny_product_ws(tmp_path / "ws", tmp_path))
    tab = w.tab_widgets["training"]
    assert not tab.use_sets.isEnabled() and "No accepted CUT / inpainting sample" in tab.use_sets.toolTip()
    list(synthetic.generate_set(w.state.workspace, "washer", "spots",
                                synthetic.RunSettings(count=4, kind="poisson", filter=False)))
    monkeypatch.setattr(training, "HIGH_QUALITY_METHODS", ("rules",))  # counted as CUT / inpainting here
    tab.refresh()
    assert tab.use_sets.isEnabled() and tab.use_sets.isChecked() and "4 accepted" in tab.use_sets.text()
    tab.extra_config = dict(TINY_TRAIN)
    tab.epochs.setValue(2)
    tab.samples.setValue(8)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    tab.stages.setCurrentIndex(1)  # rule-based, then high-quality
    assert tab.stages.currentData() == ("rules", "diffusion")
    tab.start(resume=False)
    wait_until(qtbot, lambda: not tab.busy(), 120)
    det = training.list_detectors(w.state.workspace, "washer")[-1]
    assert det.training_set["stages"][1]["synthetic_samples"] >= 3  # one may come from the held-back ref
    tab.use_sets.setChecked(False)  # the engineer leaves them out: the rule family stands in
    tab.start(resume=False)
    wait_until(qtbot, lambda: not tab.busy(), 120)
    assert training.list_detectors(w.state.workspace, "washer")[-1].training_set["diffusion_proxy"]
