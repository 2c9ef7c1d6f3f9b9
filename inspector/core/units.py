"""Numbers with units, formatted the same way in the CLI and the GUI."""

from __future__ import annotations

from typing import Optional


def format_bytes(n: Optional[float], missing: str = "-") -> str:
    """Decimal units with one decimal place ("375.0 MB"); `missing` for None or <= 0."""
    if not n or n <= 0:
        return missing
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
