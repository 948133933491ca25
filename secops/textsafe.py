"""Text that came from the network or a host, made safe for terminals and logs."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str | None, limit: int = 4000) -> str | None:
    """Host-originated text for storage and display: control characters (ANSI escapes...) made
    visible as \\xNN so no terminal or viewer interprets them; HTML escaping happens at render."""
    if text is None:
        return None
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)[:limit]
