"""`attach <id> <path>` in the terminal: the file read from this computer and taken in through
the same intake as a file shared in chat (limit, types, the attachment store), then handed to
the core as a typed call; the core never reads a path."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from adapters.chat import messages as CM
from adapters.chat.attachments import FetchFailed, Intake, SharedFile, TooLarge
from bot.commands.registry import Call, ParseError, Registry
from bot.replies import Reply

ORIGIN = "console"


async def read_local(file: SharedFile, limit: int) -> bytes:
    """A local file's bytes, at most `limit` (raises TooLarge past it, FetchFailed when unreadable)."""
    def read() -> bytes:
        with open(file.url, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(Path(file.url).stat().st_size)
        return data
    try:
        return await asyncio.to_thread(read)
    except OSError as exc:
        raise FetchFailed(exc.strerror or str(exc)) from None


def attach_call(registry: Registry, intake: Intake | None, line: str) -> Call | Reply | None:
    """The typed call for an `attach` line, its file taken in; a refusal when the path names no
    file; None for any other line (or an `attach` line the grammar refuses: the core says why)."""
    words = line.split(maxsplit=1)
    spec = registry.get(words[0].lstrip("/")) if words else None
    if spec is None or spec.name != "attach" or intake is None:
        return None
    try:
        call = registry.parse(line)
    except ParseError:
        return None
    path = Path(call.text.strip().strip("'\"")).expanduser()
    if not path.is_file():
        return Reply.refuse(CM.ATTACH_NO_SUCH_FILE.format(path=call.text.strip()))
    file = SharedFile(path.name, size=path.stat().st_size, url=str(path))
    upload = asyncio.run(intake.take_one(file, read_local, ORIGIN))
    return replace(call, files=(upload,))
