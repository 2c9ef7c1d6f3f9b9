"""Hostile weights: safetensors headers that are one corrupt file with its reason (never a
traceback, never breaking list/verify/import/fit of the other models), and archives that
would unpack too much (zip and tar.gz bombs, too many entries, a full disk) refused before
anything is written."""

from __future__ import annotations

import json
import shutil
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import EngineUnavailable
from inspector.weights import archives, cli
from inspector.weights.importer import import_path
from inspector.weights.layouts import LayoutError, read_tensor_shapes
from inspector.weights.loaders import locate
from inspector.weights.manifest import WeightsError, load_manifest
from inspector.weights.safetensors_header import SafetensorsError, read_header
from inspector.weights.verify import quick_file_problem
from weights_fixtures import copy_tree, isolate_env, manifest_text, tiny_models

F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def _file(header_bytes: bytes, data: bytes = b"\0" * 8, length: int | None = None) -> bytes:
    n = len(header_bytes) if length is None else length
    return struct.pack("<Q", n) + header_bytes + data


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


# name -> (file bytes, words the reason must contain)
HOSTILE = {
    "list": (_file(b"[1, 2, 3]"), "not a JSON object"),
    "deep": (_file(b'{"a":' * 200_000 + b"1" + b"}" * 200_000), "nested too deeply"),
    "scalar-offsets": (_file(_json({"w": {**F32, "data_offsets": 8}})), "data_offsets"),
    "one-offset": (_file(_json({"w": {**F32, "data_offsets": [8]}})), "data_offsets"),
    "string-offsets": (_file(_json({"w": {**F32, "data_offsets": ["0", "8"]}})), "data_offsets"),
    "beyond-the-end": (_file(_json({"w": {"dtype": "F32", "shape": [2500],
                                          "data_offsets": [0, 10_000]}})), "truncated"),
    "negative": (_file(_json({"w": {**F32, "data_offsets": [-8, 0]}})), "data_offsets"),
    "reversed": (_file(_json({"w": {"dtype": "F32", "shape": [0],
                                    "data_offsets": [8, 0]}})), "out of order"),
    "overlap": (_file(_json({"a": {**F32, "data_offsets": [0, 8]},
                             "b": {**F32, "data_offsets": [4, 12]}}), b"\0" * 12), "overlap"),
    "gap": (_file(_json({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})),
            "belong to no tensor"),
    "huge-length": (_file(b"{}", length=(1 << 64) - 1), "limit"),
    "length-past-end": (_file(b"{}", length=5000), "more than the file holds"),
    "not-utf8": (_file(b'{"\xff\xfe": 1}'), "UTF-8"),
    "not-json": (_file(b"{not json at all"), "not valid JSON"),
    "unknown-dtype": (_file(_json({"w": {**F32, "dtype": "F33"}})), "unknown dtype"),
    "shape-mismatch": (_file(_json({"w": {**F32, "shape": [3]}})), "does not fit"),
    "float-shape": (_file(_json({"w": {**F32, "shape": [2.0]}})), "shape"),
    "entry-not-object": (_file(_json({"w": 5})), "not an object"),
    "bad-metadata": (_file(_json({"__metadata__": {"k": 1}, "w": F32})), "__metadata__"),
    "duplicate-key": (_file(b'{"w": ' + _json(F32) + b', "w": ' + _json(F32) + b"}"), "twice"),
    "too-short": (b"\x01\x02", "too short"),
}


@pytest.fixture
def env(monkeypatch, tmp_path, tmp_path_factory):
    """Tiny manifest plus a second CLIP entry (tiny-clip-2); tiny-clip and tiny-sam installed."""
    tiny = tiny_models(tmp_path_factory)
    root, manifest_path = isolate_env(monkeypatch, tmp_path, tiny)
    models = json.loads(json.dumps(tiny.models))
    second = json.loads(json.dumps(next(m for m in models if m["id"] == "tiny-clip")))
    second["id"], second["title"] = "tiny-clip-2", "Tiny CLIP 2"
    models.append(second)
    manifest_path.write_text(manifest_text(models), encoding="utf-8")
    copy_tree(tiny.clip, root / "tiny-clip" / tiny.clip.name)
    copy_tree(tiny.sam, root / "tiny-sam" / tiny.sam.name)
    return tiny, root, load_manifest(manifest_path)


def _plant(root: Path, data: bytes) -> Path:
    bad = root / "tiny-clip-2" / "open_clip_model.safetensors"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(data)
    return bad


def _row(out: str, model_id: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(model_id + " "))


