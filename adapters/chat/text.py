"""The core's replies as chat text, once for every chat platform: each platform brings its
markup (how to escape, bold, quote) and gets the same reply laid out the same way."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Callable

from adapters.chat.views import SEVERITY_ICON, STATUS_ICON
from bot import messages as M, sla
from bot.replies import Reply, Section
from bot.text import file_size, moment, one_line


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Markup:
    """How a platform writes chat text: escaping user text, emphasis, code; and the budget of one
    message, `limit` in the platform's own unit as `measure` counts it (characters, or bytes)."""

    escape: Callable[[str], str]  # user text in, text that can neither format nor mention out
    bold: Callable[[str], str]
    italic: Callable[[str], str]
    code: Callable[[str], str]
    pre: Callable[[str], str]
    link: Callable[[str, str], str]  # (address, text already escaped) → a link showing the text
    line_break: str = "\n"
    limit: int = 3900
    measure: Callable[[str], int] = len


@dataclass
class _Part:
    """Lines of a reply; a part with `more` may lose lines (from its end, or from its start when
    `newest_last`) to fit the budget, `more(count)` then saying what was left out and where it is."""

    lines: list[str]
    more: Callable[[int], str] | None = None
    newest_last: bool = False
    dropped: int = 0  # lines left out to fit, plus any the reply never listed

    def text(self, m: Markup) -> list[str]:
        if not self.dropped or self.more is None:
            return self.lines
        pointer = m.italic(m.escape(self.more(self.dropped)))
        return [pointer, *self.lines] if self.newest_last else [*self.lines, pointer]


def reply_text(reply: Reply, m: Markup) -> str:
    """A reply as one message: text, ticket, notes, lists, suggestions, people, report, help —
    within the platform's budget: notes, lists and people lose their least useful lines first
    (the oldest notes, the last entries), with a line saying what was left out and how to see it."""
    e = m.escape
    parts: list[_Part] = [_Part([e(reply.text)])] if reply.text else []
    if reply.ticket and reply.now:
        t = reply.ticket
        paused = (" · ⏸ " + M.PAUSED_SINCE.format(when=moment(t.paused_at, reply.now, reply.zone or timezone.utc))
                  if t.paused and t.status.is_open else "")
        parts.append(_Part([f"{m.bold(t.ref)} {STATUS_ICON[t.status]} {t.status.label} · {SEVERITY_ICON[t.severity]}"
                            f" {t.severity.value} · {e(t.category)} · {e(t.assignee_name or '') or 'unassigned'}{paused}",
                            e(clip(t.description, 1500))]))
        if t.resolution:
            parts.append(_Part([m.bold("Resolution:") + " " + e(clip(t.resolution, 1500))]))
        if t.parent_id is not None:
            parts.append(_Part([m.italic(e(M.SHOWN_LINKED.format(parent=f"#{t.parent_id}")))]))
        if t.merged_into_id is not None:
            parts.append(_Part([m.italic(e(M.SHOWN_MERGED.format(target=f"#{t.merged_into_id}")))]))
        if reply.notes:
            lines = [f"• {e(n.author_name)}{' ' + m.italic('(internal)') if n.internal else ''}: {e(one_line(n.body, 300))}"
                     for n in reply.notes]
            ref = t.id
            if reply.everything:
                parts.append(_Part(lines, lambda n: M.LATER_NOTES.format(count=n, id=ref)))
            else:
                parts.append(_Part(lines, lambda n: M.EARLIER_NOTES.format(count=n, id=ref), newest_last=True))
    if reply.attachments and reply.ticket and reply.now:
        parts.append(_Part([m.bold(e(M.FILES_TITLE)), *(e(line) for line in file_lines(reply.attachments))],
                           lambda n: M.MORE.format(count=n)))
    for section in reply.sections:
        parts.append(_section(section, reply, m))
    if reply.suggestions:
        technician = reply.suggestions[0].show_number
        lines = [e(M.SUGGESTED_FOR_TECH if technician else
                   M.SUGGESTED_FOR_REQUESTER.format(id=reply.ticket.id if reply.ticket else "<id>"))]
        for g in reply.suggestions:
            label = m.bold((g.ref or f"#{g.ticket_id}") if technician else f"{g.position}.")
            lines.append(f"{label} {e(g.headline)} {m.italic(f'({g.likeness})')}{m.line_break}> {e(g.resolution)}")
        parts.append(_Part(lines))
    if reply.people:
        lines = [f"• {m.bold(e(p.name))}" + (f" ⚠️ {m.italic(e(M.PERSON_DISABLED))}" if p.disabled else "") + " "
                 + " · ".join(e(x) for x in (p.email, p.phone, p.mobile, p.department, p.office) if x)
                 for p in reply.people]
        parts.append(_Part(lines, lambda n: M.MORE.format(count=n)))
    if reply.report is not None:
        from adapters.report_render import table

        parts.append(_Part([m.pre(table(reply.report))]))
    if reply.help:
        parts.append(_Part([f"{m.code(h.usage)} {e(h.summary)}" for h in reply.help], lambda n: M.MORE.format(count=n)))
    if reply.detail:
        parts.append(_Part([m.italic(e(reply.detail))]))
    return _fit(parts, m)


