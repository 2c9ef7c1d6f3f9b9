"""Every loader builds the real architecture, loads tiny weights from the real on-disk format,
and runs a forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.errors import EngineUnavailable
from inspector.weights.importer import import_path
from inspector.weights.loaders import (load_diffusers_pipeline, load_grounding_dino,
                                       load_open_clip, load_sam, load_sam_model, locate)
from inspector.weights.manifest import load_manifest
from weights_fixtures import TINY_CLIP_CONFIG, TINY_SAM_DIMS, isolate_env, tiny_models


@pytest.fixture
def env(monkeypatch, tmp_path, tmp_path_factory):
    tiny = tiny_models(tmp_path_factory)
    root, manifest = isolate_env(monkeypatch, tmp_path, tiny)
    return tiny, root, load_manifest(manifest)


def test_locate_missing_names_the_model_and_the_fix(env):
    tiny, root, manifest = env
    with pytest.raises(EngineUnavailable) as exc:
        locate("tiny-sam")  # manifest and folder from INSPECTOR_MANIFEST / INSPECTOR_MODELS_DIR
    msg = str(exc.value)
    assert "tiny-sam" in msg and "inspector models import PATH" in msg
    assert str(root / "tiny-sam") in msg and "sam_tiny_0001.pth" in msg


def test_open_clip_by_id_and_by_explicit_config(env):
    import torch

    tiny, root, manifest = env
    import_path(tiny.clip, manifest=manifest, root=root)
    model, info, tokenizer = load_open_clip("tiny-clip", "cpu")
    assert (info.image_size, info.patch_size, info.embed_dim, info.vision_width) == (32, 8, 32, 64)
    assert info.checkpoint == root / "tiny-clip" / tiny.clip.name
    assert not model.training
    images = torch.randn(2, 3, info.image_size, info.image_size)
    tokens = tokenizer(["a photo of a scratch", "a photo of a flawless part"])
    assert tokens.shape == (2, info.context_length)
    with torch.no_grad():
        img, txt = model.encode_image(images), model.encode_text(tokens)
    assert img.shape == txt.shape == (2, 32) and torch.isfinite(img).all()
    # the explicit form gives the same weights (same code path: config -> CLIP -> checkpoint)
    model2, info2, _ = load_open_clip(("tiny-vit", tiny.clip, TINY_CLIP_CONFIG))
    with torch.no_grad():
        assert torch.allclose(model2.encode_image(images), img)
    # patch tokens for VLAD: the visual trunk yields one token per patch plus the class token
    model.visual.output_tokens = True
    with torch.no_grad():
        pooled, tokens_out = model.visual(images)
    assert tokens_out.shape == (2, (32 // 8) ** 2, 64)


def test_open_clip_rejects_wrong_weights(env, tmp_path):
    tiny, root, manifest = env
    with pytest.raises(EngineUnavailable, match="do not load"):
        load_open_clip(("tiny-vit", tiny.sam, TINY_CLIP_CONFIG))
    cut = tmp_path / "cut.bin"
    cut.write_bytes(tiny.clip.read_bytes()[:5000])
    with pytest.raises(EngineUnavailable, match="cannot be used"):
        load_open_clip(("tiny-vit", cut, TINY_CLIP_CONFIG))


def test_sam_loads_and_predicts(env):
    from segment_anything import SamPredictor

    tiny, root, manifest = env
    sam = load_sam(TINY_SAM_DIMS, tiny.sam, "cpu")
    predictor = SamPredictor(sam)
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    predictor.set_image(image)
    masks, scores, _ = predictor.predict(box=np.array([5, 5, 40, 30]), multimask_output=False)
    assert masks.shape == (1, 48, 64) and masks.dtype == bool and scores.shape == (1,)
    import_path(tiny.sam, manifest=manifest, root=root)
    by_id = load_sam_model("tiny-sam", manifest=manifest, root=root)
    assert all((a == b).all() for a, b in zip(sam.state_dict().values(), by_id.state_dict().values()))
    with pytest.raises(EngineUnavailable, match="do not load"):
        load_sam({**TINY_SAM_DIMS, "encoder_depth": 3}, tiny.sam)  # another variant's file
    with pytest.raises(EngineUnavailable, match="unknown SAM variant"):
        load_sam("vit_x", tiny.sam)


def test_grounding_dino_loads_and_detects(env):
    import torch
    from PIL import Image

    tiny, root, manifest = env
    model, processor = load_grounding_dino(tiny.gdino, "cpu")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    inputs = processor(images=image, text="a scratch. a dent.", return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    assert out.pred_boxes.shape == (1, 10, 4)
    res = processor.post_process_grounded_object_detection(
        out, inputs.input_ids, threshold=0.0, text_threshold=0.0, target_sizes=[(48, 64)])
    assert res[0]["boxes"].shape == (10, 4)


def test_diffusers_pipelines_run(env):
    import torch
    from PIL import Image

    tiny, root, manifest = env
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    pipe = load_diffusers_pipeline(tiny.sd, "img2img")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.dtype == torch.float32 and pipe.safety_checker is None
    out = pipe("a scratch", image=image, strength=0.5, num_inference_steps=2, output_type="np",
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 32, 32, 3)
    pipe = load_diffusers_pipeline(tiny.sd_inpaint, "inpaint")
    pipe.set_progress_bar_config(disable=True)
    mask = Image.fromarray(np.pad(np.full((8, 8), 255, np.uint8), 12))
    out = pipe("a dent", image=image, mask_image=mask, height=32, width=32, num_inference_steps=2,
               output_type="np", generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 32, 32, 3) and np.isfinite(out.images).all()
    with pytest.raises(EngineUnavailable, match="not a model folder"):
        load_diffusers_pipeline(tiny.gdino, "text2img")
    with pytest.raises(EngineUnavailable, match="unknown pipeline kind"):
        load_diffusers_pipeline(tiny.sd, "video")
