"""Workspace storage: migrations, round trips, crash safety, schema versions."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from sqlalchemy import text

from inspector.core.errors import ConflictError, InspectorError, NotFoundError, WorkspaceError
from inspector.core.result import InspectionResult, Region
from inspector.services import inspections as insp
from inspector.services import products, references
from inspector.storage import database
from inspector.storage.workspace import init_workspace, open_workspace

from helpers import tree_snapshot, write_png


def test_migrations_from_empty_database_match_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from inspector.storage.models import Base

    ws = init_workspace(tmp_path / "w")
    assert database.current_revision(ws.engine) == database.head_revision()
    with ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    ws.close()
    open_workspace(tmp_path / "w").close()  # re-open is a no-op upgrade


def test_newer_schema_is_refused_and_untouched(tmp_path):
    ws = init_workspace(tmp_path / "w")
    with ws.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    ws.close()
    before = tree_snapshot(tmp_path / "w")
    with pytest.raises(WorkspaceError, match="newer"):
        open_workspace(tmp_path / "w")
    assert tree_snapshot(tmp_path / "w") == before


def test_missing_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="workspace init"):
        open_workspace(tmp_path / "nothing")


def test_product_round_trip(ws):
    p = products.create_product(ws, "washer", "M8 washer", tags={"material": "steel"},
                                defect_words=["scratch"])
    assert products.get_product(ws, "washer") == p
    with pytest.raises(ConflictError):
        products.create_product(ws, "washer")
    with pytest.raises(InspectorError):
        products.create_product(ws, "  ")
    products.update_product(ws, "washer", threshold=0.5, engine_settings={"size": 256})
    q = products.rename_product(ws, "washer", "washer-m8")
    assert q.threshold == 0.5 and q.engine_settings == {"size": 256} and q.tags == {"material": "steel"}
    assert [x.name for x in products.list_products(ws)] == ["washer-m8"]
    with pytest.raises(NotFoundError, match="known products: washer-m8"):
        products.get_product(ws, "washer")


def test_references_round_trip_and_dedupe(ws, tmp_path):
    products.create_product(ws, "p")
    a, b = write_png(tmp_path / "in" / "a.png", 1), write_png(tmp_path / "in" / "b.png", 2)
    added, skipped = references.add_references(ws, "p", [tmp_path / "in"])
    assert len(added) == 2 and skipped == []
    added, skipped = references.add_references(ws, "p", [a])
    assert added == [] and "already a reference" in skipped[0]
    refs = references.list_references(ws, "p")
    assert [r.original_name for r in refs] == ["a.png", "b.png"]
    for r in refs:
        assert ws.abs_path(r.path).read_bytes() in (a.read_bytes(), b.read_bytes())
        assert r.sha256[:20] in r.path
    imgs = references.load_reference_images(ws, "p")
    assert imgs[0].shape == (48, 64, 3)
    references.remove_reference(ws, "p", refs[0].id)
    assert not ws.abs_path(refs[0].path).exists()
    assert len(references.list_references(ws, "p")) == 1


def test_bad_reference_batch_changes_nothing(ws, tmp_path):
    products.create_product(ws, "p")
    good = write_png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:100])
    before = tree_snapshot(ws.root)
    with pytest.raises(InspectorError, match="bad.png"):
        references.add_references(ws, "p", [good, bad])
    assert tree_snapshot(ws.root) == before


def test_crash_between_file_write_and_commit_leaves_no_row(ws, tmp_path, monkeypatch):
    """The file is written first; a failed commit leaves no row (an unreferenced file at most)."""
    products.create_product(ws, "p")
    img = write_png(tmp_path / "a.png")
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def crash(session, _ctx):  # after the row is inserted, before the commit
        raise RuntimeError("power cut")

    event.listen(Session, "after_flush", crash)
    try:
        with pytest.raises(RuntimeError):
            references.add_references(ws, "p", [img])
    finally:
        event.remove(Session, "after_flush", crash)
    assert references.list_references(ws, "p") == []
    files = list((ws.product_dir(1) / "references").iterdir())
    assert all(f.read_bytes() == img.read_bytes() for f in files)  # whole, never half (or removed)


def test_crash_during_file_write_leaves_no_half_file_and_no_row(ws, tmp_path, monkeypatch):
    import os

    products.create_product(ws, "p")
    img = write_png(tmp_path / "a.png")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(WorkspaceError, match="products/1/references"):
        references.add_references(ws, "p", [img])
    monkeypatch.undo()
    assert references.list_references(ws, "p") == []
    folder = ws.product_dir(1) / "references"
    assert not folder.exists() or list(folder.iterdir()) == []


def _result(verdict: str, score: float) -> InspectionResult:
    m = np.zeros((4, 5), bool)
    m[1:3, 1:4] = True
    regions = [Region((10, 20, 15, 24), m, 6, "scratch", 0.9)] if verdict == "NG" else []
    return InspectionResult(score=score, anomaly_map=np.zeros((30, 30), np.float32),
                            mask=np.zeros((30, 30), bool), regions=regions, verdict=verdict,
                            threshold=0.5, engine_id="standalone", engine_version="1",
                            timings_ms={"total": 12.5})


def test_inspections_history_and_csv(ws, tmp_path):
    products.create_product(ws, "p")
    products.create_product(ws, "q")
    png = write_png(tmp_path / "x.png").read_bytes()
    ng = insp.record_inspection(ws, "p", _result("NG", 0.8), source="batch", image_bytes=png,
                                original_name="x.png", station="line 1")
    insp.record_inspection(ws, "p", _result("OK", 0.1), source="camera")
    insp.record_inspection(ws, "q", _result("OK", 0.2), source="file")
    assert ws.abs_path(ng.image_path).read_bytes() == png
    assert ng.regions[0].box == (10, 20, 15, 24) and ws.abs_path(ng.regions[0].mask_path).exists()
    assert len(insp.query_history(ws, "p")) == 2
    only_ng = insp.query_history(ws, "p", verdict="NG")
    assert [r.id for r in only_ng] == [ng.id] and only_ng[0].regions[0].label == "scratch"
    assert len(insp.query_history(ws, source="camera")) == 1
    assert len(insp.query_history(ws)) == 3
    from datetime import datetime, timedelta
    assert insp.query_history(ws, since=datetime.now() + timedelta(days=2)) == []
    insp.flag_inspection(ws, ng.id, "false_reject")
    assert insp.query_history(ws, "p", verdict="NG")[0].flag == "false_reject"
    out = tmp_path / "h.csv"
    insp.export_history_csv(insp.query_history(ws, "p"), out)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,time,product,verdict") and len(lines) == 3
    assert ",NG,0.8000," in lines[1] + lines[2]


def test_delete_product_cascades_rows_and_files(ws, tmp_path):
    products.create_product(ws, "p")
    references.add_references(ws, "p", [write_png(tmp_path / "a.png")])
    insp.record_inspection(ws, "p", _result("NG", 0.9), source="file", image_bytes=b"x")
    with pytest.raises(InspectorError, match="confirm"):
        products.delete_product(ws, "p", confirm="P")
    products.delete_product(ws, "p", confirm="p")
    assert not ws.product_dir(1).exists()
    con = sqlite3.connect(ws.db_path)
    for table in ("reference_images", "inspections", "regions"):
        assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    con.close()
