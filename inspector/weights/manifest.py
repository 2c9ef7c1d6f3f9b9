"""The manifest of known foundation weights (`models/manifest.toml`), parsed with tomllib.

Each model is one folder `<models dir>/<id>/` holding the files the manifest lists, with their
relative paths (so a diffusers folder keeps `unet/config.json` etc.). Files with the same
`choice` label are alternatives (e.g. `open_clip_model.safetensors` or
`open_clip_pytorch_model.bin`): one of them is enough.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..core.errors import InspectorError

KINDS = ("open_clip_state_dict", "sam_checkpoint", "transformers_folder", "diffusers_folder")
FOLDER_KINDS = ("transformers_folder", "diffusers_folder")
MANIFEST_ENV = "INSPECTOR_MANIFEST"


class WeightsError(InspectorError):
    """Model weights cannot be found, imported, verified or downloaded (message says the fix)."""


class ManifestError(WeightsError):
    """The weights manifest is missing or malformed."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a model. `size` in bytes and `sha256` (lower-case hex) are None when unknown."""

    name: str  # path relative to the model folder, '/'-separated
    size: Optional[int] = None
    sha256: Optional[str] = None
    url: Optional[str] = None  # direct download URL (else the model's Hugging Face repo)
    choice: Optional[str] = None  # files sharing a choice label are alternatives
    optional: bool = False  # fetched and copied when available, never required

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ModelSpec:
    """A known model: where it comes from, what files make it up and how to recognise it."""

    id: str
    title: str
    kind: str
    engines: tuple[str, ...]
    files: tuple[FileSpec, ...]
    licence: str
    hf_repo: Optional[str] = None
    revision: Optional[str] = None
    homepage: str = ""
    layout: dict[str, Any] = field(default_factory=dict)  # signature used to identify imports
    options: dict[str, Any] = field(default_factory=dict)  # loader settings (arch, variant, ...)

    @property
    def is_folder(self) -> bool:
        return self.kind in FOLDER_KINDS

    @property
    def source(self) -> str:
        """Where to get it, in words: a Hugging Face repo (with revision) or the URL(s)."""
        if self.hf_repo:
            rev = f" (revision {self.revision})" if self.revision else ""
            return f"https://huggingface.co/{self.hf_repo}{rev}"
        urls = [f.url for f in self.files if f.url]
        return ", ".join(urls) if urls else "unknown"

    def required_groups(self) -> list[list[FileSpec]]:
        """Files grouped so that each group needs one present file (alternatives share a group)."""
        groups: dict[str, list[FileSpec]] = {}
        order: list[str] = []
        for f in self.files:
            if f.optional:
                continue
            key = f"choice:{f.choice}" if f.choice else f"file:{f.name}"
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(f)
        return [groups[k] for k in order]

    def preferred_files(self) -> list[FileSpec]:
        """The first alternative of every group: what a download fetches (optional files last)."""
        return [g[0] for g in self.required_groups()] + [f for f in self.files if f.optional]

    def total_size(self) -> Optional[int]:
        sizes = [f.size for f in self.preferred_files() if not f.optional]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: tuple[ModelSpec, ...]

    def get(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(m.id for m in self.models)
        raise ManifestError(f"unknown model '{model_id}' (known: {known}); see {self.path}")

    def ids(self) -> list[str]:
        return [m.id for m in self.models]


def repo_root() -> Optional[Path]:
    """The source checkout this package runs from (has pyproject.toml and models/), else None."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root
    return None


def default_manifest_path() -> Path:
    """INSPECTOR_MANIFEST, else models/manifest.toml of the checkout or of a frozen app bundle."""
    env = os.environ.get(MANIFEST_ENV)
    if env:
        return Path(env).expanduser()
    candidates = []
    root = repo_root()
    if root is not None:
        candidates.append(root / "models" / "manifest.toml")
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpack folder
    if bundle:
        candidates.append(Path(bundle) / "models" / "manifest.toml")
    candidates.append(Path(sys.executable).resolve().parent / "models" / "manifest.toml")
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


def _file(entry: dict, where: str) -> FileSpec:
    name = entry.get("name")
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
        raise ManifestError(f"{where}: each file needs a relative 'name'")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ManifestError(f"{where}: file {name}: 'size' must be a positive integer or absent")
    sha = (entry.get("sha256") or "").strip().lower() or None
    if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ManifestError(f"{where}: file {name}: 'sha256' must be 64 hex digits or empty")
    unknown = set(entry) - {"name", "size", "sha256", "url", "choice", "optional"}
    if unknown:
        raise ManifestError(f"{where}: file {name}: unknown keys {sorted(unknown)}")
    return FileSpec(name=name, size=size, sha256=sha, url=entry.get("url") or None,
                    choice=entry.get("choice") or None, optional=bool(entry.get("optional", False)))


_MODEL_KEYS = {"id", "title", "kind", "engines", "files", "licence", "source", "homepage",
               "layout", "options"}


def _model(entry: dict, index: int) -> ModelSpec:
    mid = entry.get("id")
    where = f"model #{index + 1}" + (f" ({mid})" if mid else "")
    if not isinstance(mid, str) or not mid or "/" in mid or mid.startswith("."):
        raise ManifestError(f"{where}: needs an 'id' usable as a folder name")
    unknown = set(entry) - _MODEL_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown keys {sorted(unknown)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ManifestError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
    files = tuple(_file(f, where) for f in entry.get("files", []))
    if not any(not f.optional for f in files):
        raise ManifestError(f"{where}: lists no required files")
    source = entry.get("source", {})
    if not source.get("hf_repo") and not all(f.url for f in files):
        raise ManifestError(f"{where}: needs source.hf_repo or a 'url' on every file")
    return ModelSpec(
        id=mid, title=entry.get("title", mid), kind=kind,
        engines=tuple(entry.get("engines", [])), files=files,
        licence=entry.get("licence", "unknown"), hf_repo=source.get("hf_repo") or None,
        revision=source.get("revision") or None, homepage=entry.get("homepage", ""),
        layout=dict(entry.get("layout", {})), options=dict(entry.get("options", {})))


def load_manifest(path: Optional[os.PathLike | str] = None) -> Manifest:
    """Parse the manifest at `path` (default: `default_manifest_path()`)."""
    p = Path(path) if path is not None else default_manifest_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"weights manifest not found: {p} (set {MANIFEST_ENV})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"weights manifest {p} is not valid TOML: {exc}") from None
    models = tuple(_model(m, i) for i, m in enumerate(data.get("model", [])))
    ids = [m.id for m in models]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ManifestError(f"{p}: duplicate model ids {sorted(dupes)}")
    return Manifest(path=p, models=models)
