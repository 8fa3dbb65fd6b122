"""The public pages the Teams app package links to, served by the aiohttp server: what the help
desk is (`/`), its privacy statement (`/privacy`) and terms of use (`/terms`).

Teams wants a website, privacy and terms URL in every app manifest; `helpdesk manifest teams
--url https://…` points them here, on the help desk's own server (which Teams already reaches
over HTTPS), so the package names the organisation's own site and the links work. The text
describes the software as installed by an organisation for its own people; an organisation
with its own policies edits it here, in one place.
"""
from __future__ import annotations

from html import escape

WEBSITE, PRIVACY, TERMS = "/", "/privacy", "/terms"

TITLE = "Helpdesk – IT help desk"

PAGES: dict[str, tuple[str, list[str]]] = {  # path → (heading, paragraphs)
    WEBSITE: ("Helpdesk", [
        "Helpdesk is your organisation's IT help desk in Microsoft Teams, Slack and the terminal. "
        "Employees open tickets and follow them; technicians claim, work, escalate and resolve them.",
        "It is self-hosted: your organisation runs it on its own server, and everything it stores "
        "stays in your organisation's own database.",
        "Read the <a href=\"privacy\">privacy statement</a> and the <a href=\"terms\">terms of use</a>.",
    ]),
    PRIVACY: ("Privacy statement", [
        "Helpdesk is run by your organisation for its own people. It stores what you tell it and what it "
        "needs to route your requests: your name, email address and chat user ids; the tickets you open "
        "or that are opened for you, their notes and history; and, when your organisation connects its "
        "directory, your phone number, office, department, manager and the computers you manage.",
        "This is kept in your organisation's own database and read by you (your own tickets) and by "
        "your organisation's IT technicians. It is not sold, not used for advertising, and not sent "
        "anywhere but to the chat platform you use to talk to the help desk (Microsoft Teams or Slack), "
        "which shows it to the people concerned.",
        "How long tickets are kept, and how to see, correct or delete what is stored about you, is "
        "decided by your organisation: ask your IT department.",
    ]),
    TERMS: ("Terms of use", [
        "Helpdesk is provided by your organisation for IT support requests by its employees and "
        "contractors. Use it for that purpose, and do not put passwords or other secrets in tickets.",
        "Your organisation's own policies for its IT systems apply to what you write here, and its IT "
        "department answers questions about this service.",
        "The software is open source (Apache License 2.0) and is provided as is, without warranty.",
    ]),
}


def page(path: str) -> str:
    """The HTML of the page at `path` (one of WEBSITE, PRIVACY, TERMS)."""
    heading, paragraphs = PAGES[path]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)  # the text above is ours: its few links are meant
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(heading)} – {escape(TITLE)}</title></head>\n"
            f"<body><main><h1>{escape(heading)}</h1>\n{body}\n</main></body></html>\n")
