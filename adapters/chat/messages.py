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

# Forms
FIELD_CONTINUED = "…continued"

# Answers
WORKING = "Working on it…"
KEPT = "OK, the help desk has your ticket {ref} and will be in touch."
DONE = "👍 {text}"
STATUS_NOW = "{ref}: {status}"
OPENED_TITLE = "Ticket opened"
OPENED_CARD = "✅ {ref} is open: {headline}. You'll hear from the help desk here."
ALREADY_OPENED = "You already opened this as {ref}: {headline}. You'll hear from the help desk here."
FORM_OFFER = "Tell us what is wrong in the form, or type `new <what is wrong>`."
THREAD_LINK = "Open the ticket's thread"
FORM_BROKEN = "This form could not be read; close it and press the button again."
BAD_BUTTON = "That button does not name a ticket; use `show <id>` instead."
BAD_CARD = "This card is out of date; type `show <id>` for the ticket's current state."
WELCOME = ("Hi! I'm the IT help desk. Type `new` to open a ticket (or `new <what is wrong>`), `mine` to see yours, "
           "`help` for everything else.")
TURN_FAILED = ("Something went wrong answering you (reference {ref}). What you asked may have been done: "
               "check with `mine` or `show <id>` before trying again.")

# Satisfaction, under a resolution
RATE_PROMPT = "How did we do? Rate the help from 1 (poor) to 5 (excellent):"
RATED_SO_FAR = "You rated the help {score}/5, thank you. You can change it, or add a comment, until {until}:"

# A report's chart, next to its table
CHART_IN_DM = "📈 The chart is in your direct messages with the help desk."
CHART_NOT_SHOWN = "(No chart here: set the help desk's public address, public_url, for Teams to show it.)"
