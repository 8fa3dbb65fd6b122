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
from bot.text import TEXT_MAX, clean, for_grammar, one_line, parse_ticket_ref

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


# key="quoted", key='quoted' or key=word; a person (for=) and a phone number (phone=) may also be
# written as people say phone numbers, with spaces, brackets, dashes and an extension:
# for=+1 (555) 0142, phone=+44 20 7946 0958 ext. 12
_OPTION = r"(?<!\S)({keys})=(?:\"([^\"]*)\"|'([^']*)'|{phone}(\S+))"
_PHONE = r"(\+?\(?\d[\d ().-]*\d(?:[ ]*(?:x|ext\.?|extension)[ ]*\d{1,6})?(?![\w]))|"
_ANY_KEY = re.compile(r"(?<!\S)([A-Za-z][A-Za-z_-]{0,30})=")
_WORD = re.compile(r"[ \t\n]*([^ \t\n]+)")
PERSON_OPTIONS = ("for",)
PHONE_OPTIONS = ("for", "phone")


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
        words = for_grammar(text).split(maxsplit=1)
        return bool(words) and self.get(words[0].lstrip("/")) is not None

    def closest(self, word: str) -> str | None:
        """The command a mistyped word most likely meant (name or alias, 75 % alike at least), or None."""
        found = difflib.get_close_matches(word.lower(), [n for n, s in self._names.items()
                                                         if not self._specs[s].hidden], n=1, cutoff=0.75)
        return self._names[found[0]] if found else None

    def parse(self, raw: str, default_ticket: int | None = None, people: Mapping[str, Any] | None = None) -> Call:
        """Split a typed line into command, ticket id, options and free text.

        The grammar reads the line with Unicode spaces and typographic quotes made plain
        (bot.text.for_grammar), while the free text and option values keep the characters the
        person typed. `default_ticket` is the ticket whose conversation the line was typed in:
        there the id may be left out (`claim`, `wait which room?`). Raises ParseError with the
        sentence to show (and the line as `draft`) when the line cannot be read: an unknown
        command, a missing or malformed ticket id, missing or unexpected text, an unclosed
        quote, or an option name that looks like a misspelt one."""
        text = clean(raw)
        if not text:
            raise ParseError(M.EMPTY)
        view = for_grammar(text)  # same length: spans found in it are spans of `text`
        first = _WORD.match(view)
        word = first.group(1).lstrip("/")
        spec = self.get(word)
        if spec is None:
            raise ParseError(self._unknown(word, text), draft=text)
        pos = first.end(1)
        ticket_id = None
        if spec.takes_ticket:
            token = _WORD.match(view, pos)
            if default_ticket is not None:
                ticket_id = default_ticket
                if token and parse_ticket_ref(token.group(1)) == default_ticket:
                    pos = token.end(1)
            elif token is None:
                raise ParseError(M.NEED_TICKET.format(usage=spec.usage, example=spec.example), draft=text)
            else:
                ticket_id = parse_ticket_ref(token.group(1))
                if ticket_id is None:
                    raise ParseError(M.BAD_TICKET.format(token=text[token.start(1):token.end(1)][:40],
                                                         example=spec.example), draft=text)
                pos = token.end(1)
        options, spans = self._options(spec, text, view, pos)
        rest = "".join(text[a:b] for a, b in _gaps(spans, pos, len(text))).strip()
        if spec.options:
            rest = re.sub(r"[ \t]{2,}", " ", rest).strip()
        if spec.text and not spec.optional_text and not rest:
            raise ParseError(M.NEED_TEXT.format(what=spec.text.capitalize(), usage=spec.usage), draft=text)
        if not spec.text and rest:
            message = M.UNEXPECTED_TEXT if spec.takes_ticket else M.NOTHING_EXPECTED
            raise ParseError(message.format(name=spec.name, usage=spec.usage, text=one_line(text, 200)), draft=text)
        source = Source.THREAD if default_ticket is not None else Source.LINE
        return Call(spec.name, ticket_id, rest, options, source, raw=text, people=dict(people or {}))

    def _options(self, spec: CommandSpec, text: str, view: str, pos: int) -> tuple[dict[str, str], list[tuple[int, int]]]:
        """The `key=value` options after `pos`, and where they stand (to cut from the free text).
        Quoted values are taken between their quotes; phone-like keys take a whole number."""
        options: dict[str, str] = {}
        spans: list[tuple[int, int]] = []
        if not spec.options:
            return options, spans
        phones = [k for k in spec.options if k in PHONE_OPTIONS]
        others = [k for k in spec.options if k not in PHONE_OPTIONS]
        for keys, phone in ((phones, _PHONE), (others, "")):
            if not keys:
                continue
            pattern = re.compile(_OPTION.format(keys="|".join(keys), phone=phone), re.IGNORECASE)
            for match in pattern.finditer(view, pos):
                if any(a < match.end() and match.start() < b for a, b in spans):
                    continue
                group = next(i for i in range(2, pattern.groups + 1) if match.group(i) is not None)
                value = text[match.start(group):match.end(group)]
                if group == pattern.groups and view[match.start(group)] in "\"'":
                    raise ParseError(M.UNCLOSED_QUOTE.format(key=match.group(1), usage=spec.usage), draft=text)
                options[match.group(1).lower()] = value
                spans.append(match.span())
        for match in _ANY_KEY.finditer(view, pos):
            key = match.group(1)
            if key.lower() in spec.options or any(a <= match.start() < b for a, b in spans):
                continue
            close = _closest_option(key.lower(), spec.options)
            if close:
                raise ParseError(M.UNKNOWN_OPTION.format(key=key[:30], close=close, name=spec.name,
                                                         usage=spec.usage), draft=text)
        return options, sorted(spans)

    def _unknown(self, word: str, text: str) -> str:
        close = self.closest(word)
        if close:
            return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=M.UNKNOWN_COMMAND_SUGGEST.format(name=close))
        if len(text.split()) >= 3:
            return M.LOOKS_LIKE_PROBLEM.format(word=word[:40], text=text[:200])
        return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=".")


def _gaps(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The stretches of [start, end) that no span covers, in order."""
    gaps, at = [], start
    for a, b in spans:
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < end:
        gaps.append((at, end))
    return gaps


def _closest_option(key: str, options: tuple[str, ...]) -> str | None:
    """The option a mistyped `key=` most likely meant: close in spelling, or a prefix of it."""
    found = difflib.get_close_matches(key, options, n=1, cutoff=0.7)
    if found:
        return found[0]
    prefixed = [o for o in options if len(key) >= 3 and o.startswith(key)]
    return prefixed[0] if len(prefixed) == 1 else None


REGISTRY = Registry()
