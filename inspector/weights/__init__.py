"""Foundation model weights: manifest, discovery, verification, import, download, loading.

Engines use `locate(model_id)` and the `load_*` helpers; the CLI's `inspector models ...`
commands live in `inspector.weights.cli`. Nothing here imports torch at import time.
"""

from .loaders import (ClipInfo, load_diffusers_pipeline, load_grounding_dino, load_open_clip,
                      load_sam, load_sam_model, locate)
from .locations import configure_environment, models_dir
from .manifest import Manifest, ModelSpec, load_manifest
from .verify import ModelStatus, model_status

__all__ = ["ClipInfo", "Manifest", "ModelSpec", "ModelStatus", "configure_environment",
           "load_diffusers_pipeline", "load_grounding_dino", "load_manifest", "load_open_clip",
           "load_sam", "load_sam_model", "locate", "model_status", "models_dir"]
