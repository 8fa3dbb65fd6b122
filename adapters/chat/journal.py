"""The intake queue's journal: submitted intake forms kept on local disk from the moment they are
accepted (and answered) until their tickets are written, so a form a person was told "received"
survives a crash or a kill of the process and is written when the help desk starts again.

Layout: one directory (`[intake] journal_dir`; by default `<the SQLite file>.intake/`, or
`.helpdesk-cache/intake/<database>/` for PostgreSQL), one file per running process and platform,
`<platform>-<pid>-<random>.jsonl`, locked (`flock`) by its process for as long as it runs. A
line per form accepted,

    {"key": "slack:view:V1:h1", "identity": "slack:U1", "actor": {…Actor fields…} | null,
     "call": {"command": "new", "text": "…", "options": {…}, "source": "form"}, "at": 1764552000.0}

and a line `{"settled": "<key>"}` once its ticket is written or its person told. Each line is one
`write` to a file opened for appending, so it is in the operating system's hands before the form
is answered: a killed or crashed process loses nothing; a machine that loses power may lose what
the disk had not yet been given (the last seconds; no fsync per form, which would cost a disk
flush per person in a surge).

At start, `orphans` reads every file of the platform no running process holds: the forms
accepted and not settled are accepted again into the new process's queue (journaled again
there first), then the old file is deleted. A form whose ticket was written just before the
crash comes back as a repeat of its key and is answered by the store's dedupe: nothing is
written twice. Only forms with a request key (Slack's view id and hash, a Teams form id) are
journaled; without one a replay could not tell a written ticket from an unwritten one.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url

from bot.commands.registry import Call, Source
from bot.model import Actor
from storage.database import in_memory

log = logging.getLogger("helpdesk")

COMPACT_BYTES = 1 << 20  # a file with nothing outstanding is emptied once it is larger than this
CACHE_DIR = Path(".helpdesk-cache") / "intake"


class IntakeSettings(BaseModel):
    """`[intake]`: where submitted forms are journaled until their tickets are written: the
    configured `journal_dir` (relative to the working directory), else next to the SQLite file
    (`helpdesk.db.intake/`), else `.helpdesk-cache/intake/<a hash of the database URL>/`.
    Replicas on one machine may share it (each process has its own file); each machine needs its
    own, on a local disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    journal_dir: str | None = None

    def directory(self, database_url: str) -> Path | None:
        """The journal's directory; None for an in-memory SQLite database (nothing outlives it)."""
        if self.journal_dir:
            return Path(self.journal_dir)
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            return None if in_memory(url) else Path(url.database + ".intake")
        # one directory per database: two help desks started from one directory never replay each other's
        which = hashlib.blake2b(url.render_as_string(hide_password=True).encode(), digest_size=6).hexdigest()
        return CACHE_DIR / which


def open_journal(runtime: Any, platform: str) -> Journal | None:
    """This process's journal for `platform`, for the runtime's settings and database (None without
    a directory, or when it cannot be opened: then said once, and forms live in memory until
    written, as without a journal)."""
    section = getattr(runtime.settings, "intake", None) or IntakeSettings()
    directory = section.directory(runtime.engine.url.render_as_string(hide_password=False))
    if directory is None:
        return None
    try:
        return Journal(directory, platform)
    except OSError as exc:
        log.error("intake: no journal in %s (%s); submitted forms are kept in memory only until written",
                  directory, exc)
        return None


@dataclass(frozen=True)
class Journaled:
    """A form read back from a journal: its request key, who submitted it (`actor`: None when only
    the identity was known, the platform looks them up again), and the call."""

    key: str
    identity: str
    actor: Actor | None
    call: Call


