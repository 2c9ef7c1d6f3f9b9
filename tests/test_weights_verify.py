"""Status and verification: missing / present / verified / corrupt, the checksum cache,
and models found in a Hugging Face cache."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import pytest

from inspector.core.errors import EngineUnavailable
from inspector.weights import verify
from inspector.weights.loaders import locate
from inspector.weights.manifest import load_manifest
from inspector.weights.verify import CORRUPT, MISSING, PRESENT, VERIFIED, check_model
from weights_fixtures import build_tiny_sam, copy_tree, isolate_env, tiny_models


@pytest.fixture
def env(monkeypatch, tmp_path, tmp_path_factory):
    tiny = tiny_models(tmp_path_factory)
    root, manifest = isolate_env(monkeypatch, tmp_path, tiny)
    return tiny, root, load_manifest(manifest)


def test_missing_present_verified(env):
    tiny, root, manifest = env
    spec = manifest.get("tiny-clip")
    st = check_model(spec, root)
    assert st.status == MISSING and st.path is None and st.size == 0
    dest = copy_tree(tiny.clip, root / "tiny-clip" / tiny.clip.name)
    st = check_model(spec, root)
    assert (st.status, st.path, st.size) == (PRESENT, dest, dest.stat().st_size)
    st = check_model(spec, root, full=True)
    assert st.status == VERIFIED and "sha256" in st.detail
    assert check_model(spec, root).status == VERIFIED  # remembered in the cache
    cache = json.loads((root / ".verify-cache.json").read_text())
    assert cache[str(dest.resolve())]["sha256"] == spec.files[1].sha256


def test_checksum_cache_skips_rehash_until_the_file_changes(env, monkeypatch):
    tiny, root, manifest = env
    spec = manifest.get("tiny-clip")
    dest = copy_tree(tiny.clip, root / "tiny-clip" / tiny.clip.name)
    assert check_model(spec, root, full=True).status == VERIFIED

    def no_hashing(*a, **k):
        raise AssertionError("re-hashed a file whose size and mtime did not change")

    monkeypatch.setattr(verify, "sha256_file", no_hashing)
    assert check_model(spec, root, full=True).status == VERIFIED
    monkeypatch.undo()
    # same size, different bytes, new mtime: the cache no longer applies and the hash fails
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    os.utime(dest, ns=(1, 1_000_000_000))
    st = check_model(spec, root, full=True)
    assert st.status == CORRUPT and "sha256" in st.detail
    assert check_model(spec, root).status == CORRUPT  # the failure is cached too
    with pytest.raises(EngineUnavailable, match="corrupt"):
        locate("tiny-clip", manifest=manifest, root=root)


def test_truncated_file_in_place_is_corrupt_without_full_check(env):
    tiny, root, manifest = env
    dest = root / "tiny-sam" / tiny.sam.name
    dest.parent.mkdir(parents=True)
    dest.write_bytes(tiny.sam.read_bytes()[:-10])
    st = check_model(manifest.get("tiny-sam"), root)
    assert st.status == CORRUPT and "size" in st.detail
    with pytest.raises(EngineUnavailable, match="corrupt") as exc:
        locate("tiny-sam", manifest=manifest, root=root)
    assert "inspector models import PATH" in str(exc.value)


def test_damaged_bytes_fail_the_structural_check(env):
    """No checksum in the manifest: zip CRCs catch a flipped byte inside a tensor."""
    tiny, root, manifest = env
    dest = copy_tree(tiny.sam, root / "tiny-sam" / tiny.sam.name)
    spec = manifest.get("tiny-sam")
    assert check_model(spec, root, full=True).status == VERIFIED
    with zipfile.ZipFile(dest) as z:  # flip a byte inside the largest tensor's data
        info = max(z.infolist(), key=lambda i: i.file_size)
    data = bytearray(dest.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    st = check_model(spec, root, full=True)
    assert st.status == CORRUPT and "damaged" in st.detail and info.filename in st.detail, st.detail


def test_wrong_model_under_the_right_name_is_corrupt(env, tmp_path):
    tiny, root, manifest = env
    import weights_fixtures as wf

    other = dict(wf.TINY_SAM_DIMS, encoder_depth=3, encoder_global_attn_indexes=[2])
    import torch

    from inspector.weights.loaders import build_sam

    dest = root / "tiny-sam" / tiny.sam.name
    dest.parent.mkdir(parents=True)
    torch.save(build_sam(other).state_dict(), dest)
    spec = manifest.get("tiny-sam")
    spec_sized = spec.__class__(**{**spec.__dict__, "files": (spec.files[0].__class__(
        name=spec.files[0].name, url=spec.files[0].url),)})  # size unknown: only layout can tell
    st = check_model(spec_sized, root, full=True)
    assert st.status == CORRUPT and "encoder_depth=3" in st.detail


def test_incomplete_folder_is_corrupt(env):
    tiny, root, manifest = env
    folder = copy_tree(tiny.sd, root / "tiny-sd")
    (folder / "vae" / "config.json").unlink()
    st = check_model(manifest.get("tiny-sd"), root)
    assert st.status == CORRUPT and "vae/config.json" in st.detail


def test_folder_of_the_other_model_is_corrupt(env):
    tiny, root, manifest = env
    copy_tree(tiny.sd_inpaint, root / "tiny-sd")  # right files, wrong model
    spec = manifest.get("tiny-sd")
    from dataclasses import replace

    spec = replace(spec, files=tuple(replace(f, size=None) for f in spec.files))
    st = check_model(spec, root)
    assert st.status == CORRUPT and "unet_in_channels=9" in st.detail


def test_found_in_hugging_face_cache(env, tmp_path):
    """A snapshot in HF_HUB_CACHE (as open_clip/transformers leave it) is found and used."""
    tiny, root, manifest = env
    cache = tmp_path / "hf-home" / "hub"
    repo = cache / "models--test-org--tiny"
    blob = repo / "blobs" / "abc123"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(tiny.clip.read_bytes())
    snap = repo / "snapshots" / "0123456789abcdef"
    snap.mkdir(parents=True)
    (snap / tiny.clip.name).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    st = check_model(manifest.get("tiny-clip"), root, full=True)
    assert st.status == VERIFIED and st.path == snap / tiny.clip.name
    assert locate("tiny-clip", manifest=manifest, root=root) == snap / tiny.clip.name
    blob.unlink()  # a dangling link does not count
    assert check_model(manifest.get("tiny-clip"), root).status == MISSING


def test_legacy_and_non_torch_files_quick_check(tmp_path):
    good = build_tiny_sam(tmp_path / "a.pth")
    assert verify.quick_file_problem(good) is None
    (tmp_path / "b.pth").write_bytes(b"PK\x03\x04garbage")
    assert "not a torch checkpoint" in verify.quick_file_problem(tmp_path / "b.pth")
    (tmp_path / "c.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert verify.quick_file_problem(tmp_path / "c.safetensors") is not None
    (tmp_path / "d.json").write_text("{not json")
    assert "JSON" in verify.quick_file_problem(tmp_path / "d.json")


def test_cached_result_follows_a_changed_manifest_checksum(env):
    from dataclasses import replace

    tiny, root, manifest = env
    copy_tree(tiny.clip, root / "tiny-clip" / tiny.clip.name)
    spec = manifest.get("tiny-clip")
    assert check_model(spec, root, full=True).status == VERIFIED
    changed = replace(spec, files=tuple(replace(f, sha256="0" * 64) if f.sha256 else f
                                        for f in spec.files))
    st = check_model(changed, root)  # no re-hash needed: the cached digest is compared
    assert st.status == CORRUPT and "does not match" in st.detail
