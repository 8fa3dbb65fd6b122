"""Commands register here with their grammar, help text and who may run them.

Parsing is driven by the spec (does it take a ticket id, is text required), so
every command refuses malformed input with the same clear sentences.
"""
from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from bot import messages as M
from bot.text import clean, one_line, parse_ticket_ref

if TYPE_CHECKING:
    from bot.context import Context
    from bot.replies import Reply


class Role(enum.Enum):
    ANYONE = "anyone"
    PARTICIPANT = "the requester or a technician"
    TECHNICIAN = "technicians"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    handler: Callable[["Context"], "Reply"]
    role: Role = Role.ANYONE
    takes_ticket: bool = False
    text: str | None = None  # what the free text is called, when required
    optional_text: bool = False
    options: tuple[str, ...] = ()
    verb: str = ""  # "claim tickets": used in the technicians-only refusal
    example: str = ""
    writes: bool = True
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    spec: CommandSpec
    raw: str
    ticket_id: int | None = None
    text: str = ""
    options: dict[str, str] = field(default_factory=dict)


class ParseError(Exception):
    def __init__(self, message: str, draft: str | None = None) -> None:
        super().__init__(message)
        self.draft = draft


# key="quoted", key='quoted' or key=word; a person (for=) may also be a phone number with
# its spaces and brackets, as people say them: for=+1 (555) 0142
_OPTION = r"(?<!\S)({keys})=(\"([^\"]*)\"|'([^']*)'|{phone}(\S+))"
_PHONE = r"(\+?\(?\d[\d ().-]*\d(?![\w]))|"
PERSON_OPTIONS = ("for",)


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._names: dict[str, str] = {}

    def command(self, name: str, **kwargs) -> Callable[[Callable], Callable]:
        def register(handler: Callable) -> Callable:
            if name in self._names:
                raise ValueError(f"command {name!r} registered twice")
            spec = CommandSpec(name=name, handler=handler, **kwargs)
            self._specs[name] = spec
            for alias in (name, *spec.aliases):
                self._names[alias] = name
            return handler

        return register

    def __iter__(self):
        return iter(self._specs.values())

    def get(self, word: str) -> CommandSpec | None:
        name = self._names.get(word.lower())
        return self._specs[name] if name else None

    def closest(self, word: str) -> str | None:
        found = difflib.get_close_matches(word.lower(), list(self._names), n=1, cutoff=0.75)
        return self._names[found[0]] if found else None

    def parse(self, raw: str, default_ticket: int | None = None) -> Call:
        """Split a line into command, ticket id, options and free text.

        `default_ticket` is the ticket whose conversation the line was typed in: there
        the id may be left out (`claim`, `wait which room?`), and is never guessed from
        a leading number that is part of the text (`wait 2 more days?`)."""
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
            people = [k for k in spec.options if k in PERSON_OPTIONS]
            others = [k for k in spec.options if k not in PERSON_OPTIONS]
            for keys, phone in ((people, _PHONE), (others, "")):
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
        return Call(spec=spec, raw=text, ticket_id=ticket_id, text=rest, options=options)

    def form_call(self, name: str, text: str, options: dict[str, str], ticket_id: int | None = None) -> Call:
        """A command filled in through a form: fields arrive already separated."""
        spec = self._specs[name]
        return Call(spec=spec, raw=clean(text), ticket_id=ticket_id, text=clean(text),
                    options={k: v for k, v in options.items() if k in spec.options and v is not None})

    def _unknown(self, word: str, text: str) -> str:
        close = self.closest(word)
        if close:
            return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=M.UNKNOWN_COMMAND_SUGGEST.format(name=close))
        if len(text.split()) >= 3:
            return M.LOOKS_LIKE_PROBLEM.format(word=word[:40], text=text[:200])
        return M.UNKNOWN_COMMAND.format(word=word[:40], suggest=".")


REGISTRY = Registry()
