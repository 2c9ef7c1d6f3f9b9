"""Inspector: desktop quality inspection for factory workstations."""

__version__ = "0.1.0"
