"""What the core records of files on a ticket and of the chat message a ticket is made from.

Keeping the bytes is the adapters' work (their attachment store): a call carries files already
taken in (bot.model.Upload), kept or refused with the reason. The core records each on the
ticket (name, type, size, who, when, the link back), once per ticket for given bytes, and a
refused one with its reason, so nothing shared is silently dropped."""
from __future__ import annotations

from bot import messages as M
from bot.context import Context
from bot.model import Attachment, Note, Origin, Ticket, Upload
from bot.text import TEXT_MAX, clean, one_line


def record_files(ctx: Context, ticket: Ticket, files: tuple[Upload, ...]) -> tuple[list[Attachment], list[Attachment]]:
    """Record `files` on `ticket`, each as shared by its author (else the caller): (those added,
    those the ticket already had, as first recorded)."""
    added: list[Attachment] = []
    again: list[Attachment] = []
    for f in files:
        attachment = Attachment(ticket.id, f, f.author_id or ctx.actor.id, f.author_name or ctx.actor.name, ctx.now)
        recorded, new = ctx.tx.add_attachment(attachment)
        (added if new else again).append(recorded)
    return added, again


def files_text(attachments: list[Attachment]) -> str:
    """The files as one line: names, and why those not kept were refused."""
    return ", ".join(a.file.name if a.file.kept else M.FILE_NOT_KEPT_SHORT.format(name=a.file.name, reason=a.file.reason)
                     for a in attachments)


def record_origin(ctx: Context, ticket: Ticket, origin: Origin) -> list[Attachment]:
    """What a ticket made from a chat message keeps of it: a note linking back to it, its
    thread as notes by their authors, its files; and a notice answering in that thread with
    the ticket's number. Returns the files recorded."""
    if origin.link:
        ctx.tx.add_note(Note(ticket.id, ctx.actor.id, ctx.actor.name, M.FROM_MESSAGE_NOTE.format(link=origin.link),
                             False, ctx.now))
    for post in origin.thread:
        text = clean(post.text)
        if text:
            ctx.tx.add_note(Note(ticket.id, post.author_id, post.author_name, text[:TEXT_MAX], False, ctx.now))
    added, _ = record_files(ctx, ticket, origin.files)
    if origin.reply_to.get("platform"):
        ctx.notify("opened_here", f"thread:{origin.reply_to['platform']}", ticket, M.OPENED_IN_THREAD.format(
            ref=ticket.ref, requester=ticket.requester.name, headline=one_line(ticket.description)),
            where=dict(origin.reply_to))
    return added
