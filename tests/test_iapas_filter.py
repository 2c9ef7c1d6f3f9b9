"""IAP-AS size/object filter, NMS, top-K and the weighted map (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.engines.iapas.detect import Box, threshold_kwargs
from inspector.engines.iapas.filter import filter_boxes, iou, object_area
from inspector.engines.iapas.segment import weighted_map


def box(x0, y0, x1, y1, score, prompt="scratch", phrase="scratch") -> Box:
    return Box((float(x0), float(y0), float(x1), float(y1)), score, prompt, phrase)


def test_object_boxes_and_large_boxes_are_dropped_with_reasons():
    boxes = [box(0, 0, 90, 90, 0.9, "dent"),            # 8100 > 0.8 * 10000: the object itself
             box(10, 10, 20, 20, 0.8, "crack", "crack"),
             box(30, 30, 40, 40, 0.7, "crack on the bottle", "bottle")]  # phrase names the object
    d = filter_boxes(boxes, 100 * 100, "bottle", max_box_ratio=0.8)
    by_prompt = {x.box.prompt: x for x in d}
    assert by_prompt["crack"].kept and by_prompt["crack"].reason == ""
    assert not by_prompt["dent"].kept and "larger than 80% of the object" in by_prompt["dent"].reason
    assert not by_prompt["crack on the bottle"].kept
    assert by_prompt["crack on the bottle"].reason == "names the object"
    assert [x.kept for x in d] == [True, False, False]  # kept first


def test_nms_and_top_k():
    boxes = [box(0, 0, 10, 10, 0.9), box(1, 0, 11, 10, 0.8),  # IoU 0.82 with the first
             box(5, 0, 15, 10, 0.7)]  # IoU 0.33 with the first: kept, its mask will overlap
    boxes += [box(50 + 3 * i, 50, 52 + 3 * i, 52, 0.5 - 0.01 * i) for i in range(5)]
    d = filter_boxes(boxes, 1e6, "tile", nms_iou=0.5, top_k=4)
    kept = [x for x in d if x.kept]
    assert [x.box.score for x in kept] == [0.9, 0.7, 0.5, 0.49]
    reasons = sorted(x.reason for x in d if not x.kept)
    assert reasons[0].startswith("beyond the top 4") and len(reasons) == 4
    assert any(r.startswith("overlaps a stronger box (IoU 0.82") for r in reasons)
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_object_area_prefers_references_then_object_box_then_image():
    shape = (100, 200, 3)
    assert object_area([], shape) == 20000
    assert object_area([box(0, 0, 10, 10, 0.3), box(0, 0, 50, 50, 0.9)], shape) == 2500
    assert object_area([box(0, 0, 50, 50, 0.9)], shape, reference_fraction=0.25) == 5000


def test_weighted_map_averages_overlapping_masks():
    a = np.zeros((4, 6), bool)
    b = np.zeros((4, 6), bool)
    a[:, :4] = True
    b[:, 2:] = True
    m = weighted_map([a, b], [0.9, 0.5], (4, 6))
    assert m.dtype == np.float32
    assert np.allclose(m[:, :2], 0.9) and np.allclose(m[:, 2:4], 0.7) and np.allclose(m[:, 4:], 0.5)
    assert not weighted_map([], [], (3, 3)).any()


def test_threshold_argument_name_follows_the_transformers_version():
    def new(outputs, input_ids=None, threshold=0.25, text_threshold=0.25, target_sizes=None):
        pass

    def old(outputs, input_ids=None, box_threshold=0.25, text_threshold=0.25, target_sizes=None):
        pass

    assert threshold_kwargs(new, 0.3, 0.2) == {"threshold": 0.3, "text_threshold": 0.2}
    assert threshold_kwargs(old, 0.3, 0.2) == {"box_threshold": 0.3, "text_threshold": 0.2}
