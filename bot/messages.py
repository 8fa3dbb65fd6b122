"""Every sentence the help desk says to a person, in one place.

Refusals say why and what to type instead, in one sentence. A sentence that counts
something is a `Plural`: `.format(count=n)` picks "1 match" or "2 matches".
"""


class Plural:
    """A sentence with a singular and a plural form, chosen by its `count`; formats like a str."""

    def __init__(self, one: str, many: str) -> None:
        self.one, self.many = one, many

    def format(self, *args: object, count: int, **kwargs: object) -> str:
        """The form for `count` (1: singular, anything else: plural), formatted with the rest."""
        return (self.one if count == 1 else self.many).format(*args, count=count, **kwargs)


def plural(count: int, one: str, many: str | None = None) -> str:
    """"1 group", "3 groups", "1 match", "2 matches": the count and the word in the right form
    (`many` defaults to `one` + "s")."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


# Parsing and grammar
EMPTY = "Type a command, for example `new the printer on floor 3 jams`, or `help` to see them all."
UNKNOWN_COMMAND = "I don't know the command `{word}`. Type `help` to see the commands{suggest}"
UNKNOWN_COMMAND_SUGGEST = ", or did you mean `{name}`?"
LOOKS_LIKE_PROBLEM = "I don't know the command `{word}`. To open a ticket, type `new {text}`; `help` lists the commands."
NEED_TICKET = "Which ticket? Type `{usage}`, for example `{example}`."
BAD_TICKET = "`{token}` is not a ticket number; type it like `12` or `#12`, for example `{example}`."
NEED_TEXT = "{what} is missing: type `{usage}`."
TOO_LONG = "{what} is {length:,} characters long; the limit is {limit:,}. Nothing was saved: shorten it and send it again."
UNEXPECTED_TEXT = "`{name}` takes no text after the ticket number; type `{usage}`."
NOTHING_EXPECTED = "`{name}` takes nothing after it; type `{usage}`, or `new {text}` to open a ticket."
UNCLOSED_QUOTE = "The quote after `{key}=` is not closed; nothing was done. Close it and send again: `{usage}`."
UNKNOWN_OPTION = "`{key}=` is not something `{name}` takes; did you mean `{close}=`? Nothing was done: `{usage}`."
HELP_UNKNOWN = "There is no command `{word}`; type `help` to see them all."
HELP_HEADER = "Commands you can use:"
HELP_FOOTER = "Ticket ids may be written `12` or `#12`. `help <command>` explains one command."

# Permissions
TECHNICIANS_ONLY = "Only technicians can {verb}; you can `show`, `note` and `reopen` your own tickets, or type `mine` to list them."
NOT_VISIBLE = "There is no ticket {ref} that you can see; type `mine` to list yours."

# Opening
DESCRIPTION_SHORT = "The description needs at least {min} characters so the help desk understands the problem (what happens, on which device, since when)."
DESCRIPTION_LONG = "The description is {length:,} characters long; the limit is {limit:,}: put the essentials first and add details as notes afterwards."
BAD_SEVERITY = "Severity `{value}` is not one of {choices}.{suggest}"
BAD_CATEGORY = "Category `{value}` is not one of {choices}.{suggest}"
DID_YOU_MEAN = " Did you mean `{choice}`?"
BAD_PHONE = ("`{value}` is not a phone number: it needs {min} to {max} digits (an extension may follow, as `ext 12`); "
             "if it is right as it is, put it in quotes: phone=\"…\".")
FIELD_LONG = "The {field} is {length:,} characters long; the limit is {limit:,}."
NEW_REFUSED = "Nothing was opened yet: {problems} Fix it and send again: `{draft}`"
OPENED = "Opened {ref} ({severity}, {category}) for {group}: {headline}. First response target: {target}."
CONTACT_CONFIRM = "We will reach you at {phone}, {location}{device}; if that is wrong, add a note: `note {id} my phone is …`."
OPENED_FOR_REQUESTER = "Your ticket {ref} is open: {headline}. {group} will pick it up; you will hear from them here."
OPENED_FOR_GROUP = "New ticket {ref} ({severity}, {category}) from {requester}: {headline}"

# Working tickets
ALREADY_YOURS = "{ref} is already yours."
CLAIMED_BY_OTHER = "{ref} is already claimed by {name}; ask them, or `assign {id} <technician>` to hand it over."
NOT_OPEN = "{ref} is {status}, so it cannot be {verb}; {hint}"
HINT_REOPEN = "type `reopen {id} <why>` if the problem is back."
HINT_NEW = "open a new ticket with `new <description>` and mention {ref} in it."
CLAIMED = "You claimed {ref}: {headline}."
CLAIMED_FOR_REQUESTER = "{name} is working on your ticket {ref}: {headline}"
UNKNOWN_TECHNICIAN = "I don't know a technician `{who}`; technicians are: {choices}."
ASSIGNED = "Assigned {ref} to {name}."
ASSIGNED_ALREADY = "{ref} is already assigned to {name}."
ASSIGNED_TO_YOU = "{by} assigned {ref} to you: {headline}"
NOTE_ADDED = "Added a note to {ref}."
INTERNAL_ADDED = "Added an internal note to {ref} (technicians only)."
NOTE_FOR_REQUESTER = "{name} added a note to your ticket {ref}: {body}"
NOTE_FOR_TECH = "{name} added a note to {ref}: {body}"
WAITING = "Asked the requester of {ref}; it now waits on them."
QUESTION_FOR_REQUESTER = "{name} has a question about your ticket {ref}: {body}\nAnswer with `note {id} <your answer>`."
BAD_GROUP = "There is no group `{group}`; groups are: {choices}."
TOP_LEVEL = "{ref} is already at the top of its escalation chain ({group}, level {level}); name a group: `escalate {id} <group> <reason>` (groups: {choices})."
GROUP_MISSPELT = "There is no group `{group}`; did you mean `{close}`? Nothing was done: `escalate {id} {close} <reason>`."
SAME_GROUP = "{ref} is already with {group}; name another group or give a reason to go one level up."
NEED_REASON = "Say why {ref} needs escalating: `escalate {id} [group] <reason>`."
ESCALATED = "Escalated {ref} to {group} ({level})."
# Pages to a group's on-call channel, by why they are paged
PAGE = {
    "escalated": "Escalated to {group} ({level}): {ref} ({severity}) from {requester}, waiting {waiting}: {headline}\nReason: {reason}",
    "repeat": "Still unclaimed, {group}: {ref} ({severity}) from {requester}, waiting {waiting}: {headline}\n{reason}",
    "critical": "Critical ticket for {group}: {ref} from {requester}: {headline}",
    "urgent": "{requester} asks for urgency on {ref} ({severity}), waiting {waiting}: {headline}\nWhy: {reason}",
}
AUTO_REASON = "nobody at {group} claimed it within {waited}"
REPAGE_REASON = "Page {count}: unclaimed for {waited}."
SLA_WARNING = {
    "escalate": "⚠️ Unclaimed: escalates to {group} in {minutes} unless someone claims it.",
    "repeat": "⚠️ Unclaimed: pages {group} again in {minutes} unless someone claims it.",
}
OVERDUE_LINE = "⏰ Past its resolution target by {late}."
OVERDUE_FOR_HANDLERS = "{ref} is past its resolution target by {late}: {headline}"
URGENT_DONE = "Asked {group} to look at {ref} urgently."
URGENT_NOTE = "Asked for urgency: {why}"
ESCALATION_NOTE = "Escalated to {group} ({level}): {reason}"
RESOLUTION_SHORT = "Describe the resolution in at least {min} characters (what fixed it), so the next technician can reuse it: `resolve {id} <resolution>`."
RESOLVED = "Resolved {ref}. The requester has been told and can reopen it if the problem is back."
RESOLVED_FOR_REQUESTER = "Your ticket {ref} is resolved: {resolution}\nIf it is not fixed, type `reopen {id} <why>`."
REOPENED = "Reopened {ref}; it is back in progress."
REOPENED_FOR_TECH = "{name} reopened {ref}: {why}"
REOPEN_NOTE = "Reopened: {why}"
REOPEN_NOT_RESOLVED = "{ref} is {status}, not resolved, so there is nothing to reopen; add a note with `note {id} <text>` instead."
CLOSE_NOT_RESOLVED = "{ref} is {status}; resolve it first with `resolve {id} <resolution>`."
ALREADY_CLOSED = "{ref} is already closed."
CLOSED = "Closed {ref}."
CONFIRM_NOT_RESOLVED = "{ref} is {status}, not resolved yet, so there is nothing to confirm."
CONFIRMED = "Thanks! {ref} is closed."
CONFIRMED_FOR_TECH = "{name} confirmed the fix for {ref}; it is closed."

# One line in a ticket's conversation (its card's thread) per change
CHANGED = {
    "claimed": "🙋 {actor} claimed it.",
    "assigned": "👉 {actor} assigned it to {assignee}.",
    "note": "💬 {actor}: {note}",
    "internal_note": "🔒 {actor} added an internal note.",
    "waiting": "❓ {actor} asked the requester: {note}",
    "escalated": "⏫ {actor} escalated it to {group} ({level}): {reason}",
    "auto_escalated": "⏫ Escalated automatically to {group} ({level}): {reason}",
    "repaged": "📟 Paged {group} again. {reason}",
    "urgent": "🚨 {actor} asked for urgency: {reason}",
    "resolved": "✅ {actor} resolved it: {resolution}",
    "reopened": "↩️ {actor} reopened it: {reason}",
    "closed": "📦 {actor} closed it.",
    "confirmed": "👍 {actor} confirmed the fix; the ticket is closed.",
    "deflected": "💡 {actor} solved it with a past resolution; the ticket is closed.",
}

# Listing
MINE_REQUESTED = "Your tickets"
MINE_ASSIGNED = "Assigned to you"
MINE_NONE = "You have no open tickets. Open one with `new <description>`."
NOTHING_ASSIGNED = "Nothing is assigned to you; `queue` shows what is waiting."
QUEUE_TITLE = "Open tickets{scope}"
QUEUE_EMPTY = "The queue is empty{scope}."
QUEUE_BAD_FILTER = "`{value}` is not a severity, category or group; try one of: {choices}."
MORE = "…and {count} more"
EARLIER_NOTES = Plural("…1 earlier note: `show {id} all` shows them from the first",
                       "…{count} earlier notes: `show {id} all` shows them from the first")
LATER_NOTES = Plural("…1 later note did not fit here: `show {id}` shows the latest, the terminal shows every one",
                     "…{count} later notes did not fit here: `show {id}` shows the latest, the terminal shows every one")
SHOW_WHAT = "`show` takes `all` after the ticket number, or nothing: `show {id}` or `show {id} all`."
SHOWN = "{ref}: {headline}"
OVERDUE_RESPONSE = "response overdue"
OVERDUE_RESOLUTION = "resolution overdue"

# Forms
FORM_NEW_TITLE = "New help desk ticket"
FORM_NEW_SUBMIT = "Open ticket"
FORM_NEW_INTRO = "Tell us what is wrong; the description matters most. Check your contact details: they may have changed."
FIELD_DESCRIPTION = "What is the problem?"
FIELD_DESCRIPTION_PLACEHOLDER = "What happens, on which device, since when, and what you already tried"
FIELD_DESCRIPTION_HINT = "At least 10 characters. Error messages help: paste them as they are."
FIELD_CATEGORY = "Category"
FIELD_CATEGORY_HINT = "Leave empty and we will pick one from your description."
FIELD_SEVERITY = "Severity"
FIELD_DEVICE = "Device"
FIELD_DEVICE_PLACEHOLDER = "Asset tag or name, e.g. LT-0042 or the printer's name"
FIELD_DEVICE_YOURS = "Your computers: {devices}"
FIELD_LOCATION = "Location"
FIELD_LOCATION_PLACEHOLDER = "Building, floor, room or desk"
FIELD_PHONE = "Contact phone"
FIELD_PHONE_HINT = "Where the technician can reach you about this ticket."
FIELD_GROUP = "Escalate to"
FIELD_GROUP_HINT = "Pre-selected: the next level of this category's chain."
FIELD_INTERNAL = "Visibility"
FIELD_INTERNAL_HINT = "Internal: only technicians can read it"
FORM_TITLE = {"note": "Note on {ref}", "escalate": "Escalate {ref}", "resolve": "Resolve {ref}", "reopen": "Reopen {ref}"}
FORM_SUBMIT = {"note": "Add note", "escalate": "Escalate", "resolve": "Resolve", "reopen": "Reopen"}
FORM_TEXT_LABEL = {"note": "Note", "escalate": "Why escalate?", "resolve": "What fixed it?", "reopen": "What is still wrong?"}
FORM_TEXT_PLACEHOLDER = {
    "note": "What you did, found or need",
    "escalate": "What you tried and why it needs this group",
    "resolve": "The fix, so the next technician can reuse it",
    "reopen": "What happens now",
}

# Conversations (a ticket's thread, a direct message)
NOT_PARTICIPANT = "Only the requester of {ref} and technicians can work on it here; your message was not recorded."
DM_WHICH_TICKET = "Which ticket is this about? Reply with `note <id> <text>`; your open tickets: {refs}."
DM_NO_TICKET = "You have no open tickets. Type `new <description>` here to open one."

SYSTEM_NAME = "Help desk"
DUE_IN = "due in {left}"
LATE = "{late} late"
SLA_TITLE = "Open tickets by time left"
SLA_EMPTY = "No open tickets."

# Knowledge base
ALIKE_VERY = "very similar"
ALIKE_QUITE = "similar"
ALIKE_SOMEWHAT = "somewhat similar"
SUGGESTED_FOR_REQUESTER = "These past problems look like yours; if one of the fixes works, type `solved {id} <number>` and the ticket closes:"
SUGGESTED_FOR_TECH = "Similar resolved tickets:"
NO_SIMILAR = "No resolved ticket is similar enough to {ref}."
BAD_SUGGESTION = "{ref} has no suggestion number `{value}`; the suggestions offered were numbered {choices}."
NO_SUGGESTIONS = "{ref} was offered no past resolutions; nothing to mark as solved."
SUGGESTION_GONE = "Suggestion {value} for {ref} is no longer available (that past ticket was reopened); nothing was closed."
DEFLECTED = "Glad it is fixed! {ref} is closed as solved by a past resolution."
DEFLECTED_RESOLUTION = "Solved by the requester with the resolution of {source}: {resolution}"
DEFLECTED_FOR_HANDLERS = "{name} solved {ref} with a past resolution; it is closed."

# Opening tickets for callers
FOR_TECHNICIANS_ONLY = "Only technicians can open tickets for someone else; to open it for yourself, type `new {text}`."
FOR_UNKNOWN = "I can't find `{who}` in the directory or among people the help desk knows; {hint}"
FOR_CLOSEST = "closest matches: {people}."
FOR_WHOIS = "look them up with `whois <name, email or phone>` and try again."
FOR_SEVERAL = "`{who}` matches several people, so I did not guess: {people}. Use their email with for=."
FOR_UNKNOWN_MENTION = "I could not look up {who} on this platform; use their email with for= instead."
BAD_VIA = "via=`{value}` is not one of {choices}."
LOGGED = "Opened {ref} for {name} (via {via}): {headline}. First response target: {target}."
LOGGED_FOR_REQUESTER = "{name} opened ticket {ref} for you ({via}): {headline}\nWe have your phone as {phone} and your location as {location}; if anything is wrong, reply with `note {id} <correction>`."
WHOIS_FOUND = Plural("1 match:", "{count} matches:")
WHOIS_NONE = "Nobody matches `{who}`; try part of the name, the email, or the phone number."
FIELD_REQUESTER = "Requester (for a call or walk-in)"
FIELD_REQUESTER_HINT = "Pick the caller, or leave empty to open it for yourself."
FIELD_REQUESTER_TEXT = "…or, if they cannot be picked here: name, email or phone"
FIELD_VIA = "How they reached you"

# Reports
REPORT_SUMMARY = "{opened} opened, {resolved} resolved, {open} still open, {deflected} solved by a past resolution."
REPORT_BAD_BY = "`{value}` is not a breakdown; use by= one of {choices}."
REPORT_FUTURE = "That period starts in the future; try `report 7d` or a past date."
DIGEST_TITLE = "Weekly digest for {group}"

# Retries and failures
BUSY = "Someone else changed {ref} at the same moment; please send that again."
INTERNAL_ERROR = "Something went wrong on our side and nothing was saved (reference {ref}); please try again, and tell the help desk if it keeps happening."

# The directory's word on a requester
FOR_DISABLED = ("{name} ({who}) has a disabled account in the directory, so I did not open a ticket for them; "
                "check with their manager whether they should still get help.")
PERSON_DISABLED = "account disabled"
CONTACT_DEVICE = "; device {device}, the computer the directory lists as yours"
DEVICES_YOURS = ("The directory lists these computers as yours: {devices}; to say which one this is about, add a note: "
                 "`note {id} it is <name>` (next time, add device=<name> to `new`).")

# Files on tickets
ATTACHED = "Attached {names} to {ref}."
ATTACHED_AGAIN = "{names} {verb} already on {ref}; nothing was added."
NOT_KEPT = "{name} was not kept: {reason}. That is noted on {ref}."
ATTACH_NEEDS_FILE = ("`attach` takes a file on this computer, so it works in the terminal; in chat, share the file "
                     "in the ticket's thread or send it to me directly.")
SHARE_WHICH_TICKET = ("Which ticket are these files for? Send them again with its number, like `#12`; your open "
                      "tickets: {refs}.")
SHARE_NO_TICKET = "You have no open tickets to add files to. Type `new <description>` to open one, then share them."
FILES_TITLE = "Files"
FILE_LINE = "{name} ({type}, {size}), shared by {who}"
FILE_NOT_KEPT = "{name}: not kept, {reason}"
FILES_FOR_REQUESTER = "Files on it: {names}."
FILES_ADDED_FOR_REQUESTER = "{name} added files to your ticket {ref}: {files}."
FILE_NOT_KEPT_SHORT = "{name} (not kept: {reason})"
CHANGED["attached"] = "📎 {actor} attached {files}."
FROM_MESSAGE_NOTE = "Opened from a chat message: {link}"
OPENED_IN_THREAD = "🎫 {ref} is open for {requester}: {headline}"

# Major incidents: linked and merged tickets, incidents declared or proposed, answered once
CHANGED.update({
    "linked": "🔗 {actor} linked it to {parent}: the same problem, resolved with it.",
    "unlinked": "✂️ Unlinked from {parent}: {reason}",
    "merged": "🔀 {actor} merged it into {target}.",
    "merged_in": "🔀 {actor} merged {source} ({requester}) into it.",
    "declared": "🚨 {actor} declared a major incident: {title}",
    "broadcast": "📣 {actor} told everyone affected: {text}",
    "resolved_with": "✅ Resolved with {parent}: {resolution}",
})
LINK_NEED_PARENT = "Which ticket is it the same problem as? Type `link {id} <ticket>`, for example `link {id} 41`."
LINK_BAD_PARENT = "`{token}` is not a ticket number; type `link {id} <ticket>`, for example `link {id} 41`."
LINK_SELF = "{ref} cannot be linked to itself; name the ticket it is the same problem as."
LINK_PARENT_DONE = "{parent} is {status}, so nothing can be linked to it; link to an open ticket, or reopen {parent} first."
LINK_ALREADY = "{ref} is already linked to {parent}."
LINK_IS_INCIDENT = "{ref} is itself a major incident, so it cannot be linked; to fold it into {parent}, type `merge {id} into {parent_id}`."
LINKED = "Linked {ref} to {parent}: the same problem, resolved with it; its requester was told."
LINKED_THROUGH = " ({given} is linked to {parent}, so {ref} went to {parent} too.)"
LINKED_MOVED = " Its {count} linked ticket(s) moved to {parent} with it."
SAME_PROBLEM = "Your ticket {ref} is the same problem as {parent} ({title}), which the help desk is working on; you will hear when it is fixed."
KNOWN_PROBLEM = "Your ticket {ref} is a known problem, tracked as {parent}: {title}. You will hear when it is fixed."
KNOWN_PROBLEM_REPLY = ("Opened {ref}: this is a known problem, tracked as {parent} ({title}); you will hear when it is fixed. "
                       "If yours is something else, type `unlink {id}`.")
LOGGED_KNOWN = "Opened {ref} for {name} (via {via}) and linked it to {parent} ({title}), a known problem; they were told."
NOT_LINKED = "{ref} is not linked to another ticket, so there is nothing to unlink."
UNLINKED = "Unlinked {ref} from {parent}; it is handled on its own again."
UNLINKED_SELF = "OK: {ref} is handled on its own, not as part of {parent}. {group} will pick it up; you will hear from them here."
UNLINKED_FOR_REQUESTER = "{name} unlinked your ticket {ref} from {parent}: it is handled on its own again."
UNLINK_BY_TECHNICIAN = "{name} says it is a different problem"
UNLINK_BY_REQUESTER = "{name} says it is something else"
UNLINK_REOPENED = "{name} says it is still broken for them"
MERGE_NEED_TARGET = "Into which ticket? Type `merge {id} into <ticket>`, for example `merge {id} into 41`."
MERGE_BAD_TARGET = "`{token}` is not a ticket number; type `merge {id} into <ticket>`, for example `merge {id} into 41`."
MERGE_SELF = "{ref} cannot be merged into itself; name the ticket that stays."
MERGE_TARGET_DONE = "{target} is {status}; merge into an open ticket, or reopen {target} first."
MERGE_IS_INCIDENT = "{ref} is a major incident, so it stays; merge the other ticket into it: `merge {target_id} into {id}`."
MERGED = "Merged {ref} into {target}: {moved}. {ref} is closed; its requester was told and hears about {target} from now on."
MERGED_MOVED_NOTHING = "nothing to move"
MERGED_FOR_REQUESTER = "Your ticket {ref} was merged into {target} ({headline}), the same problem; you will hear about it there."
MERGED_NOTE = "Merged in from {ref}, opened by {requester}: {description}"
MERGED_LEFT = "Merged into {target}."
INCIDENT_OF_CHILD = "{ref} is linked to {parent}; declare the incident on {parent}: `incident {parent_id}`."
INCIDENT_ALREADY = "{ref} is already a major incident ({title}); `broadcast {id} <text>` tells everyone affected."
DECLARED = "Declared major incident {ref}: {title}. {linked} Its card is in {group}'s channel; `broadcast {id} <text>` tells everyone affected."
DECLARED_LINKED = "Linked {count} alike open ticket(s) to it: {refs}."
DECLARED_ALONE = "No other open ticket looks like it yet; new ones that do are linked to it as they arrive."
INCIDENTS_TITLE = "Open major incidents ({count}):"
INCIDENTS_LINE = ("{ref} {title} — {severity}, {people} affected ({tickets} tickets), declared {declared} by {by}, "
                  "{lead} after the first report")
INCIDENTS_NONE = "No major incident is open."
PROPOSALS_TITLE = "Proposed by the help desk, waiting for a decision ({count}):"
PROPOSAL_LINE = "{refs}: “{headline}” — `incident {id}` declares it, `dismiss {id}` if they are not the same"
PROPOSAL = "{count} tickets in {minutes} look like the same problem: “{headline}” ({refs})."
PROPOSAL_MORE = "and {count} more"
MINUTES = "{count} minutes"
ONE_MINUTE = "a minute"
NOT_PROPOSED = "{ref} is in no open incident proposal, so there is nothing to dismiss."
DISMISSED = "OK: {refs} stay separate tickets and will not be proposed together again."
PROPOSAL_TAKEN = "That proposal was already {state} by {name}."
BROADCAST_ALONE = "{ref} has no open linked tickets, so nobody else is waiting on it; `note {id} <text>` tells its requester."
BROADCAST_FOR_REQUESTER = "Update on {parent} ({title}), the problem you reported as {ref}: {text}"
BROADCAST_DONE = "Told the {count} people affected by {ref}: {text}"
BROADCAST_NOTE = "📣 Update to everyone affected: {text}"
RESOLVED_WITH = "Resolved with {parent}: {resolution}"
RESOLVED_WITH_FOR_REQUESTER = ("Your ticket {ref} is resolved: it was part of {parent} ({title}), now fixed: {resolution}\n"
                               "If it is not fixed for you, type `reopen {id} <why>`.")
RESOLVED_CASCADE = " {count} linked ticket(s) were resolved with it and {people} requester(s) told."
SHOWN_LINKED = "Linked to {parent}: the same problem, resolved with it."
SHOWN_MERGED = "Merged into {target}."
FORM_TITLE.update({"link": "Same problem as… ({ref})", "incident": "Major incident from {ref}",
                   "broadcast": "Update everyone on {ref}"})
FORM_SUBMIT.update({"link": "Link", "incident": "Declare", "broadcast": "Send to everyone"})
FORM_TEXT_LABEL.update({"link": "The other ticket's number", "incident": "Title (what is broken, as people will read it)",
                        "broadcast": "What everyone affected should hear"})
FORM_TEXT_PLACEHOLDER.update({"link": "e.g. 41", "incident": "e.g. VPN disconnects every few minutes",
                              "broadcast": "What is known, what to do meanwhile, when to expect the fix"})
FIELD_LINK_HOW = "How"
LINK_HOW_LINK = "Same problem: link it (it stays open and is resolved with that one)"
LINK_HOW_MERGE = "Duplicate: merge it into that one (closed; notes and requester move)"

# A ticket waiting on its requester: the paused clock, the reminder, the stale resolution
PAUSED_SINCE = "paused since {when}"
PAUSED_LINE = "SLA clock paused since {when} (waiting on the requester)"
PAUSED_TOTAL = "SLA clock paused {total} in all while waiting on the requester"
NUDGE_FOR_REQUESTER = "Your ticket {ref} is waiting on your answer: {question}\nReply with `note {id} <your answer>`."
NUDGE_DEADLINE = "Without an answer by {when} it will be resolved; you can reopen it afterwards."
STALE_FOR_REQUESTER = ("We resolved your ticket {ref}: we did not hear back from you for {days} business days about: "
                       "{question}\nIf you still need help, type `reopen {id} <what is still wrong>`.")
STALE_FOR_HANDLERS = "{ref} was resolved automatically: no answer from {requester} for {days} business days: {headline}"
CHANGED.update({
    "nudged": "🔔 Reminded {requester} of the question.",
    "stale_resolved": "✅ Resolved automatically: no answer from the requester for {days} business days.",
})

# A group's notice as a terminal copy for its members, when it does not say which ticket
ABOUT_TICKET = "{ref} ({severity}) {headline}: {line}"

# Levels of an escalation chain ({level} in the sentences above)
LEVEL = "level {level}"
OUTSIDE_CHAIN = "outside the {category} chain"
OUTSIDE_CHAIN_TOP = ("{ref} is with {group}, outside the {category} chain, so it has no next level; name a group: "
                     "`escalate {id} <group> <reason>` (groups: {choices}).")

# Correcting a ticket, and taking its assignee off
SET_NOTHING = "Say what to correct: `{usage}`, for example `set {id} severity=high`."
SET_NOT_YOURS = ("Only technicians can change a ticket's {fields}; you can correct its device, location and phone: "
                 "`set {id} phone=… location=…`.")
SET_REFUSED = "Nothing was changed: {problems}"
SET_UNCHANGED = "{ref} already reads that way; nothing was changed."
CORRECTED = "Corrected {ref}: {changes}."
CORRECTED_MOVED = " It moved to {group}, unassigned, for them to claim."
MOVED_TO = "(moved to {group})"
CORRECTED_FOR_HANDLERS = "{name} corrected {ref}: {changes}"
MOVED_FOR_GROUP = "{ref} ({severity}) is now {group}'s: its category changed to {category}. From {requester}: {headline}"
UNASSIGNED_DONE = "Unassigned {ref}; it is back in the {group} queue."
NOT_ASSIGNED = "{ref} has nobody on it; it is in the {group} queue."
UNASSIGNED_FOR_TECH = "{by} took you off {ref}; it is back in the {group} queue: {headline}"
CHANGED.update({
    "corrected": "✏️ {actor} corrected it: {changes}",
    "unassigned": "↩️ {actor} took {assignee} off it; back in the {group} queue.",
})

# First-time callers
FOR_FIRST_TIME = "If this is their first call, log it with their name: `name=\"Their Name\"`."
NAME_WITHOUT_FOR = "name= names a caller you log with for=; to open a ticket for yourself, leave it out."
FOR_NEED_CONTACT = ("To log a first-time caller, give their email or phone number with for= (`{who}` is neither) "
                    "and their name with name=.")
FIELD_REQUESTER_NAME = "Their name, if they call for the first time"
FIELD_REQUESTER_NAME_HINT = "With their email or phone above: logs a caller neither the directory nor the help desk knows."
HELP_NEW_FOR = ("new for=<email|phone|name> [name=\"…\"] [via=phone|walk-in|chat] <description> …",
                "Log a call or a walk-in for someone; with name=, a first-time caller nobody knows yet.")

# A ticket's history (`show`), one sentence per audit event; fields changed beyond what the
# sentence says follow it as "severity medium → high".
HISTORY = {
    "opened": "{actor} opened it",
    "claimed": "{actor} claimed it",
    "assigned": "{actor} assigned it to {assignee}",
    "note": "{actor} added a note",
    "internal_note": "{actor} added an internal note",
    "waiting": "{actor} asked the requester a question",
    "answered": "{actor} answered",
    "escalated": "{actor} escalated it to {group} ({level})",
    "auto_escalated": "it was escalated automatically to {group} ({level})",
    "repaged": "{group} was paged again",
    "urgent": "{actor} asked for urgency",
    "resolved": "{actor} resolved it: {resolution}",
    "reopened": "{actor} reopened it",
    "closed": "{actor} closed it",
    "confirmed": "{actor} confirmed the fix",
    "deflected": "{actor} solved it with a past resolution",
    "suggested": "past resolutions were suggested",
    "sla_warning": "an SLA warning was posted",
    "overdue": "it went past its resolution target",
    "replanned": "its SLA plan was updated",
    "rated": "{actor} rated the help {score}/5",
    "requester_completed": "the requester's contact details came from their profile",
}
HISTORY_COMMENT = ": {comment}"
HISTORY_OTHER = "{actor}: {action}"
HISTORY_CHANGE = "{field} {before} → {after}"
HISTORY_FIELDS = {
    "status": "status", "assignee_id": "assignee", "group": "group", "escalation_level": "level",
    "severity": "severity", "category": "category", "description": "description", "device": "device",
    "location": "location", "resolution": "resolution", "phone": "phone", "requester_phone": "phone",
    "requester_name": "name", "requester_email": "email", "requester_department": "department",
    "requester_office": "office", "requester_manager": "manager",
}
HISTORY_NOBODY = "nobody"
HISTORY_NONE = "—"

# Column headers of ticket lists (`mine`, `queue`, `sla`) in the terminal
COLUMN_TICKET = "ticket"
COLUMN_SEVERITY = "severity"
COLUMN_STATUS = "status"
COLUMN_ASSIGNEE = "assignee"
COLUMN_DUE = "due"
COLUMN_AGE = "age"
COLUMN_PROBLEM = "problem"

# Satisfaction (`rate`, the buttons under a resolution)
RATE_INVITE = "How did we do? `rate {id} <1-5> [comment]` (1 poor … 5 excellent)."
RATE_REQUESTER_ONLY = "Only the requester of {ref} can rate the help it got."
RATE_NOT_RESOLVED = "{ref} is {status}; the help can be rated once it is resolved."
RATE_RANGE = ("A rating is a whole number from 1 (poor) to 5 (excellent), and `{value}` is not one; "
              "type `rate {id} <1-5> [comment]`, for example `rate {id} 5 fixed in minutes`.")
RATE_DEFLECTED = "{ref} was solved with a past resolution, so there is no help of ours to rate."
RATE_WINDOW_OVER = ("The rating of {ref} could be given or changed until {until}, 7 days after it was resolved; "
                    "it stays as it was.")
RATED = "Thanks! You rated the help on {ref} {score}/5; you can change it until {until}."
RATING_CHANGED = "Changed your rating of {ref} to {score}/5."
RATING_COMMENTED = "Saved your comment on {ref} with your rating of {score}/5."
RATING_SAME = "Your rating of {ref} is already {score}/5; nothing changed."
RATED_LOW_LINE = "⭐ {actor} rated the help {score}/5{comment}"
RATED_LOW_COMMENT = ": “{comment}”"
FORM_RATE_TITLE = "Rate the help on {ref}"
FORM_RATE_SUBMIT = "Send rating"
FIELD_SCORE = "Rating"
FIELD_SCORE_CHOICES = {1: "1 – poor", 2: "2", 3: "3 – all right", 4: "4", 5: "5 – excellent"}
FIELD_COMMENT = "Comment (optional)"
FIELD_COMMENT_PLACEHOLDER = "What went well, or what could have gone better"
