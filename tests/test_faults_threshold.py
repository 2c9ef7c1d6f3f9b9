"""`threshold --frr` outside 0.01 % .. 20 % is refused with a message and changes nothing;
a product that is not fitted is refused without saving the target."""

from __future__ import annotations

import pytest

from fault_tools import fitted_workspace, register_meandiff
from fault_tools import run_cli_here as run_cli  # in-process (the name run_cli is the subprocess one)
from helpers import tree_snapshot

from inspector.core.errors import InspectorError


fitted = fitted_workspace  # the fixture, under this file's name
_cli = run_cli


@pytest.mark.parametrize("percent", ["0", "-1", "100", "150", "20.5", "0.001", "nan", "inf"])
def test_out_of_range_target_is_refused_and_changes_nothing(fitted, capsys, monkeypatch, percent):
    root, _ = fitted
    register_meandiff(monkeypatch)
    before = tree_snapshot(root)
    code, out, err = _cli(capsys, root, "threshold", "p", "--frr", percent)
    assert code == 1 and out == ""
    assert err.startswith("error: false-reject target must be between 0.01% and 20%"), err
    assert "nothing was changed" in err and "Traceback" not in err
    assert tree_snapshot(root) == before


def test_bounds_are_accepted(fitted, capsys, monkeypatch):
    root, _ = fitted
    register_meandiff(monkeypatch)
    for percent in ("0.01", "20", "2"):
        code, out, err = _cli(capsys, root, "threshold", "p", "--frr", percent)
        assert code == 0 and "false-reject target" in out, err


def test_unfitted_product_is_refused_without_saving_the_target(ws):
    from inspector.services import engine_state, products

    products.create_product(ws, "u")
    before = tree_snapshot(ws.root)
    with pytest.raises(InspectorError, match=r"not fitted yet.*inspector fit \"u\"` first \(nothing was changed\)"):
        engine_state.set_target_frr(ws, "u", 0.02)
    assert products.get_product(ws, "u").target_frr == 0.01
    assert tree_snapshot(ws.root) == before
