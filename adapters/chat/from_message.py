"""The chat layer's part for chat messages that are not commands: a message turned into a
ticket (a shortcut or message action, which opens the intake form pre-filled, or an emoji
reaction, which opens the ticket at once), and files arriving in a ticket's thread or in a
direct chat with the bot. Mixed into adapters.chat.interactions.Interactions.

- `message_form`: the intake form for a message: its text, a link back to it, and, when a
  technician uses it on someone else's message, that person as the requester (as `for=`).
- `submit_from_message`: that form submitted (`Interactions.submit` hands it over): the ticket
  records the message's thread as its first notes and answers in that thread with its number;
  the message's files are taken in once the submission is answered (`later`).
- `reaction`: the ticket for the message's author with its thread and files; however many
  times and by however many people the emoji is added, one ticket (the message's key is the
  request's dedupe key, in the database, so replicas agree).
- `shared`: a message with files in a ticket's thread or a direct chat: its text as it would
  be without files (a note, a command), and the files attached.

Each platform registers its `MessageSource` in `sources` (adapters/chat/origin.py) when it mounts.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Coroutine, Mapping

from adapters.chat import messages as CM
from adapters.chat.attachments import SharedFile
from adapters.chat.origin import ChatMessage, MessageSource
from adapters.chat.outcomes import Acknowledged, Answer, Nothing, Opened, Outcome, Refusal, ShowForm
from adapters.chat.text import clip
from adapters.chat.views import FormContext
from bot import messages as M
from bot.commands.registry import Call, Source
from bot.forms import Choice, Field
from bot.model import Actor, Origin, ThreadPost, Upload
from bot.replies import Reply, ReplyKind
from bot.text import DESCRIPTION_MIN, TEXT_MAX, parse_ticket_ref

if TYPE_CHECKING:
    from adapters.chat.attachments import Intake
    from bot.desk import Desk

log = logging.getLogger("helpdesk.chat")

READ_SECONDS = 1.5  # reading a message's thread while a form submission waits on the answer


class FromMessages:
    desk: "Desk"
    files: "Intake | None"
    sources: dict[str, MessageSource]
    _later: set[asyncio.Task]

    # Provided by Interactions (declared here for the type checker; see their docstrings there)
    async def execute(self, actor: Actor, call: Call, key: str | None = None) -> Reply: ...
    async def submit(self, actor: Actor, context: Any, values: Mapping[str, Any], *, key: str | None = None,
                     people: Mapping[str, Actor] | None = None, origin: Origin | None = None) -> Outcome: ...
    async def thread_reply(self, actor: Actor, ticket_id: int, text: str, *, key: str | None = None,
                           people: Mapping[str, Actor] | None = None) -> Outcome: ...
    async def line(self, actor: Actor, text: str, *, key: str | None = None, people: Mapping[str, Actor] | None = None,
                   free: str = "grammar", thread_ticket: int | None = None) -> Outcome: ...
    def intake(self, actor: Actor, description: str = "") -> Any: ...

    # A message turned into a ticket through a form

    def message_form(self, actor: Actor, message: ChatMessage, author: Actor | None) -> ShowForm:
        """The intake form for `message`, opened by `actor` (a shortcut, a message action)."""
        form = self.intake(actor, clip(message.text.strip(), TEXT_MAX))
        if message.link:
            form = replace(form, intro=CM.FROM_MESSAGE_INTRO.format(link=message.link))
        if author is not None and not actor.is_(author.id) and self.desk.is_technician(actor):
            form = replace(form, fields=tuple(_for_author(f, author) for f in form.fields))  # as `for=`
        return ShowForm(form, FormContext("new", extra={"message": message.as_data()}))

    async def submit_from_message(self, actor: Actor, context: Any, values: Mapping[str, Any], *,
                                  key: str | None = None, people: Mapping[str, Actor] | None = None,
                                  source: MessageSource | None = None) -> Outcome:
        """The form of `message_form` submitted. The message's thread is read within READ_SECONDS
        (the platform waits on the answer); its files are taken in after (`later`). `source` is
        the platform's (default: the one it registered)."""
        context = context if isinstance(context, FormContext) else FormContext.read(context)
        if context is None:
            return Refusal(CM.FORM_BROKEN)
        ref = ChatMessage.read(context.extra.get("message"))
        source = source or (self.sources.get(ref.platform) if ref else None)
        if ref is None or source is None:
            return await self.submit(actor, replace(context, extra={}), values, key=key, people=people)
        try:
            message, thread = await asyncio.wait_for(self._read(source, ref), READ_SECONDS)
        except asyncio.TimeoutError:
            log.warning("%s: reading %s took too long; the ticket keeps a link to it only", source.platform, ref.key)
            message, thread = ref, []
        origin = Origin(link=message.link or ref.link, thread=await self._posts(source, thread), reply_to=message.reply_to)
        outcome = await self.submit(actor, context, values, key=key, people=people, origin=origin)
        files = message.files + tuple(f for m in thread for f in m.files)
        if isinstance(outcome, Opened) and not outcome.again and files:
            self.later(self.message_files(actor, outcome.ticket.id, files, source, key=key))
        return outcome

    async def message_files(self, actor: Actor, ticket_id: int, files: tuple[SharedFile, ...], source: MessageSource,
                            *, key: str | None = None) -> Reply:
        """Files shared with the message a ticket was made from, taken in and attached to it."""
        uploads = await self.take_files(files, source)
        return await self.execute(actor, Call("attach", ticket_id, source=Source.MESSAGE, files=uploads),
                                  f"{key}:files" if key else None)

    def later(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` once the platform has its answer (a form must close within seconds); a
        failure is logged (what was done so far is stored, and a refused file is noted)."""
        task = asyncio.ensure_future(work)
        self._later.add(task)

        def done(finished: asyncio.Task) -> None:
            self._later.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("follow-up work failed", exc_info=finished.exception())
        task.add_done_callback(done)

    async def settled(self) -> None:
        """Wait for the follow-up work started so far (tests, shutdown)."""
        while self._later:
            await asyncio.gather(*list(self._later), return_exceptions=True)

    # A message turned into a ticket by an emoji reaction

    async def reaction(self, actor: Actor, ref: ChatMessage, source: MessageSource) -> Outcome:
        """`actor` added the ticket emoji to `ref`: its author's ticket, with its thread and files.
        Answered in the message's thread (by the outbox); the reactor sees only refusals."""
        if await asyncio.to_thread(self._seen, ref.key):
            return Nothing()  # the emoji again, or someone else's: that ticket exists already
        message = await source.message(ref)
        if message is None:
            return Refusal(CM.NOT_A_MESSAGE)
        author = await source.person(message.author) if message.author else None
        if author is None:
            return Refusal(CM.NO_AUTHOR)
        thread = await source.thread(message)
        files = await self.take_files(message.files + tuple(f for m in thread for f in m.files), source,
                                      {message.author: author})
        text = message.text.strip()
        if len(text) < DESCRIPTION_MIN:
            text = CM.FROM_MESSAGE_DESCRIPTION.format(name=author.name, text=text or CM.FILES_ONLY)
        origin = Origin(link=message.link, author=author, thread=await self._posts(source, thread), files=files,
                        reply_to=message.reply_to)
        reply = await self.execute(actor, Call("new", None, clip(text, TEXT_MAX), source=Source.MESSAGE, origin=origin),
                                   ref.key)
        if reply.duplicate:
            return Nothing()
        return Opened(reply.ticket) if reply.ok and reply.ticket is not None else Refusal(reply.text)

    def _seen(self, key: str) -> bool:
        with self.desk.store.transaction(write=False) as tx:
            return tx.seen_result(key) is not None

    # Files arriving with a message

    async def shared(self, actor: Actor, text: str, files: tuple[SharedFile, ...], source: MessageSource, *,
                     ticket_id: int | None, direct: bool, key: str | None = None,
                     people: Mapping[str, Actor] | None = None) -> list[Outcome]:
        """A message with files in a ticket's thread (`ticket_id`) or a direct chat (`direct`;
        `ticket_id` is the ticket whose thread it is in, if any): its text does what it would
        alone (a note, a command; a bare `#12` only names the ticket), then the files are
        attached: to that ticket, to the one a command just opened, or to the one meant."""
        outcomes: list[Outcome] = []
        named = direct and ticket_id is None and parse_ticket_ref(text.strip()) is not None
        if text.strip() and not named:
            if direct:
                outcome = await self.line(actor, text, key=key, people=people, free="answer", thread_ticket=ticket_id)
                if isinstance(outcome, Answer) and outcome.reply.kind is ReplyKind.CHANGED and outcome.reply.ticket:
                    ticket_id = outcome.reply.ticket.id  # `new …` with a screenshot: the screenshot is the new ticket's
            else:
                outcome = await self.thread_reply(actor, ticket_id, text, key=key, people=people)
            outcomes.append(outcome)
        uploads = await self.take_files(files, source)
        if ticket_id is not None:
            call = Call("attach", ticket_id, source=Source.THREAD if not direct else Source.DIRECT, files=uploads)
        else:
            call = Call("share", None, text.strip() if named else "", source=Source.DIRECT, files=uploads)
        reply = await self.execute(actor, call, f"{key}:files" if key else None)
        if reply.duplicate:
            return outcomes
        if not reply.ok:
            return outcomes + [Answer(reply)]
        kept = [a.file.name for a in reply.attachments if a.file.kept]
        said = M.ATTACHED.format(names=", ".join(kept), ref=reply.ticket.ref) if kept else ""
        rest = reply.text.removeprefix(said).strip()  # files not kept, or already there: said to whoever shared them
        return outcomes + [Acknowledged("attached", said, not said, Reply(rest) if rest else None)]

    async def take_files(self, files: tuple[SharedFile, ...], source: MessageSource,
                         authors: Mapping[str | None, Actor] | None = None) -> tuple[Upload, ...]:
        """Files taken in with the platform's credentials (refused, with the reason, when this
        help desk keeps no files); each named as shared by its author where known."""
        named = []
        for file in files:
            author = (authors or {}).get(file.author_id)
            if author is None and file.author_id and not file.author_name:
                author = await source.person(file.author_id)
            named.append(replace(file, author_id=author.id, author_name=author.name) if author else file)
        if self.files is None:
            return tuple(Upload(f.name or "file", f.content_type or "application/octet-stream", f.size, None, f.link,
                                CM.FILE_NOT_STORED.format(why=CM.NO_STORE), source.platform, f.author_id,
                                f.author_name) for f in named)
        return await self.files.take(named, source.fetch, source.platform)

    async def _read(self, source: MessageSource, ref: ChatMessage) -> tuple[ChatMessage, list[ChatMessage]]:
        message = await source.message(ref) or ref
        return message, await source.thread(message)

    async def _posts(self, source: MessageSource, thread: list[ChatMessage]) -> tuple[ThreadPost, ...]:
        """The thread's messages as notes, each by its author (named when the platform can)."""
        posts = []
        for m in thread:
            if not m.text.strip():
                continue
            who = await source.person(m.author) if m.author else None
            posts.append(ThreadPost(who.id if who else f"{source.platform}:{m.author or '?'}",
                                    who.name if who else (m.author or "?"), m.text))
        return tuple(posts)


def _for_author(field: Field, author: Actor) -> Field:
    """The intake form's caller fields pre-set to a message's author: the picker on them (offered
    as its one choice, so a platform can show their name), reached by chat."""
    if field.name == "requester":
        return replace(field, initial=f"<@{author.id}>", choices=(Choice(author.id, author.name),))
    if field.name == "via":
        return replace(field, initial="chat")
    return field
