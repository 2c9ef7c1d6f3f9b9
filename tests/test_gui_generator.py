"""Generator tab: rule-based preview, a set of 20 with progress, accept/reject, cancel + resume,
filter thresholds, drawn region, export and delete."""

from __future__ import annotations

import numpy as np

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def _tab(make_window, product_ws):
    w = make_window(product_ws)
    w.show_tab("generator")
    tab = w.tab_widgets["generator"]
    assert tab.stack.currentWidget() is tab.splitter
    return w, tab


def test_preview_then_a_set_of_20_review_and_export(qtbot, make_window, product_ws, tmp_path):
    from inspector.services import synthetic as synth

    w, tab = _tab(make_window, product_ws)
    assert tab.method.currentData() == "rules" and tab.refs.count() == 10
    assert [tab.word.itemText(i) for i in range(1, tab.word.count())] == ["scratch", "dent"]
    tab.preview()
    assert tab.progress.busy()
    wait_until(qtbot, lambda: not tab._busy(), 30)
    assert tab.gallery.count() == 6 and tab.gallery.item(0).text().startswith("preview 1")
    assert synth.list_sets(w.state.workspace, "washer") == []  # a preview stores nothing

    progress = []
    tab.count.setValue(20)
    tab.set_name.setText("gui-set")
    tab.generate()
    tab.task.progress.connect(lambda d, t, m: progress.append((d, t)))
    assert tab.progress.busy() and not tab.generate_button.isEnabled()
    wait_until(qtbot, lambda: not tab._busy(), 60)
    assert tab.gallery.count() == 20 and len(tab.samples) == 20
    assert progress and progress[-1] == (20, 20) and len({d for d, _ in progress}) >= 10
    assert tab.sets.currentData() == "gui-set"
    assert len(tab.hist.scores) == 20
    first = tab.gallery.item(0)
    sid = first.data(0x0100)
    was = tab.samples[sid].accepted
    tab.toggle(first)  # a click flips the decision and stores it
    assert tab.samples[sid].accepted is (not was)
    assert ("accepted" if not was else "rejected") in first.text()
    stored = {s.id: s.accepted for s in synth.get_set(w.state.workspace, "washer", "gui-set").samples}
    assert stored[sid] is (not was)
    n_acc = sum(stored.values())
    assert f"{n_acc} accepted" in tab.counts.text()

    tab.min_similarity.setValue(1.0)  # nothing passes: every unreviewed sample is dropped
    tab.apply_thresholds()
    after = synth.get_set(w.state.workspace, "washer", "gui-set").samples
    assert sum(s.accepted for s in after) == (0 if was else 1)
    tab.min_similarity.setValue(0.0)
    tab.min_change.setValue(0.0)
    tab.apply_thresholds()

    tab.export_to(tmp_path / "out")
    wait_until(qtbot, lambda: not tab._busy(), 30)
    out = tmp_path / "out" / "gui-set"
    assert "Exported to" in tab.counts.text()
    assert len(list((out / "test").rglob("*.png"))) == len(list((out / "ground_truth").rglob("*_mask.png"))) >= 19
    tab.delete_set("gui-set")
    assert tab.sets.count() == 0 and tab.gallery.count() == 0


def test_cancel_mid_run_then_resume_where_it_stopped(qtbot, make_window, product_ws):
    from inspector.services import synthetic as synth

    w, tab = _tab(make_window, product_ws)
    tab.count.setValue(200)
    tab.set_name.setText("long")
    tab.generate()
    wait_until(qtbot, lambda: tab.gallery.count() >= 3, 30)
    tab.cancel()
    wait_until(qtbot, lambda: not tab._busy(), 30)
    made = synth.get_set(w.state.workspace, "washer", "long").samples
    assert 3 <= len(made) < 200
    assert [s.index for s in made] == list(range(len(made)))  # no gap, no half-written sample
    folder = synth.get_set(w.state.workspace, "washer", "long").folder
    assert len(list(folder.glob("*_mask.png"))) in (len(made), len(made) + 1)
    tab.count.setValue(200)
    tab.generate()  # the same settings: it resumes at the first missing index
    wait_until(qtbot, lambda: tab.gallery.count() >= len(made) + 2, 30)
    tab.cancel()
    wait_until(qtbot, lambda: not tab._busy(), 30)
    again = synth.get_set(w.state.workspace, "washer", "long").samples
    assert [s.index for s in again] == list(range(len(again))) and len(again) > len(made)


def test_a_drawn_region_holds_every_defect(qtbot, make_window, product_ws):
    from inspector.core.image_io import load_mask
    from inspector.services import synthetic as synth

    w, tab = _tab(make_window, product_ws)
    ref_id = tab.refs.item(2).data(0x0100)
    region = np.zeros((256, 256), bool)
    region[40:90, 100:160] = True  # the washer's upper ring
    tab.set_region(ref_id, region)
    tab.count.setValue(4)
    tab.set_name.setText("drawn")
    tab.generate()
    wait_until(qtbot, lambda: not tab._busy(), 30)
    samples = synth.get_set(w.state.workspace, "washer", "drawn").samples
    assert len(samples) == 4
    for s in samples:
        m = load_mask(s.mask_path)
        assert m.any() and not (m & ~region).any()


def test_empty_product_teaches(qtbot, make_window, tmp_path):
    w = make_window(tmp_path / "ws")
    tab = w.tab_widgets["generator"]
    assert tab.stack.currentWidget() is tab.empty


def test_inpainting_is_listed_with_its_availability(make_window, product_ws):
    w, tab = _tab(make_window, product_ws)
    k = tab.method.findData("inpaint")
    item = tab.method.model().item(k)
    assert k > 0 and not item.isEnabled() and "unavailable" in tab.method.itemText(k)  # no weights here
    assert "sd15-inpainting" in item.toolTip() and "inspector models import" in item.toolTip()
