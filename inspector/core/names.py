"""User-given names (products): one cleaning rule, one comparison key, one safe way to show them.

Two names are the same product when they differ only in case, in how an accented letter is
encoded (NFC "café" vs NFD "cafe" + U+0301) or by invisible characters, so a workstation
never shows two products that look alike.
"""

from __future__ import annotations

import unicodedata

from .errors import InspectorError

MAX_NAME = 120  # characters, after cleaning; long enough for "Washer M8 steel, line 3 (2024 recipe)"

# Cc control, Cf format (zero-width, bidi overrides), Cs surrogates, Co private use, Cn unassigned;
# Zl/Zp line and paragraph separators: invisible or break a terminal line.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _hidden(c: str) -> bool:
    return unicodedata.category(c) in _HIDDEN


def name_key(name: str) -> str:
    """The comparison key: invisible characters dropped, NFC, case-folded, NFC again
    (case folding can decompose, e.g. 'ǰ'); surrounding spaces ignored."""
    visible = "".join(c for c in unicodedata.normalize("NFC", name or "") if not _hidden(c))
    return unicodedata.normalize("NFC", visible.strip().casefold())


def char_label(c: str) -> str:
    """'U+200B ZERO WIDTH SPACE' for an error message."""
    return f"U+{ord(c):04X} {unicodedata.name(c, 'control character')}"


def clean_name(name: str, what: str = "product name") -> str:
    """The name as stored: NFC, surrounding white space stripped. Raises InspectorError when it
    is empty, too long, holds control/invisible characters or a path separator."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise InspectorError(f"{what} is empty — give a name such as \"washer M8\"")
    hidden = [c for c in name if _hidden(c)]
    if hidden:
        raise InspectorError(f"{what} contains an invisible or control character "
                             f"({char_label(hidden[0])}) — type the name again without it")
    if len(name) > MAX_NAME:
        raise InspectorError(f"{what} is {len(name)} characters long — use at most {MAX_NAME}")
    if any(c in name for c in "/\\"):
        raise InspectorError(f"{what} may not contain / or \\ — use another character such as -")
    return name


def safe_display(text: object, keep_newlines: bool = False) -> str:
    """`text` with control and invisible characters escaped (\\x1b, \\u200b), so a name from an
    older workspace or a file name cannot move the cursor, recolour or hide text in a terminal."""
    out = []
    for c in str(text):
        if _hidden(c) and not (keep_newlines and c == "\n"):
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
        else:
            out.append(c)
    return "".join(out)
