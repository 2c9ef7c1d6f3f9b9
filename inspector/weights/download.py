"""Download a manifest model: Hugging Face files at the pinned revision, or URLs with resume.

Files land in `<models>/.partial/<id>/` first (kept between attempts, so an interrupted
download resumes: huggingface_hub resumes by itself, URLs use HTTP Range requests), are fully
verified there, and are then renamed into `<models>/<id>/`. When the machine is offline or the
source unreachable, the error says which files to fetch, from where, and how to import them.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ..core.errors import Cancelled
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from .importer import place_folder
from .locations import resolve
from .manifest import FileSpec, Manifest, ModelSpec, WeightsError
from .verify import PRESENT, VERIFIED, ModelStatus, VerifyCache, check_folder, check_model

PARTIAL_DIR = ".partial"


class DownloadUnavailable(WeightsError):
    """The source cannot be reached (offline, blocked, or not found); the message says what to do."""


def file_url(spec: ModelSpec, f: FileSpec) -> str:
    if f.url:
        return f.url
    return f"https://huggingface.co/{spec.hf_repo}/resolve/{spec.revision or 'main'}/{f.name}"


def offline_message(spec: ModelSpec, root: Path, reason: str = "") -> str:
    """What to fetch by hand and how to bring it in, for machines without internet access."""
    lines = [f"Cannot download {spec.title} ({spec.id})" + (f": {reason}" if reason else "") + "."]
    lines.append("On a machine with internet access, fetch these files:")
    for group in spec.required_groups():
        options = " or ".join(file_url(spec, f) for f in group)
        size = f" ({group[0].size / 1e9:.2f} GB)" if group[0].size else ""
        lines.append(f"  {options}{size}")
    lines.append("Copy them here (a folder, or a .zip / .tar.gz of it, keeping the names and "
                 "subfolders), then run:")
    lines.append("  inspector models import PATH")
    lines.append(f"or put them in {root / spec.id}")
    return "\n".join(lines)


def _bar_class(progress: Optional[ProgressFn], cancel: Optional[CancelFn], label: str):
    """A tqdm class huggingface_hub drives: forwards bytes to `progress`, honours `cancel`."""
    from tqdm.std import tqdm

    class _Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()  # no console output; the caller shows progress
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            out = super().update(n)
            report(progress, int(self.n), int(self.total or 0), label)
            check_cancel(cancel)
            return out

    return _Bar


@contextmanager
def _hub_online() -> Iterator[None]:
    """Allow huggingface_hub network access for an explicit download (then restore)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _fetch_hf(spec: ModelSpec, f: FileSpec, dest: Path, progress, cancel, label: str) -> bool:
    """Fetch one file from the hub into dest; False when the repo has no such file."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        huggingface_hub.hf_hub_download(spec.hf_repo, f.name, revision=spec.revision,
                                        local_dir=dest, tqdm_class=_bar_class(progress, cancel, label))
    except LocalEntryNotFoundError:  # offline / unreachable, not "no such file"
        raise
    except EntryNotFoundError:
        return False
    return True


def _fetch_url(url: str, out: Path, size: Optional[int], progress, cancel, label: str) -> None:
    """GET url into `out`, resuming from `out.part` with a Range request when it exists."""
    import urllib.error
    import urllib.request

    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        headers = {"User-Agent": "inspector-weights"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not have:  # 416: nothing left to fetch
                raise
        else:
            with resp:
                if have and resp.status != 206:  # the server ignored the range: start over
                    have = 0
                length = resp.headers.get("Content-Length")
                total = size or (have + int(length) if length else 0)
                with open(part, "ab" if have else "wb") as fo:
                    done = have
                    while chunk := resp.read(1 << 20):
                        fo.write(chunk)
                        done += len(chunk)
                        report(progress, done, total, label)
                        check_cancel(cancel)
    part.replace(out)


def download(model_id: str, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelFn] = None, *, manifest: Optional[Manifest] = None,
             root: Optional[Path] = None, force: bool = False) -> ModelStatus:
    """Fetch `model_id` into the models folder, verify it, and return its (verified) status.

    Skips the fetch when the model is already usable (unless `force`). Raises
    DownloadUnavailable with `offline_message` when the source cannot be reached, WeightsError
    when the downloaded files fail verification, Cancelled when `cancel()` turns true
    (partial files are kept, so the next call resumes).
    """
    manifest, root = resolve(manifest, root)
    spec = manifest.get(model_id)
    cache = VerifyCache(root)
    current = check_model(spec, root, cache=cache)
    if current.usable and not force:
        return current
    partial = root / PARTIAL_DIR / spec.id
    partial.mkdir(parents=True, exist_ok=True)
    groups = spec.required_groups() + [[f] for f in spec.files if f.optional]
    try:
        with _hub_online() if spec.hf_repo else _noop():
            for i, group in enumerate(groups, 1):
                for f in group:
                    label = f"downloading {spec.id}: {f.name} ({i}/{len(groups)})"
                    check_cancel(cancel)
                    if f.url:
                        _fetch_url(f.url, partial / f.name, f.size, progress, cancel, label)
                        break
                    if _fetch_hf(spec, f, partial, progress, cancel, label):
                        break
                else:
                    if not group[0].optional:
                        raise DownloadUnavailable(offline_message(
                            spec, root, f"{spec.hf_repo} has no {' or '.join(f.name for f in group)}"))
    except (Cancelled, WeightsError):
        raise
    except Exception as exc:  # offline mode, DNS, refused, timeouts, HTTP errors
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        raise DownloadUnavailable(offline_message(spec, root, reason)) from None
    return _finish(spec, partial, root, cache, progress, cancel)


@contextmanager
def _noop() -> Iterator[None]:
    yield


def _finish(spec: ModelSpec, partial: Path, root: Path, cache: VerifyCache,
            progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> ModelStatus:
    """Verify the downloaded files, then move them into `<root>/<id>/` in one rename."""
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.id}-", dir=root))
    try:
        for f in spec.files:
            if (partial / f.name).is_file():
                (staging / f.name).parent.mkdir(parents=True, exist_ok=True)
                (partial / f.name).replace(staging / f.name)
        scratch = VerifyCache(None)
        st = check_folder(spec, staging, True, scratch, progress, cancel)
        if st.status != VERIFIED:
            shutil.rmtree(partial, ignore_errors=True)
            raise WeightsError(f"downloaded {spec.id} failed verification ({st.detail}); the "
                               f"partial files were removed, run `inspector models download {spec.id}` again")
        target = root / spec.id
        place_folder(staging, target)
        cache.adopt(scratch, staging, target)
        cache.save()
        shutil.rmtree(partial, ignore_errors=True)
        result = check_model(spec, root, cache=cache)
        if result.status == PRESENT:  # just verified in full; too fresh to cache (RACY_NS)
            result.status, result.detail = VERIFIED, st.detail
        return result
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
