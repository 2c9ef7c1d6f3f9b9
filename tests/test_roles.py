"""Operator/engineer roles and the audit trail: the password hash, the CLI refusing changes
without the engineer password (changing nothing), the env var, and an audit row per change."""

from __future__ import annotations

import csv

import pytest

from helpers import tree_snapshot, write_png
from test_eval_inspect_cli import meandiff_engine, mvtec  # noqa: F401 - fixtures

from inspector.services import audit as audit_svc
from inspector.services import roles as roles_svc

PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def no_gui_actor():
    audit_svc.set_default_actor(None)  # a window of an earlier test may have left its person
    yield


def test_password_is_a_salted_scrypt_hash(ws):
    a, b = roles_svc.hash_password(PASSWORD), roles_svc.hash_password(PASSWORD)
    assert a != b and PASSWORD not in a and a.startswith("scrypt$16384$8$1$")  # random salt
    assert roles_svc.verify_password(PASSWORD, a) and not roles_svc.verify_password("s3cret-pX", a)
    assert not roles_svc.verify_password(PASSWORD, "garbage")
    roles_svc.set_password(ws, PASSWORD)
    assert roles_svc.check_password(ws, PASSWORD)
    assert not roles_svc.check_password(ws, "wrong") and not roles_svc.check_password(ws, None)
    with pytest.raises(Exception, match="needs the current one"):  # replacing needs the old one
        roles_svc.set_password(ws, "another-pw")
    roles_svc.set_password(ws, "another-pw", current=PASSWORD)
    assert roles_svc.check_password(ws, "another-pw") and not roles_svc.check_password(ws, PASSWORD)
    with pytest.raises(Exception, match="at least"):
        roles_svc.set_password(ws, "ab", current="another-pw")
    # the hash is stored, never the password, and the audit rows do not carry it either
    dump = tree_snapshot(ws.root)["<db dump>"].decode()
    assert PASSWORD not in dump and "another-pw" not in dump


def test_require_engineer(ws):
    assert roles_svc.require_engineer(ws, None).role == ""  # roles off: anyone
    with pytest.raises(Exception, match="password first"):
        roles_svc.set_roles_enabled(ws, True)
    roles_svc.set_password(ws, PASSWORD)
    assert roles_svc.set_roles_enabled(ws, True) and not roles_svc.set_roles_enabled(ws, True)
    with pytest.raises(Exception, match="needs engineer mode"):
        roles_svc.require_engineer(ws, None)
    with pytest.raises(Exception, match="wrong engineer password — nothing was changed"):
        roles_svc.require_engineer(ws, "nope")
    assert roles_svc.require_engineer(ws, PASSWORD).role == "engineer"


def _roles_on(cli, monkeypatch):
    cli("workspace", "init")
    monkeypatch.setenv("INSPECTOR_NEW_ENGINEER_PASSWORD", PASSWORD)
    assert cli("roles", "set-password")[0] == 0
    monkeypatch.delenv("INSPECTOR_NEW_ENGINEER_PASSWORD")
    assert cli("roles", "on")[0] == 0


def test_cli_refuses_changes_without_the_password_and_changes_nothing(cli, mvtec, monkeypatch, tmp_path):
    monkeypatch.delenv(roles_svc.ENV_PASSWORD, raising=False)
    cli("workspace", "init")
    cli("products", "add", "toy", "--engine", "meandiff")
    cli("refs", "add", "toy", mvtec / "toy/train/good")
    assert cli("fit", "toy")[0] == 0
    _roles_on(cli, monkeypatch)
    extra = write_png(tmp_path / "new.png", seed=9)
    changes = [("products", "add", "other"), ("products", "rename", "toy", "toy2"),
               ("products", "update", "toy", "--defect", "crack"),
               ("products", "delete", "toy", "--confirm", "toy"), ("refs", "add", "toy", extra),
               ("refs", "remove", "toy", "1"), ("fit", "toy"), ("threshold", "toy", "--frr", "5"),
               ("roles", "off")]
    before = tree_snapshot(cli.workspace)
    for argv in changes:  # stdin is not a terminal under pytest: no prompt, a clear refusal
        code, out, err = cli(*argv)
        assert code == 1 and "needs engineer mode" in err and "Traceback" not in err, (argv, err)
    monkeypatch.setenv(roles_svc.ENV_PASSWORD, "not-it")
    for argv in changes:
        code, _, err = cli(*argv)
        assert code == 1 and err.strip() == "error: wrong engineer password — nothing was changed", (argv, err)
    assert tree_snapshot(cli.workspace) == before
    # reading and inspecting stay open to the operator
    monkeypatch.delenv(roles_svc.ENV_PASSWORD)
    assert cli("products", "show", "toy")[0] == 0
    assert cli("inspect", "toy", mvtec / "toy/test/good")[0] == 0
    assert cli("audit")[0] == 0


