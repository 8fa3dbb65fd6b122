"""Files arriving from a chat platform or the terminal, taken in once for every platform.

Each file a platform announces (a `SharedFile`) is checked against the configured limit and
types as declared, fetched with the platform's own credentials (its `fetch`), typed again from
its first bytes (a renamed program is not a picture), checked again, and kept in the attachment
store (storage/files.py). Each becomes a `bot.model.Upload`: kept, or refused with the reason
in one sentence, which the core records on the ticket, so nothing shared is silently dropped.
"""
from __future__ import annotations

import asyncio
import logging
import mimetypes
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

import aiohttp

from adapters.chat import messages as CM
from bot.model import Upload
from bot.text import clean, file_size, one_line
from storage.files import FileSettings, FileStore

log = logging.getLogger("helpdesk.chat")

GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "image/*", "application/unknown"}
# The first bytes of the kinds of file people share most, and of programs (refused by default).
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"), (b"BM", "image/bmp"),
    (b"MZ", "application/x-msdownload"), (b"\x7fELF", "application/x-executable"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"), (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
)
ZIP = b"PK\x03\x04"
OFFICE = {".docx", ".xlsx", ".pptx"}  # zip files inside; their name says which
# Types by a file's name: Python's own table (not the machine's /etc/mime.types, so every machine
# decides alike), with what people send a help desk that it lacks.
TYPES = mimetypes.MimeTypes(filenames=())
for _suffix, _kind in ((".log", "text/plain"), (".exe", "application/x-msdownload"), (".msi", "application/x-msi"),
                       (".dll", "application/x-msdownload"), (".heic", "image/heic"), (".webp", "image/webp"),
                       (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                       (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                       (".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation")):
    TYPES.add_type(_kind, _suffix)


@dataclass(frozen=True)
class SharedFile:
    """A file a platform says was shared: its name, MIME type and size (bytes) as the platform
    declares them ("" and None when it does not), `url`, where the platform serves its bytes
    (the platform's fetch knows how), `link` back to it for people, and who shared it."""

    name: str
    content_type: str = ""
    size: int | None = None
    url: str = ""
    link: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    auth: str = ""  # which of its credentials the platform's fetch uses for it, in the platform's terms


class FetchFailed(Exception):
    """The platform did not hand over the bytes; the message says why, for people ("Slack
    answered 404: the file is gone")."""


# (file, limit in bytes) → the bytes; reading stops past `limit` (raises TooLarge).
Fetch = Callable[[SharedFile, int], Awaitable[bytes]]


class TooLarge(FetchFailed):
    """More bytes came than the limit allows; `size` is how many were seen (at least)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def sniff(data: bytes, name: str = "") -> str | None:
    """The MIME type the first bytes show, for the kinds this knows (images, PDF, zip, office
    documents by name, programs); None when they show nothing known (text, for one)."""
    for signature, kind in SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(ZIP):
        suffix = name.lower()[name.rfind("."):] if "." in name else ""
        return TYPES.guess_type("x" + suffix)[0] if suffix in OFFICE else "application/zip"
    return None


def is_text(data: bytes) -> bool:
    """Whether bytes of no declared type read as text (a log, a config file): UTF-8, no NUL."""
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


def declared_type(file: SharedFile) -> str:
    """The type a file claims: the platform's, else the one its name suggests, else ""."""
    declared = file.content_type.split(";")[0].strip().lower()
    if declared in GENERIC_TYPES:
        return (TYPES.guess_type(file.name)[0] or "").lower()
    return declared


def file_name(file: SharedFile, content_type: str) -> str:
    """A name to show: the file's own, cleaned to one line of at most 255 characters, or
    "image" (or "file") with the extension its type suggests."""
    name = one_line(clean(file.name), 255)
    return name or ("image" if content_type.startswith("image/") else "file") + (TYPES.guess_extension(content_type) or "")


REDIRECTS = (301, 302, 303, 307, 308)


async def download(session: aiohttp.ClientSession, url: str, headers: dict[str, str], limit: int, platform: str) -> bytes:
    """GET a file's bytes from a platform, at most `limit`: a redirect is not followed (a
    platform sends a client it does not know to its sign-in page); 401, 403 and redirects,
    404 and other answers raise FetchFailed saying so, more than `limit` bytes TooLarge."""
    async with session.get(url, headers=headers, allow_redirects=False,
                           timeout=aiohttp.ClientTimeout(total=60)) as response:
        if response.status in REDIRECTS or response.status in (401, 403):
            raise FetchFailed(CM.FETCH_SIGN_IN.format(platform=platform))
        if response.status == 404:
            raise FetchFailed(CM.FETCH_GONE.format(platform=platform))
        if response.status != 200:
            raise FetchFailed(CM.FETCH_ANSWERED.format(platform=platform, status=response.status))
        if (response.content_length or 0) > limit:
            raise TooLarge(response.content_length)
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise TooLarge(max(len(data), response.content_length or 0))
        return bytes(data)


class Intake:
    """Takes files in for tickets under `[attachments]` (limit, types) into `store`."""

    def __init__(self, settings: FileSettings, store: FileStore) -> None:
        self.settings = settings
        self.store = store

    def refuse(self, file: SharedFile, origin: str, reason: str, content_type: str = "", size: int | None = None) -> Upload:
        """The record of a file that was not kept, and why."""
        kind = content_type or declared_type(file) or file.content_type.lower() or "application/octet-stream"
        return Upload(file_name(file, kind), kind, size if size is not None else file.size, None, file.link, reason,
                      origin, file.author_id, file.author_name)

    async def take(self, files: Iterable[SharedFile], fetch: Fetch, origin: str) -> tuple[Upload, ...]:
        """Each file kept or refused (with the reason), in order; never raises for a file."""
        return tuple([await self.take_one(file, fetch, origin) for file in files])

    async def take_one(self, file: SharedFile, fetch: Fetch, origin: str) -> Upload:
        """One file: checked as declared, fetched (at most the limit plus one byte), typed from
        its bytes, checked again, kept. `origin` names the adapter it came through."""
        limit = self.settings.max_bytes
        claimed = declared_type(file)
        if file.size is not None and file.size > limit:
            return self.refuse(file, origin, self.too_large(file.size), claimed)
        if claimed and not self.settings.accepts(claimed):
            return self.refuse(file, origin, CM.FILE_TYPE_REFUSED.format(type=claimed), claimed)
        try:
            data = await fetch(file, limit)
        except TooLarge as exc:
            return self.refuse(file, origin, self.too_large(exc.size), claimed, exc.size)
        except FetchFailed as exc:
            return self.refuse(file, origin, CM.FILE_NOT_FETCHED.format(why=exc), claimed)
        except Exception as exc:  # the platform down, a connection reset: said, not raised
            log.warning("%s: fetching %r failed: %s: %s", origin, file.name, type(exc).__name__, exc)
            return self.refuse(file, origin, CM.FILE_NOT_FETCHED.format(why=type(exc).__name__), claimed)
        if len(data) > limit:
            return self.refuse(file, origin, self.too_large(len(data)), claimed, len(data))
        kind = sniff(data[:64], file.name) or claimed or ("text/plain" if is_text(data) else "application/octet-stream")
        if not self.settings.accepts(kind):
            return self.refuse(file, origin, CM.FILE_TYPE_REFUSED.format(type=kind), kind, len(data))
        try:
            sha256, _ = await asyncio.to_thread(self.store.put, data)
        except OSError as exc:
            log.error("the attachment store refused %r: %s", file.name, exc)
            return self.refuse(file, origin, CM.FILE_NOT_STORED.format(why=exc.strerror or exc), kind, len(data))
        return Upload(file_name(file, kind), kind, len(data), sha256, file.link, None, origin, file.author_id,
                      file.author_name)

    def too_large(self, size: int) -> str:
        """Why a file of `size` bytes is refused."""
        return CM.FILE_TOO_LARGE.format(size=file_size(size), limit=file_size(self.settings.max_bytes))
