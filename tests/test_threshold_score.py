"""`threshold --score`: a fixed threshold score the engineer types. It decides the verdicts, stays
through a refit with the same engine version (not through one whose scores mean something else),
and `--frr` sets the threshold from the good images again. Bad input changes nothing."""

from __future__ import annotations

import json

import pytest

from fault_tools import fitted_workspace, register_meandiff
from fault_tools import run_cli_here as run_cli  # in-process
from helpers import tree_snapshot

from inspector.core.errors import InspectorError
from inspector.storage.workspace import open_workspace

fitted = fitted_workspace  # the fixture, under this file's name


def _product(root):
    from inspector.services import engine_state, products

    ws = open_workspace(root)
    try:
        return products.get_product(ws, "p"), engine_state.get_calibration(ws, "p")
    finally:
        ws.close()


def _verdict(capsys, root, image) -> str:
    code, out, err = run_cli(capsys, root, "inspect", "p", image, "--no-record")
    assert code in (0, 1), err
    return out.split()[0]


def test_a_fixed_score_decides_survives_a_refit_and_frr_ends_it(fitted, capsys, monkeypatch):
    root, src = fitted
    register_meandiff(monkeypatch)
    info, cal = _product(root)
    assert not cal.fixed_score
    assert _verdict(capsys, root, src / "bad" / "b0.png") == "NG"

    code, out, err = run_cli(capsys, root, "threshold", "p", "--score", "1000")
    assert code == 0, err
    assert "threshold 1000.0000, a fixed score; it rejects 0 of the 4 held-out good images" in out
    info, cal = _product(root)
    assert info.threshold == 1000.0 and cal.fixed_score and cal.threshold == 1000.0
    assert _verdict(capsys, root, src / "bad" / "b0.png") == "OK"  # the score decides
    code, out, _ = run_cli(capsys, root, "products", "show", "p")
    assert "threshold:     1000" in out and "(a fixed score)" in out

    # a refit of the same engine version keeps it (as a draft, then published)
    code, out, err = run_cli(capsys, root, "fit", "p")
    assert code == 0, err
    assert "a fixed score" in out and "note: the fixed score 1000.0000 of v1 is kept" in out
    code, out, _ = run_cli(capsys, root, "products", "show", "p")
    assert "fixed score" in out.split("false-reject target")[1].splitlines()[0]  # the draft's column too
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    info, cal = _product(root)
    assert info.state_version == 2 and info.threshold == 1000.0 and cal.fixed_score

    # a false-reject target sets it from the good images again
    code, out, err = run_cli(capsys, root, "threshold", "p", "--frr", "1")
    assert code == 0 and "for a 1.0% false-reject target" in out, err
    info, cal = _product(root)
    assert not cal.fixed_score and info.threshold < 1000.0
    assert _verdict(capsys, root, src / "bad" / "b0.png") == "NG"


def test_a_refit_with_another_engine_version_goes_back_to_the_target(fitted, capsys, monkeypatch):
    root, _ = fitted
    register_meandiff(monkeypatch)
    assert run_cli(capsys, root, "threshold", "p", "--score", "1000")[0] == 0
    info, _ = _product(root)
    meta = root / info.state_path / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "engine_version": "old"}))
    code, out, err = run_cli(capsys, root, "fit", "p")
    assert code == 0, err
    assert "whose scores are on another scale" in out and "false-reject target" in out
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    info, cal = _product(root)
    assert not cal.fixed_score and info.threshold < 1000.0


@pytest.mark.parametrize("args,message", [
    (("--score", "nan"), "error: the threshold score must be a number, not nan"),
    (("--score", "inf"), "error: the threshold score must be a number, not inf"),
    (("--score", "2", "--frr", "1"), "error: give --frr (a threshold set from the good images) or --score"),
])
def test_bad_scores_are_refused_and_change_nothing(fitted, capsys, monkeypatch, args, message):
    root, _ = fitted
    register_meandiff(monkeypatch)
    before = tree_snapshot(root)
    code, out, err = run_cli(capsys, root, "threshold", "p", *args)
    assert code == 1 and out == ""
    assert err.startswith(message), err
    assert "nothing was changed" in err and "Traceback" not in err
    assert tree_snapshot(root) == before


def test_an_unfitted_product_has_no_score_to_set(ws):
    from inspector.services import engine_state, products

    products.create_product(ws, "u")
    before = tree_snapshot(ws.root)
    with pytest.raises(InspectorError, match=r"not fitted yet.*\(nothing was changed\)"):
        engine_state.set_threshold_score(ws, "u", 2.0)
    assert tree_snapshot(ws.root) == before


def test_a_threshold_set_while_a_draft_waits_holds_for_the_draft_too(fitted, capsys, monkeypatch):
    root, _ = fitted
    register_meandiff(monkeypatch)
    assert run_cli(capsys, root, "fit", "p")[0] == 0  # draft v2 waits, fitted at the 1 % target
    assert run_cli(capsys, root, "threshold", "p", "--score", "1000")[0] == 0
    code, out, _ = run_cli(capsys, root, "products", "show", "p")
    assert out.split("false-reject target")[1].splitlines()[0].split() == ["fixed", "score", "fixed", "score"]
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    info, cal = _product(root)
    assert info.state_version == 2 and info.threshold == 1000.0 and cal.fixed_score

    assert run_cli(capsys, root, "fit", "p")[0] == 0  # draft v3, keeping the fixed score
    assert run_cli(capsys, root, "threshold", "p", "--frr", "5")[0] == 0
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    info, cal = _product(root)
    assert info.state_version == 3 and not cal.fixed_score and cal.target_frr == 0.05
    assert info.threshold == cal.threshold < 1000.0
