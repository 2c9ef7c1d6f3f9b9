"""The real manifest, manifest validation, where weights are looked for, and the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.weights import locations, manifest as manifest_mod
from inspector.weights.locations import configure_environment, hf_cache_dirs, models_dir
from inspector.weights.manifest import ManifestError, load_manifest

REPO = Path(__file__).resolve().parents[1]


def test_real_manifest_lists_every_foundation_model():
    m = load_manifest(REPO / "models" / "manifest.toml")
    kinds = {s.id: s.kind for s in m.models}
    assert kinds == {
        "clip-vit-l-14": "open_clip_state_dict", "clip-vit-l-14-336": "open_clip_state_dict",
        "clip-vit-b-16": "open_clip_state_dict", "sam-vit-h": "sam_checkpoint",
        "sam-vit-l": "sam_checkpoint", "sam-vit-b": "sam_checkpoint",
        "grounding-dino-tiny": "transformers_folder", "grounding-dino-base": "transformers_folder",
        "sd15": "diffusers_folder", "sd15-inpainting": "diffusers_folder"}
    sam_b = m.get("sam-vit-b").files[0]
    assert sam_b.name == "sam_vit_b_01ec64.pth" and sam_b.size == 375042383
    assert sam_b.url == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert m.get("clip-vit-l-14").hf_repo == "timm/vit_large_patch14_clip_224.openai"
    assert m.get("sd15-inpainting").hf_repo == "stable-diffusion-v1-5/stable-diffusion-inpainting"
    for spec in m.models:
        assert spec.engines and spec.licence and spec.layout and spec.source != "unknown"
        assert spec.hf_repo is None or spec.revision  # hub sources name a revision
    # identification by layout must be unambiguous within each kind
    seen = {}
    for spec in m.models:
        key = (spec.kind, tuple(sorted(spec.layout.items())))
        assert key not in seen, f"{spec.id} and {seen.get(key)} share a layout"
        seen[key] = spec.id


def test_real_manifest_open_clip_options_match_open_clip():
    import open_clip

    m = load_manifest(REPO / "models" / "manifest.toml")
    for spec in m.models:
        if spec.kind != "open_clip_state_dict":
            continue
        cfg = open_clip.get_model_config(spec.options["arch"])
        assert cfg["vision_cfg"]["width"] == spec.layout["vision_width"]
        assert cfg["vision_cfg"]["layers"] == spec.layout["vision_layers"]
        assert cfg["vision_cfg"]["patch_size"] == spec.layout["patch_size"]
        assert cfg["vision_cfg"]["image_size"] == spec.layout["image_size"]
        tag = open_clip.get_pretrained_cfg(spec.options["arch"], spec.options["pretrained"])
        assert tag["hf_hub"].strip("/") == spec.hf_repo
        assert tag.get("quick_gelu", False) == spec.options["quick_gelu"]


@pytest.mark.parametrize("body, match", [
    ('[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "a.pth", url = "http://x" }]\nweird = 1',
     "unknown keys"),
    ('[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "a.pth", url = "http://x", sha256 = "abc" }]',
     "64 hex"),
    ('[[model]]\nid = "a"\nkind = "pickle"\nfiles = [{ name = "a.pth", url = "http://x" }]', "kind"),
    ('[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "../a.pth", url = "http://x" }]',
     "relative"),
    ('[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "a.pth" }]', "hf_repo"),
    ('[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "a.pth", url = "u" }]\n'
     '[[model]]\nid = "a"\nkind = "sam_checkpoint"\nfiles = [{ name = "a.pth", url = "u" }]', "duplicate"),
    ('[[model]\n', "not valid TOML"),
])
def test_bad_manifests_are_refused(tmp_path, body, match):
    p = tmp_path / "m.toml"
    p.write_text(body)
    with pytest.raises(ManifestError, match=match):
        load_manifest(p)


def test_manifest_path_from_env_and_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(tmp_path / "none.toml"))
    with pytest.raises(ManifestError, match="not found"):
        load_manifest()
    monkeypatch.delenv("INSPECTOR_MANIFEST")
    assert manifest_mod.default_manifest_path() == REPO / "models" / "manifest.toml"


def test_models_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("INSPECTOR_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert models_dir() == REPO / "models"  # a source checkout
    assert models_dir(tmp_path / "setting") == tmp_path / "setting"
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir(tmp_path / "setting") == tmp_path / "env"
    monkeypatch.delenv("INSPECTOR_MODELS_DIR")
    monkeypatch.setattr(locations, "repo_root", lambda: None)  # an installed package
    expected = (Path(os.environ.get("LOCALAPPDATA", "")) / "Inspector" / "models" if os.name == "nt"
                else tmp_path / "data" / "inspector" / "models")
    assert models_dir() == expected


def test_hf_cache_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_cache_dirs() == [tmp_path / "hub", tmp_path / "home" / "hub",
                               tmp_path / "xdg" / "huggingface" / "hub"]


def test_configure_environment(monkeypatch, tmp_path):
    for var in ("INSPECTOR_MODELS_DIR", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
                "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    folder = configure_environment(tmp_path / "m")
    assert folder == tmp_path / "m" and os.environ["INSPECTOR_MODELS_DIR"] == str(folder)
    assert os.environ["HF_HUB_CACHE"] == str(folder / "huggingface" / "hub")
    assert "HF_HOME" not in os.environ  # the user's token location is left alone
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "users-own"))
    configure_environment(offline=False)
    assert "HF_HUB_CACHE" not in os.environ  # the user's own HF_HOME stands
    assert os.environ["HF_HUB_OFFLINE"] == "0" and constants.HF_HUB_OFFLINE is False
    configure_environment()
    assert constants.HF_HUB_OFFLINE is True  # already-imported hub follows along


def test_importing_the_package_stays_light():
    code = ("import sys, inspector.weights, inspector.weights.cli, inspector.weights.importer, "
            "inspector.weights.download; heavy = [m for m in ('torch', 'transformers', 'diffusers', "
            "'open_clip', 'segment_anything', 'huggingface_hub') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
