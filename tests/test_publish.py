"""Published recipes (issue 10 item 7): a fit after the first makes a draft, inspection never
refits and says "draft pending", `inspector publish` switches (engineer only, audited), and
opening a workspace keeps a committed draft (it is not an uncommitted leftover)."""

from __future__ import annotations

import json

import pytest

from fault_tools import fitted_workspace  # noqa: F401 - fixture
from fault_tools import run_cli_here as run_cli

from inspector.services import audit as audit_svc
from inspector.services import roles as roles_svc

PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def no_gui_actor():
    audit_svc.set_default_actor(None)  # a window of an earlier test may have left its person
    yield


def _row(root):  # noqa: ANN001, ANN202
    from inspector.services.products import get_product
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(root)
    try:
        return get_product(ws, "p")
    finally:
        ws.close()


def test_fit_makes_a_draft_inspect_keeps_the_published_and_publish_switches(fitted_workspace, capsys):
    root, src = fitted_workspace
    before = _row(root)
    assert before.state_version == 1
    # references change: inspect keeps v1 and says a draft is pending (no refit, no new version)
    assert run_cli(capsys, root, "refs", "add", "p", src / "good")[0] == 0
    code, out, _ = run_cli(capsys, root, "inspect", "p", src / "bad", "--no-record")
    assert code == 0 and "draft pending: references changed since v1 was published" in out
    assert f"(thr {before.threshold:.4f})" in out
    assert _row(root).state_version == 1
    assert sorted(p.name for p in (root / "products/1/state").iterdir()) == ["v1"]

    code, out, _ = run_cli(capsys, root, "fit", "p")
    assert code == 0 and "saved as DRAFT v2" in out and "still uses the published v1" in out
    after_fit = _row(root)
    assert after_fit.state_version == 1 and after_fit.threshold == before.threshold
    assert (root / "products/1/state/DRAFT").read_text() == "2"
    code, out, _ = run_cli(capsys, root, "inspect", "p", src / "bad", "--no-record")
    assert "draft pending: v2 is fitted but not published; inspecting with v1" in out
    assert f"(thr {before.threshold:.4f})" in out
    code, out, _ = run_cli(capsys, root, "products", "show", "p")
    assert code == 0 and "published" in out and "draft" in out and "v1" in out and "v2" in out
    assert "held-out scores" in out and "synthetic recall" in out

    # reopening keeps the committed draft (recovery removes only uncommitted versions)
    assert (root / "products/1/state/v2/meta.json").is_file()

    code, out, _ = run_cli(capsys, root, "publish", "p")
    assert code == 0 and "published v2 of 'p' (was v1)" in out
    published = _row(root)
    draft_cal = json.loads((root / "products/1/state/v2/calibration.json").read_text())
    assert published.state_version == 2 and published.threshold == draft_cal["threshold"]
    assert not (root / "products/1/state/DRAFT").exists()
    code, out, _ = run_cli(capsys, root, "inspect", "p", src / "bad", "--no-record")
    assert "draft pending" not in out and f"(thr {published.threshold:.4f})" in out

    from inspector.storage.workspace import open_workspace

    ws = open_workspace(root)
    try:
        rows = [(r.what, r.old_value, r.new_value) for r in audit_svc.list_audit(ws, "p")]
    finally:
        ws.close()
    assert ("recipe published", "1", "2") in rows

    # nothing left to publish: a clear refusal, nothing changed
    code, _, err = run_cli(capsys, root, "publish", "p")
    assert code == 1 and err.startswith("error: product 'p' has no draft to publish —")


def test_first_fit_is_published_at_once(tmp_path, capsys, monkeypatch):
    from fault_tools import part_image, register_meandiff

    register_meandiff(monkeypatch)
    for i in range(4):
        part_image(tmp_path / "refs" / f"r{i}.png", i)
    root = tmp_path / "ws"
    run_cli(capsys, root, "workspace", "init")
    run_cli(capsys, root, "products", "add", "p", "--engine", "meandiff")
    run_cli(capsys, root, "refs", "add", "p", tmp_path / "refs")
    code, out, _ = run_cli(capsys, root, "fit", "p")
    assert code == 0 and "saved as fitted state v1 and published" in out
    assert _row(root).state_version == 1 and not (root / "products/1/state/DRAFT").exists()


def test_a_draft_survives_reopening_and_an_unnamed_version_does_not(fitted_workspace, capsys):
    import shutil

    root, _ = fitted_workspace
    state = root / "products/1/state"
    assert run_cli(capsys, root, "fit", "p")[0] == 0  # draft v2
    shutil.copytree(state / "v2", state / "v3")  # as a fit killed after its rename leaves it
    code, _, err = run_cli(capsys, root, "products", "show", "p")
    assert code == 0 and "products/1/state/v3" in err
    assert sorted(p.name for p in state.iterdir()) == ["DRAFT", "v1", "v2"]


def test_operator_cannot_publish(fitted_workspace, capsys, monkeypatch):
    root, _ = fitted_workspace
    assert run_cli(capsys, root, "fit", "p")[0] == 0
    monkeypatch.setenv("INSPECTOR_NEW_ENGINEER_PASSWORD", PASSWORD)
    assert run_cli(capsys, root, "roles", "set-password")[0] == 0
    monkeypatch.delenv("INSPECTOR_NEW_ENGINEER_PASSWORD")
    assert run_cli(capsys, root, "roles", "on")[0] == 0
    monkeypatch.delenv(roles_svc.ENV_PASSWORD, raising=False)
    code, _, err = run_cli(capsys, root, "publish", "p")
    assert code == 1 and "needs engineer mode" in err
    assert _row(root).state_version == 1
    monkeypatch.setenv(roles_svc.ENV_PASSWORD, PASSWORD)
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    assert _row(root).state_version == 2


def test_a_recipe_of_an_older_engine_version_says_fit_then_publish(tmp_path, capsys):
    """After an engine upgrade the published state is refused with the reason (its version) and
    the way out for a product that already has a published recipe: fit (a draft), then publish."""
    from fault_tools import part_image

    from inspector.services import engine_state

    for i in range(3):
        part_image(tmp_path / "refs" / f"r{i}.png", i)
    root = tmp_path / "ws"
    run_cli(capsys, root, "workspace", "init")
    run_cli(capsys, root, "products", "add", "p")  # the standalone engine
    run_cli(capsys, root, "refs", "add", "p", tmp_path / "refs")
    assert run_cli(capsys, root, "fit", "p")[0] == 0
    state = root / "products/1/state/v1/standalone.json"
    meta = json.loads(state.read_text())
    meta["version"] = "4"  # as an older release saved it
    state.write_text(json.dumps(meta))
    with engine_state._cache_lock:
        engine_state._cache.clear()
    code, _, err = run_cli(capsys, root, "inspect", "p", tmp_path / "refs", "--no-record")
    assert code != 0 and "Traceback" not in err
    assert "version 4" in err and '`inspector fit "p"`, then `inspector publish "p"`' in err
    assert run_cli(capsys, root, "fit", "p")[0] == 0
    assert run_cli(capsys, root, "publish", "p")[0] == 0
    assert run_cli(capsys, root, "inspect", "p", tmp_path / "refs", "--no-record")[0] == 0
