"""Record inspections with their regions, query history, export CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload

from ..core.errors import InspectorError, NotFoundError
from ..core.faults import fault_point
from ..core.image_io import atomic_write_bytes, encode_png
from ..core.result import InspectionResult
from ..storage.models import Inspection, Product, Region
from ..storage.workspace import Workspace
from .products import get_product_row
from .records import InspectionInfo, RegionInfo

SOURCES = ("file", "batch", "camera")
VERDICTS = ("OK", "NG", "RECHECK")  # RECHECK: inside the recheck band (engines/detector.py)
FLAGS = ("", "false_reject", "missed_defect")


def record_inspection(ws: Workspace, product: str, result: InspectionResult, *, source: str,
                      image_bytes: Optional[bytes] = None, image_suffix: str = ".png",
                      original_name: str = "", station: str = "", operator: str = "",
                      save_region_masks: bool = True) -> InspectionInfo:
    """Store the image and region masks (files first), then commit the inspection row.

    When the row cannot be committed (busy database, full disk) or a file cannot be written,
    the files written for it are removed again and a clear WorkspaceError says nothing was
    recorded.
    """
    if source not in SOURCES:
        raise InspectorError(f"unknown inspection source '{source}' (one of {', '.join(SOURCES)})")
    with ws.session() as s:
        product_id = get_product_row(s, product).id
    day = datetime.now().strftime("%Y-%m-%d")
    folder = ws.product_dir(product_id) / "inspections" / day
    nothing = f"the inspection of {original_name or 'this image'} was not recorded"
    created: list[str] = []
    try:
        image_rel = None
        if image_bytes is not None:
            image_rel, _ = ws.store_bytes(folder, image_bytes, image_suffix, created, nothing)
        fault_point("inspection.after_image", folder)
        region_rows = []
        for reg in result.regions:
            mask_rel = None
            if save_region_masks and reg.mask.size:
                mask_rel, _ = ws.store_bytes(folder / "regions", encode_png(reg.mask.astype(np.uint8) * 255),
                                             ".png", created, nothing)
            x0, y0, x1, y1 = (int(v) for v in reg.box)
            region_rows.append(Region(x0=x0, y0=y0, x1=x1, y1=y1, mask_path=mask_rel, label=reg.label,
                                      score=float(reg.score), area_px=int(reg.area_px)))
        fault_point("inspection.after_masks", folder)
        with ws.write_session() as s:
            row = Inspection(product_id=product_id, image_path=image_rel, original_name=original_name,
                             source=source, engine_id=result.engine_id,
                             engine_version=result.engine_version, score=float(result.score),
                             verdict=result.verdict, threshold=float(result.threshold),
                             duration_ms=float(result.timings_ms.get("total", 0.0)),
                             station=station, operator=operator, flag="", regions=region_rows)
            s.add(row)
            s.flush()
            info = _info(row, product)
    except DBAPIError as exc:
        ws.discard_unreferenced(created)  # no row was committed: none of its files stays
        raise ws.database_error(exc, nothing) from None
    except OSError as exc:
        ws.discard_unreferenced(created)
        raise ws.write_error(exc, folder, nothing) from None
    except BaseException:
        ws.discard_unreferenced(created)
        raise
    fault_point("inspection.after_commit", folder)
    return info


def _info(row: Inspection, product_name: str) -> InspectionInfo:
    return InspectionInfo(
        id=row.id, product=product_name, image_path=row.image_path,
        original_name=row.original_name, source=row.source, engine_id=row.engine_id,
        engine_version=row.engine_version, score=row.score, verdict=row.verdict,
        threshold=row.threshold, duration_ms=row.duration_ms, created_at=row.created_at,
        station=row.station, operator=row.operator, flag=row.flag,
        regions=[RegionInfo((r.x0, r.y0, r.x1, r.y1), r.label, r.score, r.area_px, r.mask_path)
                 for r in row.regions])


def query_history(ws: Workspace, product: Optional[str] = None, verdict: Optional[str] = None,
                  since: Optional[datetime] = None, until: Optional[datetime] = None,
                  source: Optional[str] = None, limit: Optional[int] = None,
                  flag: Optional[str] = None) -> list[InspectionInfo]:
    """Inspections newest first, filtered by product, verdict, [since, until), source and flag
    ("any" for every flagged row, "false_reject" / "missed_defect" for one kind, "" for unflagged)."""
    if verdict is not None and verdict not in VERDICTS:
        raise InspectorError(f"verdict must be OK, NG or RECHECK, not '{verdict}'")
    if source is not None and source not in SOURCES:
        raise InspectorError(f"source must be one of {', '.join(SOURCES)}, not '{source}'")
    if flag is not None and flag not in (*FLAGS, "any"):
        raise InspectorError(f"flag filter must be any, false_reject, missed_defect or empty, not '{flag}'")
    with ws.session() as s:
        q = (select(Inspection, Product.name).join(Product, Product.id == Inspection.product_id)
             .options(selectinload(Inspection.regions))
             .order_by(Inspection.created_at.desc(), Inspection.id.desc()))
        if product is not None:
            q = q.where(Inspection.product_id == get_product_row(s, product).id)
        if verdict is not None:
            q = q.where(Inspection.verdict == verdict)
        if since is not None:
            q = q.where(Inspection.created_at >= since)
        if until is not None:
            q = q.where(Inspection.created_at < until)
        if source is not None:
            q = q.where(Inspection.source == source)
        if flag == "any":
            q = q.where(Inspection.flag != "")
        elif flag is not None:
            q = q.where(Inspection.flag == flag)
        if limit is not None:
            q = q.limit(limit)
        return [_info(row, name) for row, name in s.execute(q)]


FLAG_VERDICT = {"false_reject": "NG", "missed_defect": "OK"}  # the only verdict each flag can correct


def flag_allowed(flag: str, verdict: str) -> bool:
    """A false reject corrects an NG verdict, a missed defect an OK one; clearing always works."""
    return flag == "" or FLAG_VERDICT.get(flag) == verdict


def flag_inspection(ws: Workspace, inspection_id: int, flag: str) -> None:
    """Operator feedback on a verdict: "false_reject" (on NG), "missed_defect" (on OK) or "" to clear."""
    if flag not in FLAGS:
        raise InspectorError(f"flag must be one of {', '.join(f for f in FLAGS if f)} or empty to clear, "
                             f"not '{flag}'")
    with ws.session() as s:
        row = s.get(Inspection, inspection_id)
        if row is None:
            raise NotFoundError(f"no inspection #{inspection_id} — check the id in the history")
        if not flag_allowed(flag, row.verdict):
            other = "missed_defect" if flag == "false_reject" else "false_reject"
            raise InspectorError(
                f"inspection #{inspection_id} is {row.verdict}, so it cannot be a "
                f"{flag.replace('_', ' ')} (only an {FLAG_VERDICT[flag]} verdict can) — flag it as a "
                f"{other.replace('_', ' ')} if the verdict was wrong")
        row.flag = flag


CSV_COLUMNS = ["id", "time", "product", "verdict", "score", "threshold", "engine", "engine_version",
               "source", "image", "original_name", "duration_ms", "regions", "station", "operator",
               "flag"]


def history_csv(records: list[InspectionInfo]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in records:
        w.writerow([r.id, r.created_at.isoformat(timespec="seconds"), r.product, r.verdict,
                    f"{r.score:.4f}", f"{r.threshold:.4f}", r.engine_id, r.engine_version, r.source,
                    r.image_path or "", r.original_name, f"{r.duration_ms:.1f}", len(r.regions),
                    r.station, r.operator, r.flag])
    return buf.getvalue()


def export_history_csv(records: list[InspectionInfo], path: Path) -> None:
    path = Path(path)
    if path.is_dir():
        raise InspectorError(f"{path} is a folder; give a file name such as history.csv")
    try:
        atomic_write_bytes(path, history_csv(records).encode("utf-8"))
    except OSError as exc:
        raise InspectorError(f"cannot write {path}: {exc.strerror or exc}") from None