def file_lines(attachments) -> list[str]:
    """A ticket's files, one line each: 📎 name, type, size, who shared it, and the link back;
    ⚠️ and the reason for one that was not kept (plain text: the caller escapes it)."""
    lines = []
    for a in attachments:
        f = a.file
        if f.kept:
            line = "📎 " + M.FILE_LINE.format(name=f.name, type=f.content_type, size=file_size(f.size), who=a.author_name)
            lines.append(line + (f" {f.link}" if f.link else ""))
        else:
            lines.append("⚠️ " + M.FILE_NOT_KEPT.format(name=f.name, reason=f.reason))
    return lines


def _fit(parts: list[_Part], m: Markup) -> str:
    """The parts joined, lines dropped from the largest shrinkable part until the text fits."""
    def joined() -> str:
        return m.line_break.join(line for part in parts for line in part.text(m))

    text = joined()
    while m.measure(text) > m.limit:
        shrinkable = [p for p in parts if p.more is not None and len(p.lines) > 2]
        if not shrinkable:
            break
        part = max(shrinkable, key=lambda p: sum(m.measure(line) for line in p.lines))
        over = m.measure(text) - m.limit
        while len(part.lines) > 2 and over > 0:  # drop enough lines at once, not one pass per line
            line = part.lines.pop(0 if part.newest_last else -1)
            part.dropped += 1
            over -= m.measure(line) + m.measure(m.line_break)
        text = joined()
    return _clip_to(text, m)


def _clip_to(text: str, m: Markup) -> str:
    """`text` cut at the budget, in the platform's unit, marked with an ellipsis."""
    if m.measure(text) <= m.limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, with its ellipsis
        mid = (low + high + 1) // 2
        if m.measure(text[:mid] + "…") <= m.limit:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"


def _section(section: Section, reply: Reply, m: Markup) -> _Part:
    """A list of tickets (mine, queue, sla) as chat text; its last entries go first when it is too long."""
    e = m.escape
    if not section.tickets:
        return _Part([f"{m.bold(e(section.title))}{m.line_break}{e(section.empty)}"])
    lines = [m.bold(f"{e(section.title)} ({section.total})")]
    for t in section.tickets:
        age = sla.timing(t, reply.now, section.show_due, reply.zone)
        warn = reply.flags.get(t.id)
        lines.append(f"{SEVERITY_ICON[t.severity]} {m.bold(t.ref)} {t.status.label} · {e(t.assignee_name or '') or 'unassigned'} · {age}"
                     f" — {e(one_line(t.description, 80))}" + (f" ⚠️ {', '.join(warn)}" if warn else ""))
    return _Part(lines, lambda n: M.MORE.format(count=n), dropped=section.total - len(section.tickets))


def group_text(kind: str, text: str, m: Markup) -> str:
    """A message to a group's channel: escaped, except a digest's figures, shown as a table."""
    if kind != "digest":
        return m.escape(text)
    title, _, table = text.partition("\n")
    return m.bold(m.escape(title)) + m.line_break + m.pre(table)
