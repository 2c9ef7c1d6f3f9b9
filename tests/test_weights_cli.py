"""`inspector models list | import | verify | download` (run in-process through `register`)."""

from __future__ import annotations

import argparse

import pytest

from inspector.weights import cli
from weights_fixtures import copy_tree, isolate_env, tiny_models


@pytest.fixture
def run(monkeypatch, tmp_path, tmp_path_factory, capsys):
    tiny = tiny_models(tmp_path_factory)
    root, manifest = isolate_env(monkeypatch, tmp_path, tiny)

    def invoke(*args):
        code = cli.main(["models", *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    invoke.tiny, invoke.root = tiny, root
    return invoke


def _row(out: str, model_id: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(model_id + " "))


def test_list_import_verify_cycle(run):
    code, out, _ = run("list")
    assert code == 0 and "models folder: " + str(run.root) in out
    assert " missing " in _row(out, "tiny-sam") and "inspector models import PATH" in out

    code, out, _ = run("import", run.tiny.source)
    assert code == 0 and out.count("[installed]") == 5

    code, out, _ = run("list")
    row = _row(out, "tiny-clip")
    assert " verified " in row and "MB" in row and str(run.root / "tiny-clip") in row

    code, out, _ = run("verify")
    assert code == 0 and "tiny-sd: verified" in out and "tiny-gdino: verified" in out


def test_corrupt_model_is_flagged_everywhere(run):
    target = run.root / "tiny-sam" / run.tiny.sam.name
    target.parent.mkdir(parents=True)
    target.write_bytes(run.tiny.sam.read_bytes()[:4096])
    code, out, _ = run("list")
    assert code == 0 and " corrupt " in _row(out, "tiny-sam") and "size" in _row(out, "tiny-sam")
    code, out, _ = run("verify", "tiny-sam")
    assert code == 1 and "tiny-sam: CORRUPT" in out


def test_bad_input_exits_non_zero_with_a_message(run, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 1000)
    code, out, _ = run("import", junk)
    assert code == 1 and "[unknown]" in out and "nothing was copied" in out
    code, _, err = run("import", tmp_path / "absent")
    assert code == 1 and "error:" in err and "not found" in err
    code, _, err = run("verify", "no-such-model")
    assert code == 1 and "unknown model 'no-such-model'" in err
    code, out, _ = run("verify", "tiny-clip")  # asked for by name but missing
    assert code == 1 and "tiny-clip: missing" in out


def test_download_offline_prints_what_to_fetch(run, monkeypatch):
    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    code, _, err = run("download", "tiny-gdino")
    assert code == 1
    assert "Cannot download Tiny Grounding DINO (tiny-gdino)" in err
    assert "inspector models import PATH" in err
    code, out, _ = run("download", "tiny-gdino", "--urls")  # no network attempt at all
    assert code == 0 and "https://huggingface.co/test-org/tiny-gdino/resolve/main/config.json" in out


def test_models_dir_option_wins(run, tmp_path):
    other = tmp_path / "elsewhere"
    copy_tree(run.tiny.sam, other / "tiny-sam" / run.tiny.sam.name)
    code, out, _ = run("list", "--models-dir", other)
    assert code == 0 and " present " in _row(out, "tiny-sam") and str(other) in out


def test_register_adds_the_command():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", "import", "x.zip"])
    assert args.func is cli.cmd_import and args.path == "x.zip"
    with pytest.raises(SystemExit):
        parser.parse_args(["models"])  # a subcommand is required
