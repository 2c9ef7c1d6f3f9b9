"""IAP-AS in the window: a product with tags and no references is fitted and inspected,
its prompts are shown and edited, the uncalibrated threshold is said, and the boxes the
filter dropped can be shown. Tiny random Grounding DINO and SAM (tests/iapas_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("segment_anything")

from iapas_fixtures import GDINO_ID, SAM_ID, build_iapas_models  # noqa: E402

TINY = {"detector_id": GDINO_ID, "sam_id": SAM_ID, "llm": "", "work_size": 96}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_iapas_models(tmp_path_factory.mktemp("iapas"))


@pytest.fixture
def env(tiny, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(tiny.manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tiny.models_dir))
    return tiny


def noise_png(path, seed: int, shape=(80, 120)):
    from PIL import Image

    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
    return path


def iapas_product(w, qtbot, tags=None):
    """'bottle' with tags, no references, iapas chosen in the recipe form (saved once available)."""
    from inspector.services.products import get_product, update_product

    tab = w.tab_widgets["products"]
    assert tab.create_product("bottle", "", tags or {"object": "bottle", "material": "metal"}, ["scratch"])
    update_product(w.state.workspace, "bottle", engine_settings=dict(TINY))
    w.state.notify_updated()
    form = tab.form
    form.engine.setCurrentIndex(form.engine.findData("iapas"))
    wait_until(qtbot, lambda: "Available" in form.availability.text(), 30)
    form.save_button.click()
    wait_until(qtbot, lambda: get_product(w.state.workspace, "bottle").engine == "iapas", 30)
    return tab


def test_zero_reference_product_is_fitted_with_prompts_and_uncalibrated_note(qtbot, make_window, env, tmp_path):
    from inspector.services.products import get_product

    w = make_window(tmp_path / "ws")
    tab = iapas_product(w, qtbot)
    assert tab.iapas.isVisibleTo(tab)
    assert tab.iapas.fields["object"].text() == "bottle" and tab.iapas.fields["material"].text() == "metal"
    assert tab.fit_button.isEnabled(), "IAP-AS needs no references: fitting is allowed"
    assert "No good images needed" in tab.fit_status.text()
    wait_until(qtbot, lambda: "preview" in tab.iapas.prompt_head.text(), 30)

    tab.fit()
    wait_until(qtbot, lambda: not tab.fit_progress.busy(), 60)
    info = get_product(w.state.workspace, "bottle")
    assert info.state_version == 1
    assert "uncalibrated: default threshold — add 5-20 good images" in tab.threshold.note.text()
    assert tab.threshold.note.isVisibleTo(tab)
    wait_until(qtbot, lambda: "(fitted)" in tab.iapas.prompt_head.text(), 30)
    prompts = tab.iapas.prompt_values()
    assert "scratch" in prompts and "bottle" not in prompts  # the engineer's word; the object apart
    from inspector.engines.iapas.model import IapasModel

    fitted = IapasModel.load(w.state.workspace.abs_path(info.state_path))
    assert f"version <b>{fitted.prompt_set.version}</b>" in tab.iapas.prompt_head.text()

    # an edit is saved as the `prompts` engine setting and shown as the edited version
    tab.iapas.prompts.setPlainText("scratch\nrust spot\n  rust   spot ")
    assert tab.iapas.save_prompts.isEnabled()
    tab.iapas.save_prompts.click()
    wait_until(qtbot, lambda: get_product(w.state.workspace, "bottle").engine_settings.get("prompts")
               == ["scratch", "rust spot"], 10)
    assert get_product(w.state.workspace, "bottle").engine_settings["detector_id"] == GDINO_ID
    wait_until(qtbot, lambda: "(edited)" in tab.iapas.prompt_head.text(), 30)
    assert fitted.prompt_set.version not in tab.iapas.prompt_head.text()

    # tags: edited in their own fields and stored
    tab.iapas.fields["colour"].setText("silver")
    tab.iapas.fields["colour"].textEdited.emit("silver")
    tab.iapas.save_tags.click()
    wait_until(qtbot, lambda: get_product(w.state.workspace, "bottle").tags
               == {"object": "bottle", "material": "metal", "colour": "silver"}, 10)


def test_suggest_tags_disabled_without_clip_says_what_is_missing(qtbot, make_window, env, tmp_path):
    w = make_window(tmp_path / "ws")
    tab = iapas_product(w, qtbot)
    # the tiny manifest has no CLIP model: the button says what to import
    wait_until(qtbot, lambda: "CLIP" in tab.iapas.suggest_button.toolTip()
               and "Checking" not in tab.iapas.suggest_button.toolTip(), 20)
    assert not tab.iapas.suggest_button.isEnabled()
    tip = tab.iapas.suggest_button.toolTip()
    assert "clip-vit-b-16" in tip or "open_clip" in tip


def test_suggest_tags_with_a_tiny_clip_offers_vocabulary_values(qtbot, make_window, env, tmp_path):
    pytest.importorskip("open_clip")
    from weights_fixtures import TINY_CLIP_CONFIG, build_tiny_open_clip

    from inspector.engines.iapas.tagging import candidates

    w = make_window(tmp_path / "ws")
    tab = iapas_product(w, qtbot)
    panel = tab.iapas
    panel.clip_source = ("tiny-vit", build_tiny_open_clip(tmp_path / "clip.bin"), TINY_CLIP_CONFIG)
    panel.image = noise_png(tmp_path / "photo.png", 5)
    panel._check_clip()
    wait_until(qtbot, panel.suggest_button.isEnabled, 20)
    panel.suggest()
    wait_until(qtbot, lambda: panel.apply_button.isVisibleTo(panel), 60)
    assert panel.suggested.text().startswith("Suggested: ")
    panel.apply_suggestions()
    cands = candidates()
    for kind in ("material", "object", "colour", "surface"):
        assert panel.fields[kind].text() in cands[kind]
    assert panel.save_tags.isEnabled() == (panel.tag_values() != tab.state.product_info().tags)


def test_inspect_shows_verdict_labels_and_the_dropped_toggle(qtbot, make_window, env, tmp_path):
    from inspector.gui.image_view import LabelItem
    from inspector.services.products import get_product, update_product

    w = make_window(tmp_path / "ws")
    iapas_product(w, qtbot)
    # prompts naming the object: the tiny detector's boxes are all dropped ("names the object")
    update_product(w.state.workspace, "bottle",
                   engine_settings={**TINY, "prompts": ["the bottle", "bottle surface"]})
    assert get_product(w.state.workspace, "bottle").n_references == 0
    tab = w.tab_widgets["inspect"]
    tab.inspect([noise_png(tmp_path / "part.png", 2)])
    wait_until(qtbot, lambda: len(tab.entries) == 1 and not tab.progress.busy(), 90)
    assert tab.panel.banner.state in ("OK", "NG")
    e = tab.entries[0]
    assert e.dropped and all(b.text.startswith("dropped: ") and b.text.endswith("names the object")
                             for b in e.dropped)
    toggle = tab.controls.toggles["dropped"]
    assert not toggle.isChecked()
    dropped = tab.view.layers["dropped"]
    assert dropped and not any(it.isVisible() for it in dropped)
    toggle.setChecked(True)
    assert all(it.isVisible() for it in tab.view.layers["dropped"])
    labels = [it for it in tab.view.layers["dropped"] if isinstance(it, LabelItem)]
    assert len(labels) == len(e.dropped)
    zoom = tab.view.zoom()
    for lab in labels:  # labels stay inside the image
        r = lab.boundingRect()
        assert lab.pos().x() >= 0 and lab.pos().x() + r.width() / zoom <= 120 + 1e-6
        assert lab.pos().y() - r.height() / zoom >= -1e-6
    toggle.setChecked(False)
    assert not any(it.isVisible() for it in tab.view.layers["dropped"])


def test_region_boxes_are_labelled_with_the_defect_word():
    from inspector.core.result import InspectionResult, Region
    from inspector.gui.overlay_data import overlay_from_result

    m = np.zeros((40, 60), np.float32)
    m[5:15, 5:20] = 2.0
    r = InspectionResult(score=2.0, anomaly_map=m, mask=m > 1,
                         regions=[Region((5, 5, 20, 15), np.ones((10, 15), bool), 150, "scratch", 2.0)],
                         verdict="NG", threshold=1.0, engine_id="iapas", engine_version="1",
                         dropped=[Region((0, 0, 60, 40), np.zeros((0, 0), bool), 0,
                                         "dropped: bottle — names the object", 0.5)])
    ov = overlay_from_result(r)
    assert ov.boxes[0].text.startswith("scratch ")
    assert ov.dropped[0].text == "dropped: bottle — names the object" and ov.dropped[0].box == (0, 0, 60, 40)
