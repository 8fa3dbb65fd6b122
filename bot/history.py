"""A ticket's history as sentences people read: "Carol Diaz claimed it", "Bob Lee escalated it to
network-eng (level 2); severity medium → high" — from the audit events, never as field dumps."""
from __future__ import annotations

from typing import Any, Callable

from bot import messages as M
from bot.escalation import level_name
from bot.model import AuditEvent, Status
from bot.text import one_line

# What each action's sentence already says, so it is not repeated as a field change; timestamps
# (first response, resolved, closed) are never listed: the sentence's moment is theirs.
EVERYTHING = frozenset({"*"})
SAID = {
    "opened": EVERYTHING,  # the ticket itself shows what it was opened with
    "claimed": {"assignee_id", "status"},
    "assigned": {"assignee_id", "status"},
    "escalated": {"group", "escalation_level", "status", "assignee_id"},
    "auto_escalated": {"group", "escalation_level", "status", "assignee_id"},
    "resolved": {"status", "resolution"},
    "reopened": {"status", "resolution"},
    "closed": {"status"},
    "confirmed": {"status"},
    "deflected": {"status", "resolution"},
    "waiting": {"status"},
    "note": {"status"},
}
NOT_SHOWN = {"note", "reason", "previous_resolution", "first_response_at", "resolved_at", "closed_at", "source",
             "suggestions", "confidence", "comment", "score"}


def sentence(event: AuditEvent, name_of: Callable[[str], str | None] = lambda identity: None,
             category: str = "") -> str:
    """One audit event as a sentence, starting with a capital. `name_of(identity)` gives a
    technician's name for an assignee's identity (None: the identity is shown); `category` is the
    ticket's, naming the chain an escalation outside it left."""
    changes = event.changes or {}

    def after(field: str) -> Any:
        value = changes.get(field)
        return value[1] if isinstance(value, list) and len(value) == 2 else None

    level = after("escalation_level")
    values = {"actor": event.actor_name, "group": after("group"),
              "level": level_name(level, category) if isinstance(level, int) else level,
              "assignee": _value("assignee_id", after("assignee_id"), name_of), "score": after("score"),
              "resolution": _value("resolution", after("resolution"), name_of)}
    template = M.HISTORY.get(event.action)
    said = SAID.get(event.action, set())
    if template is not None and ("{group}" in template and values["group"] is None):
        template = None  # an old event without the field its sentence needs: say what changed instead
    extra = [M.HISTORY_CHANGE.format(field=M.HISTORY_FIELDS.get(field, field.replace("_", " ")),
                                     before=_value(field, pair[0], name_of), after=_value(field, pair[1], name_of))
             for field, pair in changes.items()
             if said is not EVERYTHING and field not in said and field not in NOT_SHOWN
             and isinstance(pair, list) and len(pair) == 2]
    if template is None:
        text = M.HISTORY_OTHER.format(actor=event.actor_name, action=", ".join(extra) or event.action.replace("_", " "))
    else:
        text = template.format(**values)
        if event.action == "rated" and after("comment"):
            text += M.HISTORY_COMMENT.format(comment=_value("comment", after("comment"), name_of))
        text += f"; {', '.join(extra)}" if extra else ""
    starts_with_name = template is None or template.startswith("{actor}")
    return text if starts_with_name else text[:1].upper() + text[1:]


def _value(field: str, value: Any, name_of: Callable[[str], str | None]) -> str:
    """A field's value as people read it: a status's words, a technician's name, short text."""
    if value is None or value == "":
        return M.HISTORY_NOBODY if field == "assignee_id" else M.HISTORY_NONE
    if field == "status":
        try:
            return Status(value).label
        except ValueError:
            return str(value)
    if field == "assignee_id":
        return name_of(str(value)) or str(value)
    if field in ("description", "resolution", "comment"):
        return f"“{one_line(str(value), 80)}”"
    return one_line(str(value), 40)


def technician_names(settings: Any) -> Callable[[str], str | None]:
    """`name_of` for `sentence`: a technician's configured name for any of their identities."""
    def name_of(identity: str) -> str | None:
        tech = settings.technician_for({identity})
        return tech.name if tech else None
    return name_of
