"""Where weights live: the models folder, the Hugging Face cache, and the environment for both.

Models folder, first that applies:
  1. env INSPECTOR_MODELS_DIR
  2. the setting passed in (from the GUI settings or `--models-dir`)
  3. `models/` of a source checkout (this package sitting in a repo next to pyproject.toml)
  4. a per-user data folder: ~/.local/share/inspector/models ($XDG_DATA_HOME) on Linux,
     %LOCALAPPDATA%\\Inspector\\models on Windows.
A model `<id>` lives in `<models folder>/<id>/` with the relative file names of the manifest.
Hugging Face cache snapshots (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) are
searched too, so weights fetched earlier by open_clip/transformers/diffusers are reused.

`configure_environment()` must run before torch/transformers/diffusers/huggingface_hub are
imported (they read these variables at import time): the CLI calls it right after parsing
arguments, the GUI before its first engine loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from .manifest import Manifest, ModelSpec, load_manifest, repo_root

MODELS_ENV = "INSPECTOR_MODELS_DIR"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def user_models_dir() -> Path:
    """The per-user models folder (used when there is no checkout and nothing configured)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "Inspector" / "models"
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "inspector" / "models"


def models_dir(setting: Optional[os.PathLike | str] = None) -> Path:
    """The models folder (see the module docstring for the order). Not created here."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    if setting:
        return Path(setting).expanduser()
    root = repo_root()
    if root is not None and not getattr(sys, "frozen", False):
        return root / "models"
    return user_models_dir()


_resolve_models_dir = models_dir  # configure_environment's parameter shadows the name


def hf_cache_dirs() -> list[Path]:
    """Hugging Face hub caches to search, the active one first, without duplicates."""
    dirs: list[Path] = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]).expanduser())
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    xdg = os.environ.get("XDG_CACHE_HOME")
    dirs.append((Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub")
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def configure_environment(models_dir: Optional[os.PathLike | str] = None,
                          offline: bool = True) -> Path:
    """Point the Hugging Face libraries at our folders and (by default) keep them offline.

    Sets INSPECTOR_MODELS_DIR when `models_dir` is given; HF_HUB_CACHE to
    `<models>/huggingface/hub` unless the user set HF_HOME or HF_HUB_CACHE (so anything the
    libraries cache lands in the portable models folder, while HF_HOME, with the user's login
    token, stays put); HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE to "1"
    (or "0" when `offline` is False); telemetry off.
    Call it before importing torch, transformers, diffusers or huggingface_hub.
    Returns the models folder in effect.
    """
    if models_dir is not None:
        os.environ[MODELS_ENV] = str(Path(models_dir).expanduser())
    folder = _resolve_models_dir()
    if not os.environ.get("HF_HOME") and not os.environ.get("HF_HUB_CACHE"):
        os.environ["HF_HUB_CACHE"] = str(folder / "huggingface" / "hub")
    for var in _OFFLINE_VARS:
        os.environ[var] = "1" if offline else "0"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    if "huggingface_hub" in sys.modules:  # already imported: its constants were read then
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = offline
    return folder


def resolve(manifest: Optional[Manifest] = None,
            root: Optional[os.PathLike | str] = None) -> tuple[Manifest, Path]:
    """The manifest and models folder to use: the ones given, else the defaults."""
    return (manifest or load_manifest()), (Path(root) if root is not None else _resolve_models_dir())


def model_folder(spec: ModelSpec, root: Path) -> Path:
    return root / spec.id


def hf_snapshot_folder(spec: ModelSpec, extra_caches: tuple[Path, ...] = ()) -> Optional[Path]:
    """The Hugging Face cache snapshot folder holding this model's files, if any cache has them.

    A snapshot counts when one file of every required group is there (files are symlinks into
    `blobs/`; a dangling link does not count).
    """
    if not spec.hf_repo:
        return None
    repo_dir = "models--" + spec.hf_repo.replace("/", "--")
    for cache in hf_cache_dirs() + [c for c in extra_caches if c not in hf_cache_dirs()]:
        snaps = cache / repo_dir / "snapshots"
        if not snaps.is_dir():
            continue
        candidates: list[Path] = []
        ref = cache / repo_dir / "refs" / (spec.revision or "main")
        if ref.is_file():
            candidates.append(snaps / ref.read_text(encoding="utf-8").strip())
        if spec.revision:
            candidates.append(snaps / spec.revision)
        candidates += sorted((p for p in snaps.iterdir() if p.is_dir()),
                             key=lambda p: p.stat().st_mtime, reverse=True)
        for snap in candidates:
            if snap.is_dir() and all(any((snap / f.name).is_file() for f in group)
                                     for group in spec.required_groups()):
                return snap
    return None


def find_model_folder(spec: ModelSpec, root: Path) -> Optional[Path]:
    """The folder holding the model: `<root>/<id>` if it has anything, else an HF snapshot."""
    own = model_folder(spec, root)
    if own.is_dir() and any(own.iterdir()):
        return own
    return hf_snapshot_folder(spec, (root / "huggingface" / "hub",))  # see configure_environment
