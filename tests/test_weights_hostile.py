"""Hostile safetensors headers: each is one corrupt file with its reason, never a traceback,
and never breaks listing, verifying, importing or fitting the other models."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import EngineUnavailable
from inspector.weights import cli
from inspector.weights.importer import import_path
from inspector.weights.layouts import LayoutError, read_tensor_shapes
from inspector.weights.loaders import locate
from inspector.weights.manifest import load_manifest
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
