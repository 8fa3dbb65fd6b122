"""The core's replies as chat text, once for every chat platform: each platform brings its
markup (how to escape, bold, quote) and gets the same reply laid out the same way."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from adapters.chat.views import SEVERITY_ICON, STATUS_ICON
from bot import messages as M, sla
from bot.replies import Reply, Section
from bot.text import one_line


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Markup:
    escape: Callable[[str], str]  # user text in, text that can neither format nor mention out
    bold: Callable[[str], str]
    italic: Callable[[str], str]
    code: Callable[[str], str]
    pre: Callable[[str], str]
    line_break: str = "\n"
    limit: int = 3900


def reply_text(reply: Reply, m: Markup) -> str:
    """A reply as one message: text, ticket, notes, lists, suggestions, people, report, help."""
    e = m.escape
    parts = [e(reply.text)] if reply.text else []
    if reply.ticket and reply.now:
        t = reply.ticket
        parts.append(f"{m.bold(t.ref)} {STATUS_ICON[t.status]} {t.status.label} · {SEVERITY_ICON[t.severity]} {t.severity.value}"
                     f" · {e(t.category)} · {e(t.assignee_name or '') or 'unassigned'}")
        parts.append(e(clip(t.description, 1500)))
        if t.resolution:
            parts.append(m.bold("Resolution:") + " " + e(t.resolution))
        if t.parent_id is not None:
            parts.append(m.italic(e(M.SHOWN_LINKED.format(parent=f"#{t.parent_id}"))))
        if t.merged_into_id is not None:
            parts.append(m.italic(e(M.SHOWN_MERGED.format(target=f"#{t.merged_into_id}"))))
        for n in reply.notes:
            tag = " " + m.italic("(internal)") if n.internal else ""
            parts.append(f"• {e(n.author_name)}{tag}: {e(one_line(n.body, 300))}")
    for section in reply.sections:
        parts.append(section_text(section, reply, m))
    if reply.suggestions:
        technician = reply.suggestions[0].show_number
        parts.append(e(M.SUGGESTED_FOR_TECH if technician else
                       M.SUGGESTED_FOR_REQUESTER.format(id=reply.ticket.id if reply.ticket else "<id>")))
        for g in reply.suggestions:
            label = m.bold(f"#{g.ticket_id}" if technician else f"{g.position}.")
            parts.append(f"{label} {e(g.headline)} {m.italic(f'({g.likeness})')}{m.line_break}> {e(g.resolution)}")
    for person in reply.people:
        details = " · ".join(e(x) for x in (person.email, person.phone, person.mobile, person.department, person.office) if x)
        parts.append(f"• {m.bold(e(person.name))} {details}")
    if reply.report is not None:
        from adapters.report_render import table

        parts.append(m.pre(table(reply.report)))
    for h in reply.help:
        parts.append(f"{m.code(h.usage)} {e(h.summary)}")
    if reply.detail:
        parts.append(m.italic(e(reply.detail)))
    return clip(m.line_break.join(parts), m.limit)


def section_text(section: Section, reply: Reply, m: Markup) -> str:
    """A list of tickets (mine, queue, sla) as chat text."""
    e = m.escape
    if not section.tickets:
        return f"{m.bold(e(section.title))}{m.line_break}{e(section.empty)}"
    lines = [m.bold(f"{e(section.title)} ({section.total})")]
    for t in section.tickets:
        age = sla.timing(t, reply.now, section.show_due)
        warn = reply.flags.get(t.id)
        lines.append(f"{SEVERITY_ICON[t.severity]} {m.bold(t.ref)} {t.status.label} · {e(t.assignee_name or '') or 'unassigned'} · {age}"
                     f" — {e(one_line(t.description, 80))}" + (f" ⚠️ {', '.join(warn)}" if warn else ""))
    if section.total > len(section.tickets):
        lines.append(M.MORE.format(count=section.total - len(section.tickets)))
    return m.line_break.join(lines)


def group_text(kind: str, text: str, m: Markup) -> str:
    """A message to a group's channel: escaped, except a digest's figures, shown as a table."""
    if kind != "digest":
        return m.escape(text)
    title, _, table = text.partition("\n")
    return m.bold(m.escape(title)) + m.line_break + m.pre(table)
