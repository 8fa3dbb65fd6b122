"""Commands register here with their grammar, help text, who may run them and what they
require of the ticket, so every command refuses the same mistake with the same sentence.

Two ways in: `Registry.parse(line)` for a command line a person typed, and a `Call` built
with typed values (a button, a form, a reply in a ticket's thread, a direct message, the
SLA sweep), which is never written out as text and parsed again.
"""
from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from bot import messages as M
from bot.text import TEXT_MAX, clean, one_line, parse_ticket_ref

if TYPE_CHECKING:
    from bot.context import Context
    from bot.model import Ticket
    from bot.replies import Reply


class Role(enum.Enum):
    ANYONE = "anyone"
    PARTICIPANT = "the requester or a technician"
    TECHNICIAN = "technicians"


class Source(str, enum.Enum):
    """Where a call came from; decides what the caller sees and what the ticket's conversation says."""

    LINE = "line"  # a command line a person typed (terminal, slash command, DM, mention)
    THREAD = "thread"  # a message in the ticket's own conversation (a card's thread)
    FORM = "form"  # a submitted form: the reply has nowhere to show, the person is told by message
    BUTTON = "button"  # a button on a card or a message
    DIRECT = "direct"  # a free-text direct message from a requester
    MESSAGE = "message"  # a chat message turned into a ticket without a form (an emoji reaction)
    SYSTEM = "system"  # the help desk itself (the SLA sweep)


Guard = Callable[["Ticket"], "str | None"]


@dataclass(frozen=True)
class CommandSpec:
    """A command as registered: its grammar and help, who may run it, and its preconditions.

    `guard(ticket)` returns why the ticket's state rules the command out (None: it may run);
    `text_limit` is the longest free text accepted (characters), checked before the handler;
    `hidden` commands are reached only through typed calls, never typed or listed in help."""

    name: str
    usage: str
    summary: str
    handler: Callable[["Context"], "Reply"]
    role: Role = Role.ANYONE
    takes_ticket: bool = False
    text: str | None = None  # what the free text is called ("the note"), when it takes text
    optional_text: bool = False
    options: tuple[str, ...] = ()
    verb: str = ""  # "claim tickets": used in the technicians-only refusal
    example: str = ""
    writes: bool = True
    aliases: tuple[str, ...] = ()
    guard: Guard | None = None
    text_limit: int | None = TEXT_MAX
    hidden: bool = False


@dataclass(frozen=True)
class Call:
    """One request to the core as plain values: the command's name, the ticket it is about,
    its free text and options, and where it came from.

    `raw` is the line as the person typed it, handed back for editing when it is refused
    (None for calls that were never a line); `people` are the people an adapter resolved from
    @mentions in it, by identity (values: bot.model.Actor); `files` are files an adapter already
    took in (bot.model.Upload: kept in its attachment store, or refused with the reason);
    `origin` is the chat message a ticket is made from (bot.model.Origin)."""

    command: str
    ticket_id: int | None = None
    text: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    source: Source = Source.LINE
    raw: str | None = None
    people: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[Any, ...] = ()
    origin: Any = None

    @property
    def in_thread(self) -> bool:
        """Made in the ticket's own conversation: the change needs no line there about itself."""
        return self.source is Source.THREAD

    @property
    def answered(self) -> bool:
        """Whether the reply is shown to the caller (a submitted form closes without one, and a
        reaction has nowhere to show one)."""
        return self.source not in (Source.FORM, Source.MESSAGE)


class ParseError(Exception):
    """A command line that cannot be read; the message says what to type, `draft` hands the line back."""

    def __init__(self, message: str, draft: str | None = None) -> None:
        super().__init__(message)
        self.draft = draft


# key="quoted", key='quoted' or key=word; a person (for=) may also be a phone number with
# its spaces and brackets, as people say them: for=+1 (555) 0142
_OPTION = r"(?<!\S)({keys})=(\"([^\"]*)\"|'([^']*)'|{phone}(\S+))"
_PHONE = r"(\+?\(?\d[\d ().-]*\d(?![\w]))|"
PERSON_OPTIONS = ("for",)


