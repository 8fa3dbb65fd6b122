"""Every sentence and label the chat layer shows, in one place (the core's are bot/messages.py).

Platform-neutral: a platform's name, where a sentence needs it, is filled in by its adapter."""

# Buttons
BUTTON_CLAIM = "Claim"
BUTTON_NOTE = "Add note"
BUTTON_ESCALATE = "Escalate"
BUTTON_RESOLVE = "Resolve"
BUTTON_REOPEN = "Reopen"
BUTTON_CLOSE = "Close"
BUTTON_FIXED = "That fixed it"
BUTTON_STILL_BROKEN = "Still broken"
BUTTON_SOLVED = "This solved it"
BUTTON_STILL_NEED_HELP = "No, still need help"
BUTTON_OPEN_FORM = "Open the form"
BUTTON_CANCEL = "Cancel"
BUTTON_SCORE = {1: "1 😞", 2: "2", 3: "3", 4: "4", 5: "5 🤩"}
BUTTON_COMMENT = "Add a comment"

# Card facts
FACT_SEVERITY = "Severity"
FACT_STATUS = "Status"
FACT_CATEGORY = "Category"
FACT_ASSIGNEE = "Assignee"
FACT_REQUESTER = "Requester"
FACT_MANAGER = "Manager"
FACT_GROUP = "Group"
FACT_DEVICE = "Device"
FACT_LOCATION = "Location"
FACT_RESOLUTION = "Resolution"
UNASSIGNED = "unassigned"
OPENED = "Opened"
OPENED_BY = "by {who} ({via})"
WAITING = "waiting {duration}"
PAUSED_SINCE = "⏸ SLA clock paused since"

# Forms
FIELD_CONTINUED = "…continued"

# Answers
WORKING = "Working on it…"
KEPT = "OK, the help desk has your ticket {ref} and will be in touch."
DONE = "👍 {text}"
STATUS_NOW = "{ref}: {status}"
OPENED_TITLE = "Ticket opened"
OPENED_CARD = "✅ {ref} is open: {headline}. You'll hear from the help desk here."
RECEIVED = "Got it: the help desk is recording your ticket and will send you its number here."
RECEIVED_AGAIN = "You already sent this; the help desk is recording it as one ticket and will send you its number here."
INTAKE_REFUSED = "Your ticket could not be opened: {reason}"
INTAKE_LOST = ("Sorry: the help desk could not record the ticket you just submitted (its database is not answering). "
               "Please submit it again in a few minutes.")
ALREADY_OPENED = "You already opened this as {ref}: {headline}. You'll hear from the help desk here."
FORM_OFFER = "Tell us what is wrong in the form, or type `new <what is wrong>`."
FORM_NOT_OPENED = "{platform} could not open the form just now (it may be busy); press the button to try again."
THREAD_LINK = "Open the ticket's thread"
FORM_BROKEN = "This form could not be read; close it and press the button again."
BAD_BUTTON = "That button does not name a ticket; use `show <id>` instead."
BAD_CARD = "This card is out of date; type `show <id>` for the ticket's current state."
WELCOME = ("Hi! I'm the IT help desk. Type `new` to open a ticket (or `new <what is wrong>`), `mine` to see yours, "
           "`help` for everything else.")
TURN_FAILED = ("Something went wrong answering you (reference {ref}). What you asked may have been done: "
               "check with `mine` or `show <id>` before trying again.")

# Files shared with the help desk (why one was not kept: "<name> was not kept: <reason>.")
FILE_TOO_LARGE = "it is {size}, over the {limit} limit"
FILE_TYPE_REFUSED = "{type} files are not accepted here"
FILE_NOT_FETCHED = "it could not be downloaded ({why})"
FILE_NOT_STORED = "the help desk could not save it ({why})"
NO_STORE = "no attachment store is set up"
FACT_FILES = "Files"
FILES_COUNT = "{count} · {names}"
FIRST_IMAGE = "First image shared on the ticket"

# Tickets from a chat message (a shortcut, a message action, an emoji reaction)
FROM_MESSAGE_INTRO = "From this message: {link}. Check the description, then open the ticket."
FROM_MESSAGE_DESCRIPTION = "Reported from a chat message by {name}: {text}"
FILES_ONLY = "(files only)"
NO_AUTHOR = "That message has no person as its author (an app or a workflow wrote it), so it cannot become a ticket."
NOT_A_MESSAGE = "That message could not be read; open the ticket with `new <what is wrong>` instead."
ATTACH_NO_SUCH_FILE = "There is no file `{path}` here; give the path of a file on this computer, like `attach 12 ./screenshot.png`."

# Why a file could not be fetched from a platform ("it could not be downloaded (…)")
FETCH_GONE = "{platform} answered 404: the file is gone, or the bot cannot see it"
FETCH_ANSWERED = "{platform} answered {status}"
FETCH_SIGN_IN = "{platform} did not accept the bot's credentials for files"
FETCH_ELSEWHERE = "its address is not {platform}'s, so the bot's credentials were not sent there"
FETCH_SHAREPOINT = "it is kept in SharePoint, where the bot has no access; its link is on the ticket"

# Major incidents: buttons, card facts, the incident's card
BUTTON_LINK = "Same as…"
BUTTON_INCIDENT = "Major incident"
BUTTON_UNLINK = "Unlink"
BUTTON_SOMETHING_ELSE = "This is something else"
BUTTON_DECLARE = "Declare an incident"
BUTTON_NOT_SAME = "Not the same"
BUTTON_BROADCAST = "Update everyone"
BUTTON_RESOLVE_INCIDENT = "Resolve incident"
FACT_LINKED = "Same problem as"
FACT_MERGED = "Merged into"
INCIDENT_TITLE = "🚨 Major incident {ref} · {title}"
FACT_AFFECTED = "Affected"
AFFECTED = "{people} people ({tickets} tickets)"
AFFECTED_ONE = "1 person (1 ticket)"
AFFECTED_WHO = "Who, most recent first"
AFFECTED_MORE = "and {count} more"
FACT_FIRST_REPORT = "First report"
FACT_DECLARED = "Declared by"
DECLARED_ON = "Declared"
DECLARED_AFTER = "{name}, {lead} after the first report"
INCIDENT_SUMMARY = "Major incident {ref} ({severity}, {status}): {title} — {people} affected"

# Satisfaction, under a resolution
RATE_PROMPT = "How did we do? Rate the help from 1 (poor) to 5 (excellent):"
RATED_SO_FAR = "You rated the help {score}/5, thank you. You can change it, or add a comment, until {until}:"

# A report's chart, next to its table
CHART_IN_DM = "📈 The chart is in your direct messages with the help desk."
CHART_NOT_SHOWN = "(No chart here: set the help desk's public address, public_url, for Teams to show it.)"

# A combined post: more new tickets for one channel than its pace shows one by one
COMBINED_HEAD = ("🆕 *{count} new tickets* came in faster than this channel can show them one by one. "
                 "Claim one here and it gets its own card.")
COMBINED_SUMMARY = "{count} new tickets: {refs}"
NOTICES_HEAD = "{count} notices came in faster than this channel can show them one by one; here they are together:"
COMBINED_FROM = "from {requester}"
COMBINED_CLAIMED = "claimed by {assignee}: see its own card"
COMBINED_STATE = "{status}"
CLAIMED_FROM_LIST = "Done: {ref} gets its own card in this channel, and its line here says who has it."