def test_a_real_safetensors_file_passes(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    path = tmp_path / "ok.safetensors"
    save_file({"a": torch.zeros(3, 4), "b": torch.ones(2, dtype=torch.float16),
               "s": torch.tensor(1.5)}, str(path), metadata={"format": "pt"})
    header = read_header(path)
    assert {k: t.shape for k, t in header.tensors.items()} == {"a": (3, 4), "b": (2,), "s": ()}
    assert header.metadata == {"format": "pt"} and quick_file_problem(path) is None
    assert read_tensor_shapes(path)["a"] == (3, 4)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_header_is_one_clear_reason(tmp_path, case):
    data, words = HOSTILE[case]
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    with pytest.raises(SafetensorsError) as info:
        read_header(path)
    assert words in info.value.reason
    assert str(info.value).startswith("w.safetensors is not a valid safetensors file (")
    assert isinstance(info.value, LayoutError)  # every caller already handles LayoutError
    assert words in quick_file_problem(path)
    with pytest.raises(LayoutError, match="not a valid safetensors file"):
        read_tensor_shapes(path)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_one_hostile_file_does_not_break_list_verify_or_import(env, capsys, tmp_path, case):
    tiny, root, manifest = env
    _plant(root, HOSTILE[case][0])

    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    row = _row(out, "tiny-clip-2")
    assert " corrupt " in row and "not a valid safetensors file" in row and HOSTILE[case][1] in row
    assert " present " in _row(out, "tiny-clip") and " present " in _row(out, "tiny-sam")

    assert cli.main(["models", "verify"]) == 1
    out = capsys.readouterr().out
    assert "tiny-clip-2: CORRUPT" in out and "inspector models import PATH" in out
    assert "tiny-clip: verified" in out and "tiny-sam: verified" in out

    with pytest.raises(EngineUnavailable, match="not a valid safetensors file"):
        locate("tiny-clip-2", manifest=manifest, root=root)
    assert locate("tiny-clip", manifest=manifest, root=root).name == tiny.clip.name

    # importing a folder that holds the hostile file next to good weights installs the good ones
    carried = tmp_path / "usb"
    (carried / "clip").mkdir(parents=True)
    (carried / "clip" / "open_clip_model.safetensors").write_bytes(HOSTILE[case][0])
    copy_tree(tiny.sd, carried / "sd-tiny")
    results = {r.source.name: r for r in import_path(carried, manifest=manifest, root=root)}
    assert results["sd-tiny"].status == "installed"
    bad = results["open_clip_model.safetensors"]
    assert bad.status in ("corrupt", "unknown") and "not a valid safetensors file" in bad.message
    assert not list(root.glob(".staging-*")) and not list(root.glob(".import-*"))


def test_hostile_file_does_not_stop_vlad_fitting_another_model(env):
    pytest.importorskip("open_clip")
    from inspector.engines.vlad import VladModel, availability

    tiny, root, manifest = env
    _plant(root, HOSTILE["scalar-offsets"][0])
    settings = {"model_id": "tiny-clip", "image_size": 32, "n_stages": 2, "object_name": "tile",
                "defect_words": ["crack"], "batch_size": 4}
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    VladModel(settings).fit(images)
    hostile = {**settings, "model_id": "tiny-clip-2"}
    status = availability(hostile)
    assert not status.ok and "not a valid safetensors file" in status.reason
    with pytest.raises(EngineUnavailable, match="data_offsets"):
        VladModel(hostile).fit(images)
    # the same file given as an explicit checkpoint is refused before torch sees it
    explicit = {**settings, "checkpoint": str(root / "tiny-clip-2" / "open_clip_model.safetensors"),
                "arch": "tiny", "model_config": tiny.models[0]["options"]["config"]}
    with pytest.raises(EngineUnavailable, match="not a valid safetensors file"):
        VladModel(explicit).fit(images)


def test_cli_import_of_a_hostile_file_is_a_message(env, capsys, tmp_path):
    _, root, _ = env
    bad = tmp_path / "open_clip_model.safetensors"
    bad.write_bytes(HOSTILE["deep"][0])
    assert cli.main(["models", "import", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "not a valid safetensors file (header is nested too deeply)" in out
    assert not (root / "tiny-clip-2").exists() or not any((root / "tiny-clip-2").iterdir())


# --- archives ---------------------------------------------------------------------------------

def _deflate_zeros(prefix: bytes, zeros: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """(raw deflate stream, crc32) of prefix + `zeros` zero bytes, made in well under a second:
    after a full flush the compressor starts afresh, so every zero chunk compresses alike."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(zeros, chunk)
    crc, zero_chunk = zlib.crc32(prefix), bytes(chunk)
    for _ in range(n):
        crc = zlib.crc32(zero_chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return head + block * n + c.compress(bytes(rest)) + c.flush(), crc


def _zip_one(path: Path, name: str, stream: bytes, crc: int, size: int) -> Path:
    """A zip holding one deflated entry, written field by field (sizes as given)."""
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(stream), size,
                        len(raw), 0) + raw
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(stream),
                          size, len(raw), 0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(stream), 0)
    path.write_bytes(local + stream + central + end)
    return path


def _zip_bomb(path: Path, size: int = 1 << 30) -> Path:
    stream, crc = _deflate_zeros(b"", size)
    return _zip_one(path, "sam_vit_b_01ec64.pth", stream, crc, size)


def _tar_gz_bomb(path: Path, size: int = 1 << 30) -> Path:
    info = tarfile.TarInfo("weights/open_clip_pytorch_model.bin")
    info.size = size
    stream, crc = _deflate_zeros(info.tobuf(format=tarfile.GNU_FORMAT), size + 1024)
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + stream
                     + struct.pack("<II", crc, (512 + size + 1024) & 0xFFFFFFFF))
    return path


def _nothing_left(root: Path) -> bool:
    return not root.exists() or not any(root.iterdir())


def test_zip_bomb_is_refused_before_extracting(tmp_path, monkeypatch, tmp_path_factory):
    root, _ = isolate_env(monkeypatch, tmp_path, tiny_models(tmp_path_factory))
    bomb = _zip_bomb(tmp_path / "weights.zip")
    assert bomb.stat().st_size < 2 << 20
    with zipfile.ZipFile(bomb) as z:  # a real zip: the standard library reads it
        assert z.getinfo("sam_vit_b_01ec64.pth").file_size == 1 << 30
    written = []
    real_open = open

    def watching_open(file, mode="r", *a, **k):
        if "w" in str(mode) and str(file).startswith(str(root)):
            written.append(file)
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr("builtins.open", watching_open)
    with pytest.raises(WeightsError, match=r"compression ratio over 200:1.*nothing was imported"):
        import_path(bomb)
    assert written == [] and _nothing_left(root)


def test_tar_gz_bomb_is_refused_from_its_first_header(tmp_path, monkeypatch, tmp_path_factory):
    root, _ = isolate_env(monkeypatch, tmp_path, tiny_models(tmp_path_factory))
    bomb = _tar_gz_bomb(tmp_path / "weights.tar.gz")
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(WeightsError, match="compression ratio over 200:1"):
        import_path(bomb)
    assert _nothing_left(root)


def test_cli_refuses_a_zip_bomb_with_a_message(tmp_path, monkeypatch, tmp_path_factory, capsys):
    root, _ = isolate_env(monkeypatch, tmp_path, tiny_models(tmp_path_factory))
    bomb = _zip_bomb(tmp_path / "weights.zip")
    assert cli.main(["models", "import", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: weights.zip: refused") and "zip bomb" in err
    assert "Traceback" not in err and _nothing_left(root)


def test_archive_bounds_total_size_entry_count_and_free_space(env, tmp_path, monkeypatch):
    tiny, root, manifest = env
    before = sorted(p.name for p in root.iterdir())
    carried = tmp_path / "carried.zip"
    with zipfile.ZipFile(carried, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tiny.sam, "sam/" + tiny.sam.name)
        for i in range(5):
            z.writestr(f"notes/{i}.txt", "x")
    size = tiny.sam.stat().st_size + 5

    monkeypatch.setattr(archives, "MAX_TOTAL_BYTES", size - 1)
    with pytest.raises(WeightsError, match="would unpack to more than"):
        import_path(carried, manifest=manifest, root=root)
    monkeypatch.setattr(archives, "MAX_TOTAL_BYTES", 64 << 30)

    monkeypatch.setattr(archives, "MAX_MEMBERS", 5)
    with pytest.raises(WeightsError, match="more than 5 entries"):
        import_path(carried, manifest=manifest, root=root)
    monkeypatch.setattr(archives, "MAX_MEMBERS", 10_000)

    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: real_usage(p)._replace(free=archives.FREE_MARGIN_BYTES + size))
    with pytest.raises(WeightsError, match="not enough free space.*free some space"):
        import_path(carried, manifest=manifest, root=root)
    assert sorted(p.name for p in root.iterdir()) == before  # no staging or unpack folders

    monkeypatch.setattr(shutil, "disk_usage", real_usage)
    results = {r.model_id: r for r in import_path(carried, manifest=manifest, root=root)}
    assert results["tiny-sam"].status in ("installed", "already-installed")


def test_an_archive_that_grows_after_its_check_stops_at_the_declared_size(tmp_path):
    small = tmp_path / "a.zip"
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("w.bin", bytes(1000))
    plan = archives.plan_archive(small)
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as z:  # swapped under us
        z.writestr("w.bin", bytes(5 << 20))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(WeightsError, match="more data than the 1000 bytes its header declares"):
        archives.extract_archive(small, dest, plan=plan)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1000


def test_folder_loaders_check_every_safetensors_file_first(tmp_path, tmp_path_factory):
    pytest.importorskip("diffusers")
    from inspector.weights.loaders import load_diffusers_pipeline

    tiny = tiny_models(tmp_path_factory)
    folder = copy_tree(tiny.sd, tmp_path / "sd")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(HOSTILE["list"][0])
    with pytest.raises(EngineUnavailable, match=r"unet/diffusion_pytorch_model.safetensors is not a "
                                                r"valid safetensors file \(header is not a JSON "
                                                r"object\) — re-import it"):
        load_diffusers_pipeline(folder, "text2img")