class Journal:
    """This process's journal file for one platform (see the module's docstring). Not thread-safe:
    the intake queue calls it from the event loop only. Raises OSError when the directory cannot be
    created or the file opened (the caller runs without a journal then, and says so)."""

    def __init__(self, directory: Path, platform: str) -> None:
        self.directory = Path(directory)
        self.platform = platform
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{platform}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        starting = self.directory / f".{name}.new"  # locked before it has a name another start looks for
        self._fd = os.open(starting, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while this process runs
            self.path = self.directory / name
            os.rename(starting, self.path)
        except OSError:
            os.close(self._fd)
            starting.unlink(missing_ok=True)
            raise
        self.outstanding: set[str] = set()
        self._held: dict[Path, int] = {}  # orphan files this process took over, until forgotten

    def accepted(self, key: str, who: Actor | str, call: Call) -> None:
        """Keep a form just accepted, before it is answered."""
        actor = who if isinstance(who, Actor) else None
        line = {"key": key, "identity": actor.id if actor else who, "actor": _actor_fields(actor) if actor else None,
                "call": {"command": call.command, "ticket_id": call.ticket_id, "text": call.text,
                         "options": dict(call.options), "source": call.source.value, "raw": call.raw},
                "at": time.time()}
        self._write(line)
        self.outstanding.add(key)

    def settled(self, key: str) -> None:
        """The form's ticket is written (or its person was told it could not be): not replayed."""
        if key not in self.outstanding:
            return
        self._write({"settled": key})
        self.outstanding.discard(key)
        if not self.outstanding and os.fstat(self._fd).st_size > COMPACT_BYTES:
            os.ftruncate(self._fd, 0)

    def close(self, *, remove: bool) -> None:
        """Release the file and the orphans still held; `remove` deletes it when nothing is
        outstanding (a clean shutdown), or whatever it holds when this process gives the journal
        up (its forms are then kept in memory only: replaying them later could repeat what their
        people were told)."""
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()

    def _write(self, line: dict[str, Any]) -> None:
        # ASCII JSON: a lone surrogate a client sent is escaped, never an encoding error
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode("ascii")
        while data:  # O_APPEND: at the end; a short write (a full disk) is finished or raises
            data = data[os.write(self._fd, data):]

    def orphans(self) -> list[tuple[Path, list[Journaled], bool]]:
        """The journal files of this platform that no running process holds, each locked by this
        process from now on, with the forms accepted in them and never settled (oldest first), and
        whether some line other than a last one cut short by the crash could not be read. Call
        `forget(path)` once a file's forms are accepted again here (`set_aside` for a damaged one,
        `release` to leave it for a later start). A file that cannot be opened is left, with a warning."""
        found = []
        for path in sorted(self.directory.glob(f"{self.platform}-*.jsonl")):
            if path == self.path or path in self._held:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # another process starting took it first
                continue
            except OSError as exc:
                log.warning("intake journal %s cannot be opened (%s); left as it is", path, exc)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                gone = os.fstat(fd).st_nlink == 0  # another process took it over and deleted it meanwhile
                forms, damaged = ([], False) if gone else _unsettled(path, _read_all(fd))
            except BlockingIOError:  # its process is running
                os.close(fd)
                continue
            except OSError as exc:
                os.close(fd)
                log.warning("intake journal %s cannot be read (%s); left as it is", path, exc)
                continue
            if gone:
                os.close(fd)
                continue
            self._held[path] = fd
            found.append((path, forms, damaged))
        return found

    def forget(self, path: Path) -> None:
        """Delete an orphan file `orphans` returned, its forms accepted again here (this journal
        is flushed to the disk first: they live in it now)."""
        os.fsync(self._fd)
        path.unlink(missing_ok=True)
        self.release(path)

    def set_aside(self, path: Path) -> None:
        """Keep an orphan with unreadable lines as `<name>.unreadable` for a person to look at."""
        os.fsync(self._fd)
        path.rename(path.with_name(path.name + ".unreadable"))
        self.release(path)

    def release(self, path: Path) -> None:
        """Let go of an orphan `orphans` returned, as it is (a later start takes it)."""
        fd = self._held.pop(path, None)
        if fd is not None:
            os.close(fd)


def _read_all(fd: int) -> str:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _actor_fields(actor: Actor) -> dict[str, Any]:
    fields = dataclasses.asdict(actor)
    fields["ids"] = sorted(actor.ids)
    fields["devices"] = list(actor.devices)
    return fields


def _unsettled(path: Path, text: str) -> tuple[list[Journaled], bool]:
    """The forms accepted in a journal's `text` and never settled, and whether a line other than
    a last one cut short (no newline: the crash came mid-write) could not be read."""
    accepted: dict[str, Journaled] = {}
    damaged = False
    lines = text.split("\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if "settled" in line:
                accepted.pop(line["settled"], None)
                continue
            call = line["call"]
            accepted[line["key"]] = Journaled(line["key"], line["identity"], _actor(line.get("actor")), Call(
                call["command"], call.get("ticket_id"), call.get("text") or "", dict(call.get("options") or {}),
                _source(call.get("source")), call.get("raw")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            cut_short = number == len(lines)  # the text does not end with a newline after it
            damaged = damaged or not cut_short
            log.warning("intake journal %s line %s cannot be read (%s: %s)%s", path.name, number,
                        type(exc).__name__, exc, "; cut short by the crash" if cut_short else "")
    return list(accepted.values()), damaged


def _actor(fields: Any) -> Actor | None:
    """The submitter as journaled; None (looked up again by identity) when the fields no longer fit."""
    if not isinstance(fields, dict):
        return None
    try:
        return Actor(**{**fields, "ids": frozenset(fields.get("ids") or ()), "devices": tuple(fields.get("devices") or ())})
    except TypeError:
        return None


def _source(value: Any) -> Source:
    try:
        return Source(value)
    except ValueError:
        return Source.FORM
