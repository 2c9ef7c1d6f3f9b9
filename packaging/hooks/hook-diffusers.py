# diffusers (no hook upstream): lazy imports by name, version checks through importlib.metadata,
# and torch.jit/inspect reading sources, so its .py files are collected as well.
import os
import sys

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

sys.path.insert(0, os.path.dirname(__file__))
from inspector_hf_models import keep_diffusers  # noqa: E402

hiddenimports = collect_submodules("diffusers", filter=keep_diffusers)
datas = collect_data_files("diffusers", includes=["**/*.json"])
for dist in ("diffusers", "importlib_metadata", "safetensors", "huggingface_hub", "Pillow", "regex",
             "requests", "filelock", "numpy"):
    datas += copy_metadata(dist)
module_collection_mode = "pyz+py"