class Registry:
    """Every command, by name and alias; parsing and the refusals for malformed lines."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._names: dict[str, str] = {}

    def command(self, name: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        """Decorator registering a handler `(ctx) -> Reply` under `name`.

        Raises ValueError when `name` (or an alias) is registered twice."""
        def register(handler: Callable) -> Callable:
            spec = CommandSpec(name=name, handler=handler, **kwargs)
            for alias in (name, *spec.aliases):
                if alias in self._names:
                    raise ValueError(f"command {alias!r} registered twice")
            self._specs[name] = spec
            for alias in (name, *spec.aliases):
                self._names[alias] = name
            return handler

        return register

    def __iter__(self) -> Iterator[CommandSpec]:
        """The commands people may type, in registration order (hidden ones left out)."""
        return iter([s for s in self._specs.values() if not s.hidden])

    def get(self, word: str) -> CommandSpec | None:
        """The command a typed word names (name or alias, any case); None for hidden or unknown ones."""
        name = self._names.get(word.lower())
        spec = self._specs[name] if name else None
        return spec if spec is not None and not spec.hidden else None

    def spec(self, name: str) -> CommandSpec:
        """The command a typed call names, hidden ones included. Raises KeyError for an unknown name."""
        return self._specs[name]

    def is_command(self, text: str) -> bool:
        """Whether a line starts with a command word (`/claim` counts: people type slashes)."""
        words = text.split(maxsplit=1)
        return bool(words) and self.get(words[0].lstrip("/")) is not None

    def closest(self, word: str) -> str | None:
        """The command a mistyped word most likely meant (name or alias, 75 % alike at least), or None."""
        found = difflib.get_close_matches(word.lower(), [n for n, s in self._names.items()
                                                         if not self._specs[s].hidden], n=1, cutoff=0.75)
        return self._names[found[0]] if found else None

    def parse(self, raw: str, default_ticket: int | None = None, people: Mapping[str, Any] | None = None) -> Call:
        """Split a typed line into command, ticket id, options and free text.

        `default_ticket` is the ticket whose conversation the line was typed in: there the id
        may be left out (`claim`, `wait which room?`), and a leading number that is part of the
        text is never taken for it (`wait 2 more days?`). Raises ParseError with the sentence
        to show (and the line as `draft`) when the line cannot be read."""
        text = clean(raw)
        if not text:
            raise ParseError(M.EMPTY)
        word, _, rest = text.partition(" ")
        if "\n" in word:
            word, _, more = word.partition("\n")
            rest = more + (" " + rest if rest else "")
        word = word.lstrip("/")
        spec = self.get(word)
        if spec is None:
            raise ParseError(self._unknown(word, text), draft=text)
        rest = rest.strip()
        ticket_id = None
        if spec.takes_ticket and default_ticket is not None:
            ticket_id = default_ticket
            token, _, after = rest.partition(" ")
            if parse_ticket_ref(token) == default_ticket:
                rest = after.strip()
        elif spec.takes_ticket:
            token, _, after = rest.partition(" ")
            token, _, more = token.partition("\n")
            if not token:
                raise ParseError(M.NEED_TICKET.format(usage=spec.usage, example=spec.example), draft=text)
            ticket_id = parse_ticket_ref(token)
            if ticket_id is None:
                raise ParseError(M.BAD_TICKET.format(token=token[:40], example=spec.example), draft=text)
            rest = (more + " " + after).strip() if more else after.strip()
        options: dict[str, str] = {}
        if spec.options:
            people_keys = [k for k in spec.options if k in PERSON_OPTIONS]
            others = [k for k in spec.options if k not in PERSON_OPTIONS]
            for keys, phone in ((people_keys, _PHONE), (others, "")):
                if not keys:
                    continue
                pattern = re.compile(_OPTION.format(keys="|".join(keys), phone=phone), re.IGNORECASE)
                for match in pattern.finditer(rest):
                    options[match.group(1).lower()] = next(v for v in match.groups()[2:] if v is not None)
                rest = pattern.sub("", rest)
            rest = re.sub(r"[ \t]{2,}", " ", rest).strip()
        if spec.text and not spec.optional_text and not rest:
            raise ParseError(M.NEED_TEXT.format(what=spec.text.capitalize(), usage=spec.usage), draft=text)
        if not spec.text and rest:
            message = M.UNEXPECTED_TEXT if spec.takes_ticket else M.NOTHING_EXPECTED
            raise ParseError(message.format(name=spec.name, usage=spec.usage, text=one_line(text, 200)), draft=text)
        source = Source.THREAD if default_ticket is not None else Source.LINE
        return Call(spec.name, ticket_id, rest, options, source, raw=text, people=dict(people or {}))

    def _unknown(self, word: str, text: str) -> str:
        close = self.closest(word)
        if close:
            return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=M.UNKNOWN_COMMAND_SUGGEST.format(name=close))
        if len(text.split()) >= 3:
            return M.LOOKS_LIKE_PROBLEM.format(word=word[:40], text=text[:200])
        return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=".")


REGISTRY = Registry()
