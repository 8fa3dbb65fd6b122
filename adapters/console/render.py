"""Replies as readable terminal text; colour only when the output is a terminal."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, tzinfo
from typing import Callable

from bot import messages as M, sla
from bot.escalation import level_name
from bot.history import sentence
from bot.model import AuditEvent, Note, Severity, Status, Ticket
from bot.replies import Reply, Section
from adapters.chat.text import file_lines
from bot.text import ago, duration, one_line

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36"}
SEVERITY_STYLE = {Severity.CRITICAL: "red", Severity.HIGH: "magenta", Severity.MEDIUM: "yellow", Severity.LOW: "dim"}
STATUS_STYLE = {Status.NEW: "cyan", Status.IN_PROGRESS: "blue", Status.WAITING: "yellow", Status.RESOLVED: "green", Status.CLOSED: "dim"}


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    @classmethod
    def for_stream(cls, stream) -> "Style":
        """Colour only for a terminal, and not when NO_COLOR is set."""
        return cls(hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR"))


class TextRenderer:
    """Replies as terminal text in the help desk's time zone; `name_of(identity)` names a
    technician in a ticket's history (None: the identity is shown as it is)."""

    def __init__(self, zone: tzinfo, style: Style, name_of: Callable[[str], str | None] = lambda identity: None) -> None:
        self.zone = zone
        self.s = style
        self.name_of = name_of

    def when(self, moment: datetime) -> str:
        """A moment as local "YYYY-MM-DD HH:MM" in the help desk's time zone."""
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def reply(self, reply: Reply) -> str:
        """A reply as terminal text: ✓ or ✗ and its sentence, then the ticket, lists, suggestions, people,
        report, help and detail it carries."""
        out: list[str] = []
        if reply.text:
            out.append(self.s("✓ ", "green") + reply.text if reply.ok else self.s("✗ " + reply.text, "red"))
        if reply.ticket and (reply.notes or reply.events or reply.now):
            out.append(self.ticket(reply.ticket, reply.notes, reply.events, reply.now, reply.flags.get(reply.ticket.id, ())))
        if reply.attachments and reply.now:
            out.append(self.s("  " + M.FILES_TITLE, "bold"))
            out += [f"    {line}" for line in file_lines(reply.attachments)]
        for section in reply.sections:
            out.append(self.section(section, reply.now, reply.flags))
        if reply.suggestions:
            out.append(self.suggestions(reply))
        for person in reply.people:
            contact = ", ".join(filter(None, [person.email, person.phone, person.mobile]))
            where = ", ".join(filter(None, [person.department, person.office]))
            out.append(f"  {self.s(person.name, 'bold')} <{person.identity}>  {contact}" + (f"  · {where}" if where else "")
                       + self.s(f"  [{person.source}]", "dim")
                       + (self.s(f"  [{M.PERSON_DISABLED}]", "red") if person.disabled else ""))
        if reply.report is not None:
            from adapters.report_render import table

            out.append(table(reply.report))
        if reply.help:
            width = max(len(h.usage) for h in reply.help)
            out.extend(f"  {self.s(h.usage.ljust(width), 'bold')}  {h.summary}" for h in reply.help)
        if reply.detail:
            out.append(self.s(reply.detail, "dim"))
        return "\n".join(out)

    def ticket(self, t: Ticket, notes: tuple[Note, ...], events: tuple[AuditEvent, ...], now: datetime | None,
               flags: tuple[str, ...]) -> str:
        """A ticket in full: description, status and contact, times, SLA flags, resolution, notes and
        (for technicians) its history."""
        s = self.s
        r = t.requester
        contact = ", ".join(filter(None, [r.email, r.phone, r.department, r.office]))
        if r.manager:
            contact += f"; manager {r.manager}"
        lines = [
            s(f"{t.ref}  ", "bold") + s(t.description.splitlines()[0] if t.description else "", "bold"),
            *(f"     {line}" for line in t.description.splitlines()[1:]),
            f"  Status: {s(t.status.label, STATUS_STYLE[t.status])} · Severity: {s(t.severity.value, SEVERITY_STYLE[t.severity])}"
            f" · Category: {t.category} · Group: {t.group} ({level_name(t.escalation_level, t.category)})",
            f"  Requester: {r.name}" + (f" ({contact})" if contact else ""),
        ]
        if t.device or t.location:
            lines.append(f"  Device: {t.device or '—'} · Location: {t.location or '—'}")
        lines.append(f"  Assignee: {t.assignee_name or s('unassigned', 'yellow')}")
        if t.logged_by_name:
            lines.append(f"  Logged by {t.logged_by_name} ({t.via})")
        times = [f"opened {self.when(t.created_at)}" + (f" ({ago(t.created_at, now)})" if now else "")]
        if t.first_response_at:
            times.append(f"first response after {duration(t.first_response_at - t.created_at)}")
        if t.resolved_at:
            times.append(f"resolved {self.when(t.resolved_at)}")
        if t.closed_at:
            times.append(f"closed {self.when(t.closed_at)}")
        lines.append("  " + " · ".join(times).capitalize())
        if t.paused and t.status.is_open:
            lines.append("  " + s("⏸ " + M.PAUSED_LINE.format(when=self.when(t.paused_at)), "yellow"))
        elif t.paused_seconds:
            lines.append("  " + s("⏸ " + M.PAUSED_TOTAL.format(total=duration(timedelta(seconds=t.paused_seconds))), "dim"))
        if flags:
            lines.append("  " + s("⚠ " + ", ".join(flags), "red"))
        if t.resolution:
            lines.append(f"  Resolution: {t.resolution}")
        if t.parent_id is not None:
            lines.append("  " + s(M.SHOWN_LINKED.format(parent=f"#{t.parent_id}"), "cyan"))
        if t.merged_into_id is not None:
            lines.append("  " + s(M.SHOWN_MERGED.format(target=f"#{t.merged_into_id}"), "cyan"))
        if notes:
            lines.append(s("  Notes", "bold"))
            for n in notes:
                tag = s(" (internal)", "magenta") if n.internal else ""
                body = n.body.replace("\n", "\n      ")
                lines.append(f"    {s(self.when(n.created_at), 'dim')} {n.author_name}{tag}: {body}")
        if events:
            lines.append(s("  History", "bold"))
            for e in events:
                lines.append(f"    {s(self.when(e.at), 'dim')} {sentence(e, self.name_of, t.category)}")
        return "\n".join(lines)

    def suggestions(self, reply: Reply) -> str:
        """Past resolutions offered: numbered for a requester, by ticket number for a technician."""
        s = self.s
        technician = reply.suggestions[0].show_number
        lines = [s(M.SUGGESTED_FOR_TECH if technician else M.SUGGESTED_FOR_REQUESTER.format(
            id=reply.ticket.id if reply.ticket else "<id>"), "cyan")]
        for g in reply.suggestions:
            label = (g.ref or f"#{g.ticket_id}") if technician else f"{g.position}."
            lines.append(f"  {s(label, 'bold')} {g.headline} {s('(' + g.likeness + ')', 'dim')}")
            lines.append(f"     {s('Fix:', 'green')} {g.resolution}")
        return "\n".join(lines)

    def section(self, section: Section, now: datetime | None, flags: dict[int, tuple[str, ...]]) -> str:
        """A list of tickets as aligned columns: number, severity, status, assignee, time, headline."""
        s = self.s
        if not section.tickets:
            return s(section.title, "bold") + "\n  " + section.empty
        lines = [s(f"{section.title} ({section.total})", "bold"),
                 s(f"  {M.COLUMN_TICKET.ljust(6)} {M.COLUMN_SEVERITY.ljust(8)} {M.COLUMN_STATUS.ljust(20)} "
                   f"{M.COLUMN_ASSIGNEE.ljust(14)} {(M.COLUMN_DUE if section.show_due else M.COLUMN_AGE).rjust(17)}  "
                   f"{M.COLUMN_PROBLEM}", "dim")]
        for t in section.tickets:
            age = sla.timing(t, now, section.show_due, self.zone)
            warn = flags.get(t.id)
            lines.append(
                f"  {s(t.ref.ljust(6), 'bold')} {s(t.severity.value.ljust(8), SEVERITY_STYLE[t.severity])} "
                f"{s(t.status.label.ljust(20), STATUS_STYLE[t.status])} {(t.assignee_name or '—')[:14].ljust(14)} "
                f"{age.rjust(17)}  {one_line(t.description, 60)}" + (s("  ⚠ " + ", ".join(warn), "red") if warn else ""))
        if section.total > len(section.tickets):
            lines.append("  " + M.MORE.format(count=section.total - len(section.tickets)))
        return "\n".join(lines)

