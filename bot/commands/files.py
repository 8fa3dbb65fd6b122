"""Files on tickets: `attach <id> <path>` in the terminal, files shared in a ticket's thread
(typed calls of `attach`), and files sent to the bot directly (the hidden `share`)."""
from __future__ import annotations

from bot import messages as M
from bot.attachments import files_text, record_files
from bot.commands.registry import REGISTRY, Role
from bot.commands.working import ticket_meant
from bot.context import Context
from bot.model import Ticket, Upload
from bot.replies import Reply
from bot.text import one_line, parse_ticket_ref

command = REGISTRY.command


def attach_files(ctx: Context, ticket: Ticket, files: tuple[Upload, ...]) -> Reply:
    """Record the files on the ticket and say so on its card; refused when every one of them was
    already there (nothing changes)."""
    added, again = record_files(ctx, ticket, files)
    if not added:
        names = ", ".join(a.file.name for a in again)
        return Reply.refuse(M.ATTACHED_AGAIN.format(names=names, verb="is" if len(again) == 1 else "are", ref=ticket.ref))
    ticket = ctx.record("attached", ticket, ticket, {"attachments": [None, [a.id for a in added]]},
                        summary=ctx.line("attached", files=one_line(files_text(added), 500)))
    ctx.notify_requester("files", ticket, M.FILES_ADDED_FOR_REQUESTER.format(
        name=ctx.actor.name, ref=ticket.ref, files=one_line(files_text(added), 500)))
    kept = [a.file.name for a in added if a.file.kept]
    sentences = [M.ATTACHED.format(names=", ".join(kept), ref=ticket.ref)] if kept else []
    sentences += [M.NOT_KEPT.format(name=a.file.name, reason=a.file.reason, ref=ticket.ref)
                  for a in added if not a.file.kept]
    if again:
        sentences.append(M.ATTACHED_AGAIN.format(names=", ".join(a.file.name for a in again),
                                                 verb="is" if len(again) == 1 else "are", ref=ticket.ref))
    return Reply(" ".join(sentences), ticket=ticket, attachments=tuple(added))


@command("attach", usage="attach <id> <path>",
         summary="Attach a file from this computer to a ticket (in chat, share the file in the ticket's thread).",
         role=Role.PARTICIPANT, takes_ticket=True, text="the file's path", example="attach 12 ./screenshot.png")
def attach(ctx: Context) -> Reply:
    if not ctx.call.files:
        return Reply.refuse(M.ATTACH_NEEDS_FILE)
    return attach_files(ctx, ctx.ticket, tuple(ctx.call.files))


@command("share", usage="share [#id]", summary="Files a requester sent to the bot directly: on the ticket they name, "
         "else the one waiting on them, else their only open one.", text="the message", optional_text=True, hidden=True)
def share(ctx: Context) -> Reply:
    """The ticket is found and written in the same transaction, as for `answer`."""
    named = parse_ticket_ref(ctx.call.text.strip()) if ctx.call.text.strip() else None
    ticket = ticket_meant(ctx, named, M.SHARE_WHICH_TICKET, M.SHARE_NO_TICKET)
    if isinstance(ticket, Reply):
        return ticket
    return attach_files(ctx, ticket, tuple(ctx.call.files))
