"""`helpdesk shell`: chat with the help desk from a terminal.

Interactive on a terminal (prompt, history, colour, a refused line comes back
for editing); line by line from a pipe; one command with `-c`. Messages the
outbox holds for this user (a technician's question, a resolution) are shown
before each prompt, as a chat app would show new DMs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Callable, Iterable

from bot.desk import Desk
from bot.history import technician_names
from bot.model import Actor
from bot.replies import Reply
from adapters.chat.attachments import Intake
from adapters.console.files import attach_call
from adapters.console.render import Style, TextRenderer
from storage.outbox import Outbox

PLATFORM = "console"
SWITCH = (":as", "/as")
QUIT = {"exit", "quit", ":q", ":quit", "/quit"}
EDIT_HINT = "(↑ brings the line back to edit it)"
HISTORY = Path.home() / ".local" / "state" / "helpdesk" / "history"


class Shell:
    def __init__(self, desk: Desk, outbox: Outbox | None, identity: str, out: IO[str] = sys.stdout,
                 enrich: Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None = None,
                 files: Intake | None = None) -> None:
        self.desk = desk
        self.files = files
        self.enrich = enrich
        self.outbox = outbox
        self.out = out
        self.style = Style.for_stream(out)
        self.render = TextRenderer(desk.settings.zone, self.style, technician_names(desk.settings))
        self.actor = self._actor(identity)

    def _actor(self, identity: str) -> Actor:
        """Who is typing, with their directory details (phone, office, manager) when there is one."""
        actor = self.desk.actor(identity, platform=PLATFORM)
        actor = self.enrich(actor)[0] if self.enrich else actor
        return self.desk.whoami(actor)  # the same person on every platform: their tickets, their messages

    def say(self, text: str) -> None:
        """Print a line for the user."""
        print(text, file=self.out, flush=True)

    def run_one(self, line: str) -> Reply:
        """Run one command line (after taking any due SLA steps: the terminal keeps the clocks when no
        server runs) and print its reply."""
        self.desk.sweep()  # with no server running, the terminal keeps the SLA clocks
        call = attach_call(self.desk.registry, self.files, line)  # `attach <id> <path>`: the file read here
        if isinstance(call, Reply):
            reply = call
        else:
            reply = self.desk.execute(self.actor, call) if call is not None else self.desk.handle(self.actor, line)
        self.say(self.render.reply(reply))
        return reply

    def deliver_inbox(self) -> None:
        """Show and mark delivered the outbox messages addressed to this user."""
        if self.outbox is None:
            return
        now = self.desk.clock()
        for message in self.outbox.claim(PLATFORM, now, audiences=[f"user:{i}" for i in self.actor.ids]):
            self.say(self.style("✉ ", "cyan") + message.text)
            self.outbox.delivered(message.id, now)

    def banner(self) -> None:
        """Who is signed in, in which role, and how to switch or leave."""
        role = "technician" if self.desk.is_technician(self.actor) else "employee"
        self.say(self.style(f"helpdesk — signed in as {self.actor.name} <{self.actor.id}> ({role}).", "bold")
                 + " Type `help`, `:as <email>` to switch user, `exit` to leave.")

    def handle_line(self, line: str) -> Reply | None:
        """One line of input; None for shell-level lines (switch user, blank)."""
        stripped = line.strip()
        word, _, rest = stripped.partition(" ")
        if word in SWITCH:
            if rest.strip():
                self.actor = self._actor(rest.strip())
                self.banner()
                self.deliver_inbox()
            else:
                self.say("Type `:as <email>` to act as someone else.")
            return None
        if not stripped:
            return None
        reply = self.run_one(line)
        self.deliver_inbox()
        return reply

    def run_lines(self, lines: Iterable[str]) -> int:
        """Non-interactive: every line is a command; exit 1 if any was refused."""
        failed = False
        for line in lines:
            if line.strip() in QUIT:
                break
            reply = self.handle_line(line.rstrip("\n"))
            failed |= reply is not None and not reply.ok
        return 1 if failed else 0

    def interact(self) -> int:
        """The interactive prompt: history, a refused line offered again for editing; 0 at end of input."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        try:
            HISTORY.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(HISTORY))
        except OSError:
            history = InMemoryHistory()
        session: PromptSession = PromptSession(history=history)
        self.banner()
        self.deliver_inbox()
        while True:
            try:
                line = session.prompt(f"{self.actor.name}> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            if line.strip() in QUIT:
                return 0
            reply = self.handle_line(line)
            if reply is not None and not reply.ok and reply.draft:
                # never pre-typed into the next prompt, where a new command would be glued onto it
                if reply.draft != line.strip():
                    history.append_string(reply.draft)
                self.say(self.style(EDIT_HINT, "dim"))


def run_shell(desk: Desk, outbox: Outbox | None, identity: str, command: str | None = None,
              stdin: IO[str] = sys.stdin, out: IO[str] = sys.stdout,
              enrich: Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None = None,
              files: Intake | None = None) -> int:
    """Run the terminal for `identity`: one command (`command`), an interactive prompt on a terminal,
    or the lines of a pipe; the exit code is 1 if any line was refused. `files` takes in what
    `attach` names."""
    shell = Shell(desk, outbox, identity, out, enrich, files)
    if command is not None:
        return shell.run_lines([command])
    if stdin.isatty() and out.isatty():
        return shell.interact()
    return shell.run_lines(stdin)