def test_engineer_password_from_env_and_audit_rows_for_each_change(cli, mvtec, monkeypatch, tmp_path):
    monkeypatch.delenv(roles_svc.ENV_PASSWORD, raising=False)
    _roles_on(cli, monkeypatch)
    monkeypatch.setenv(roles_svc.ENV_PASSWORD, PASSWORD)
    ok = lambda *argv: (lambda r: r[0] == 0 or pytest.fail(f"{argv}: {r[2]}"))(cli(*argv))  # noqa: E731
    ok("products", "add", "toy", "--engine", "meandiff", "--tag", "object=toy")
    ok("products", "update", "toy", "--defect", "crack", "--description", "a toy", "--tag", "object=cube")
    ok("refs", "add", "toy", mvtec / "toy/train/good")
    ok("fit", "toy")
    ok("threshold", "toy", "--frr", "5")
    ok("refs", "remove", "toy", "1")
    ok("products", "rename", "toy", "cube")
    ok("products", "add", "gone")
    ok("products", "delete", "gone", "--confirm", "gone")
    ok("roles", "off")

    from inspector.storage.workspace import open_workspace

    ws = open_workspace(cli.workspace)
    rows = audit_svc.list_audit(ws)
    whats = [r.what for r in rows]
    for what in ("product created", "defect words", "description", "tags", "reference added", "fitted state",
                 "threshold", "target FRR", "reference removed", "name", "product deleted", "roles",
                 "engineer password"):
        assert what in whats, (what, whats)
    assert whats.count("reference added") == 6 and whats.count("roles") == 2
    by = {r.what: r for r in rows}  # newest first: the dict keeps the oldest of each kind
    assert by["target FRR"].old_value == "0.01" and by["target FRR"].new_value == "0.05"
    assert by["tags"].old_value == '{"object": "toy"}' and by["tags"].new_value == '{"object": "cube"}'
    assert by["name"].old_value == '"toy"' and by["name"].new_value == '"cube"'
    assert by["product deleted"].product_name == "gone"
    assert all(r.role == "engineer" for r in rows if r.what != "roles" or r.new_value == '"off"')
    assert all(r.user and r.station for r in rows)
    # a product's trail (by its current name), and the CSV export
    cube = audit_svc.list_audit(ws, "cube")
    assert cube and all(r.product_name in ("toy", "cube") for r in cube)
    assert audit_svc.list_audit(ws, "gone")[0].what == "product deleted"  # outlives the product
    out = tmp_path / "audit.csv"
    code, text, err = cli("audit", "--csv", out)
    assert code == 0, err
    with out.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and set(table[0]) == set(audit_svc.CSV_COLUMNS)
    code, text, _ = cli("audit", "cube")
    assert code == 0 and "cube" in text and "gone" not in text
    ws.close()


def test_roles_off_by_default_and_in_the_demo(cli, tmp_path, monkeypatch):
    from inspector.services.demo import create_demo_workspace

    monkeypatch.delenv(roles_svc.ENV_PASSWORD, raising=False)
    cli("workspace", "init")
    assert cli("products", "add", "free")[0] == 0  # a new workspace: no password asked
    ws, _ = create_demo_workspace(tmp_path / "demo", size=64)
    assert not roles_svc.roles_enabled(ws)
    assert [r.role for r in audit_svc.list_audit(ws)] and all(r.role == "" for r in audit_svc.list_audit(ws))
    ws.close()
