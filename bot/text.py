"""Cleaning what people type, and wording times the way people read them."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_TICKET_REF = re.compile(r"^#?(\d{1,9})$")

DESCRIPTION_MIN = 10
TEXT_MAX = 4000
FIELD_MAX = 200


def clean(text: str | None) -> str:
    """Trim, unify line ends and drop control and invisible formatting characters.

    Tabs and newlines stay: a pasted error message keeps its shape.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).strip()


def one_line(text: str, width: int = 80) -> str:
    """The first line of a text, shortened to `width` with an ellipsis."""
    first = " ".join(text.split())
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def parse_ticket_ref(token: str) -> int | None:
    """The number in `12` or `#12` (up to nine digits); None for anything else."""
    match = _TICKET_REF.match(token.strip())
    return int(match.group(1)) if match else None


def duration(delta: timedelta) -> str:
    """'45 min', '3 h 10 min', '2 d 4 h': precise enough to act on, short enough to scan."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(then: datetime, now: datetime) -> str:
    """How long before `now` `then` was, in words: "just now", "5 min ago", "2 d 3 h ago"."""
    delta = now - then
    return "just now" if delta < timedelta(minutes=1) else f"{duration(delta)} ago"


def file_size(size: int | None) -> str:
    """A size in bytes as people read it: "840 bytes", "12 KB", "3.4 MB" (1 KB = 1,024 bytes);
    "unknown size" for None."""
    if size is None:
        return "unknown size"
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError("unreachable")
