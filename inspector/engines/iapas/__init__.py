"""IAP-AS engine (seed 002): tags -> prompts -> Grounding DINO -> size filter -> SAM -> score.

Importing this package is cheap (no torch); the models load on first use.
"""

from .config import IapasSettings
from .model import IapasModel, ImageOutcome
from .status import availability, requirements

__all__ = ["IapasModel", "IapasSettings", "ImageOutcome", "availability", "requirements"]
