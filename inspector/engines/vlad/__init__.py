"""VLAD engine (seed 001, 4.2 / A.2): CLIP patch tokens + adapters, prompts and a memory bank.

Importing this package is cheap (no torch); the model loads CLIP on first use.
"""

from .config import VladSettings
from .model import VladModel
from .status import availability, requirements

__all__ = ["VladModel", "VladSettings", "availability", "requirements"]
