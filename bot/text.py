"""Cleaning what people type, and wording times the way people read them."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, tzinfo

# What is not text: C0 and C1 controls (tabs and newlines aside), the zero-width space, the
# byte-order mark, the bidirectional embedding, override and isolate controls (which can make a
# line read differently from what it says), and invisible operators. Kept, because they are part
# of writing: the zero-width non-joiner and joiner (Persian, Hindi, emoji sequences such as 👩‍💻)
# and the left-to-right and right-to-left marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})
# How a grammar reads a line: every Unicode space as a space, typographic quotes as plain ones.
# One character for one, so positions in the line read this way are positions in the original.
_GRAMMAR = {ch: " " for ch in ("\u00a0", "\u1680", *(chr(c) for c in range(0x2000, 0x200b)), "\u202f", "\u205f", "\u3000")}
_GRAMMAR.update({ch: '"' for ch in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u301d\u301e\uff02"})
_GRAMMAR.update({ch: "'" for ch in "\u2018\u2019\u201a\u201b\u2032\u02bc\uff07"})
_GRAMMAR_TABLE = str.maketrans(_GRAMMAR)
_TICKET_REF = re.compile(r"^#?(\d{1,9})$")

DESCRIPTION_MIN = 10
TEXT_MAX = 4000
FIELD_MAX = 200


def clean(text: str | None) -> str:
    """Trim, unify line ends (\r\n, \r and Unicode line separators become \n), compose
    characters (NFC) and drop what is not text (see _CONTROL); everything that is part of
    writing stays. Tabs and newlines stay too: a pasted error message keeps its shape."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").translate(_LINE_BREAKS))
    return _CONTROL.sub("", text).strip()


def for_grammar(text: str) -> str:
    """`text` as the grammar reads it: no-break and other Unicode spaces as spaces, curly and
    other typographic quotes as `"` and `'`. Same length as `text`, character for character,
    so a span found here is the same span of the original (stored text keeps its characters)."""
    return text.translate(_GRAMMAR_TABLE)


def fold(text: str) -> str:
    """For comparing names: grammar-normalised and case-folded, so O’Brien is O'Brien."""
    return " ".join(for_grammar(text).casefold().split())


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
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    return f"{value:.1f} GB".replace(".0 ", " ")


def moment(then: datetime, now: datetime, zone: tzinfo) -> str:
    """A moment as a list shows it, in `zone`: "14:05" the same day as `now`, "Mon 14:05" within
    the week before, "2 Mar 14:05" earlier."""
    local, today = then.astimezone(zone), now.astimezone(zone).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return clock
    if 0 < (today - local.date()).days < 7:
        return f"{local:%a} {clock}"
    return f"{local.day} {local:%b} {clock}"
