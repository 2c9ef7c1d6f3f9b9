"""Importing weights a user carried in: files, folders, archives; corrupt and unknown things."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from inspector.core.errors import EngineUnavailable, InspectorError
from inspector.weights.importer import import_path
from inspector.weights.loaders import locate
from inspector.weights.manifest import load_manifest
from inspector.weights.verify import CORRUPT, VERIFIED, check_model
from weights_fixtures import copy_tree, isolate_env, tiny_models


@pytest.fixture
def env(monkeypatch, tmp_path, tmp_path_factory):
    tiny = tiny_models(tmp_path_factory)
    root, manifest = isolate_env(monkeypatch, tmp_path, tiny)
    return tiny, root, load_manifest(manifest)


def _files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.name != ".verify-cache.json")


def test_import_single_file_installs_and_verifies(env):
    tiny, root, manifest = env
    (result,) = import_path(tiny.sam, manifest=manifest, root=root)
    assert result.ok and result.status == "installed" and result.model_id == "tiny-sam"
    assert result.path == root / "tiny-sam" / tiny.sam.name
    assert result.path.read_bytes() == tiny.sam.read_bytes()
    assert check_model(manifest.get("tiny-sam"), root).status == VERIFIED  # cached by the import
    assert locate("tiny-sam", manifest=manifest, root=root) == result.path
    # importing again leaves the verified copy alone
    (again,) = import_path(tiny.sam, manifest=manifest, root=root)
    assert again.status == "already-installed" and again.ok


def test_import_identifies_by_checksum_and_by_layout(env, tmp_path):
    tiny, root, manifest = env
    renamed_clip = copy_tree(tiny.clip, tmp_path / "in" / "my-clip-weights.pt")
    renamed_sam = copy_tree(tiny.sam, tmp_path / "in" / "segmenter.pth")
    results = {r.model_id: r for r in import_path(tmp_path / "in", manifest=manifest, root=root)}
    assert set(results) == {"tiny-clip", "tiny-sam"}
    assert "sha256" in results["tiny-clip"].message  # the manifest knows its checksum
    assert "layout" in results["tiny-sam"].message  # no checksum: SAM keys and sizes
    # installed under the manifest's names, not the carried-in ones
    assert (root / "tiny-clip" / "open_clip_pytorch_model.bin").read_bytes() == renamed_clip.read_bytes()
    assert (root / "tiny-sam" / tiny.sam.name).read_bytes() == renamed_sam.read_bytes()


def test_import_folder_of_everything(env):
    tiny, root, manifest = env
    results = import_path(tiny.source, manifest=manifest, root=root)
    assert sorted(r.model_id for r in results) == sorted(manifest.ids())
    assert all(r.status == "installed" for r in results), [r.message for r in results]
    for spec in manifest.models:
        assert check_model(spec, root).status == VERIFIED
    assert (root / "tiny-sd" / "unet" / "config.json").is_file()
    # nothing left behind by staging
    assert not [p for p in root.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_import_zip_and_tar_gz(env, tmp_path):
    tiny, root, manifest = env
    zpath = tmp_path / "carried.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in tiny.gdino.rglob("*"):
            z.write(p, "weights/gdino/" + p.relative_to(tiny.gdino).as_posix())
    (res,) = import_path(zpath, manifest=manifest, root=root)
    assert res.status == "installed" and res.model_id == "tiny-gdino"
    assert str(res.source).startswith(str(zpath))
    tpath = tmp_path / "carried.tar.gz"
    with tarfile.open(tpath, "w:gz") as t:
        t.add(tiny.sd_inpaint, arcname="sd-inpaint")
        t.add(tiny.clip, arcname="clip/open_clip_pytorch_model.bin")
    results = {r.model_id: r for r in import_path(tpath, manifest=manifest, root=root)}
    assert set(results) == {"tiny-sd-inpainting", "tiny-clip"}
    assert all(r.status == "installed" for r in results.values())
    assert check_model(manifest.get("tiny-sd-inpainting"), root, full=True).status == VERIFIED
    assert not list(root.glob(".import-*"))  # extraction folder removed


def test_truncated_file_is_corrupt_and_never_installed_or_loaded(env, tmp_path):
    tiny, root, manifest = env
    data = tiny.sam.read_bytes()
    cut = tmp_path / tiny.sam.name  # the real name, as a half-finished copy would have
    cut.write_bytes(data[: len(data) // 2])
    (res,) = import_path(cut, manifest=manifest, root=root)
    assert res.status == "corrupt" and res.model_id == "tiny-sam" and not res.ok
    assert "size" in res.message and "nothing was installed" in res.message
    assert _files_under(root) == []
    with pytest.raises(EngineUnavailable, match="not found"):
        locate("tiny-sam", manifest=manifest, root=root)


def test_truncated_safetensors_in_a_folder_is_corrupt(env, tmp_path):
    tiny, root, manifest = env
    folder = copy_tree(tiny.sd, tmp_path / "sd")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    (res,) = import_path(folder, manifest=manifest, root=root)
    assert res.status == "corrupt" and res.model_id == "tiny-sd"
    assert "diffusion_pytorch_model.safetensors" in res.message
    assert _files_under(root) == []


@pytest.mark.parametrize("kind", ["random.pth", "photo.png", "notes.txt"])
def test_wrong_file_is_refused_and_nothing_copied(env, tmp_path, kind):
    tiny, root, manifest = env
    bad = tmp_path / kind
    if kind == "photo.png":
        from helpers import write_png

        write_png(bad)
    else:
        bad.write_bytes(os.urandom(5000))
    (res,) = import_path(bad, manifest=manifest, root=root)
    assert res.status == "unknown" and res.model_id is None
    assert "nothing was copied" in res.message and bad.name in res.message
    assert _files_under(root) == []


def test_unrelated_checkpoint_is_unknown(env, tmp_path):
    import torch

    tiny, root, manifest = env
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 3)}, path)
    (res,) = import_path(path, manifest=manifest, root=root)
    assert res.status == "unknown" and "not a model in the manifest" in res.message


def test_folder_without_weights_reports_it(env, tmp_path):
    tiny, root, manifest = env
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    (res,) = import_path(tmp_path / "empty", manifest=manifest, root=root)
    assert res.status == "unknown" and "no model weights found" in res.message


def test_missing_path_raises(env, tmp_path):
    tiny, root, manifest = env
    with pytest.raises(InspectorError, match="not found"):
        import_path(tmp_path / "nope.zip", manifest=manifest, root=root)


@pytest.mark.parametrize("name", ["../evil.pth", "/abs/evil.pth", "a/../../evil.pth"])
def test_zip_with_path_traversal_is_refused(env, tmp_path, name):
    tiny, root, manifest = env
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(tiny.sam, "ok/" + tiny.sam.name)  # a good entry first: still nothing extracted
        z.writestr(name, b"x")
    with pytest.raises(InspectorError, match="refused"):
        import_path(zpath, manifest=manifest, root=root)
    assert _files_under(root) == [] and not (tmp_path / "evil.pth").exists()


def test_tar_with_traversal_or_link_is_refused(env, tmp_path):
    tiny, root, manifest = env
    for i, member in enumerate([("../evil.pth", tarfile.REGTYPE), ("link.pth", tarfile.SYMTYPE)]):
        tpath = tmp_path / f"evil{i}.tar.gz"
        with tarfile.open(tpath, "w:gz") as t:
            info = tarfile.TarInfo(member[0])
            info.type = member[1]
            if member[1] == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
                t.addfile(info)
            else:
                info.size = 1
                t.addfile(info, io.BytesIO(b"x"))
        with pytest.raises(InspectorError, match="refused"):
            import_path(tpath, manifest=manifest, root=root)
    assert _files_under(root) == [] and not (tmp_path / "evil.pth").exists()


def test_reimport_replaces_a_corrupt_copy(env):
    tiny, root, manifest = env
    target = root / "tiny-sam" / tiny.sam.name
    target.parent.mkdir(parents=True)
    target.write_bytes(tiny.sam.read_bytes()[:1000])
    assert check_model(manifest.get("tiny-sam"), root).status == CORRUPT
    (res,) = import_path(tiny.sam, manifest=manifest, root=root)
    assert res.status == "installed"
    assert target.read_bytes() == tiny.sam.read_bytes()
    assert check_model(manifest.get("tiny-sam"), root).status == VERIFIED
