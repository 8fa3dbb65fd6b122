"""The intake queue's journal: submitted intake forms kept on local disk from the moment they are
accepted (and answered) until their tickets are written, so a form a person was told "received"
survives a crash or a kill of the process and is written when the help desk starts again.

Layout: one directory (`[intake] journal_dir`; by default `<the SQLite file>.intake/`, or
`.helpdesk-cache/intake/` for PostgreSQL), one file per running process and platform,
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

log = logging.getLogger("helpdesk")

COMPACT_BYTES = 1 << 20  # a file with nothing outstanding is emptied once it is larger than this
CACHE_DIR = Path(".helpdesk-cache") / "intake"


class IntakeSettings(BaseModel):
    """`[intake]`: where submitted forms are journaled until their tickets are written: the
    configured `journal_dir` (relative to the working directory), else next to the SQLite file
    (`helpdesk.db.intake/`), else `.helpdesk-cache/intake/`. Replicas on one machine may share it
    (each process has its own file); each machine needs its own, on a local disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    journal_dir: str | None = None

    def directory(self, database_url: str) -> Path | None:
        """The journal's directory; None for an in-memory SQLite database (nothing outlives it)."""
        if self.journal_dir:
            return Path(self.journal_dir)
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            return None if url.database in (None, "", ":memory:") else Path(url.database + ".intake")
        return CACHE_DIR


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
        self.path = self.directory / f"{platform}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while this process runs
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
        """Release the file; `remove` when nothing is outstanding (a clean shutdown)."""
        if remove and not self.outstanding:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)

    def _write(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        os.write(self._fd, data)  # O_APPEND: one write, one line, at the end

    def orphans(self) -> list[tuple[Path, list[Journaled]]]:
        """The journal files of this platform that no running process holds, each locked by this
        process from now on, with the forms accepted in them and never settled (oldest first).
        `forget(path)` deletes one once its forms are accepted again here. A line that cannot be
        read (a write cut short by the crash) is skipped with a warning."""
        found = []
        for path in sorted(self.directory.glob(f"{self.platform}-*.jsonl")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # another process starting took it first
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is running
                os.close(fd)
                continue
            self._held[path] = fd
            found.append((path, _unsettled(path)))
        return found

    def forget(self, path: Path) -> None:
        """Delete an orphan file `orphans` returned, its forms accepted again here."""
        path.unlink(missing_ok=True)
        fd = self._held.pop(path, None)
        if fd is not None:
            os.close(fd)


def _actor_fields(actor: Actor) -> dict[str, Any]:
    fields = dataclasses.asdict(actor)
    fields["ids"] = sorted(actor.ids)
    fields["devices"] = list(actor.devices)
    return fields


def _unsettled(path: Path) -> list[Journaled]:
    accepted: dict[str, Journaled] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                line = json.loads(text)
                if "settled" in line:
                    accepted.pop(line["settled"], None)
                    continue
                call = line["call"]
                fields = line.get("actor")
                actor = None
                if fields:
                    fields = {**fields, "ids": frozenset(fields.get("ids") or ()),
                              "devices": tuple(fields.get("devices") or ())}
                    actor = Actor(**fields)
                accepted[line["key"]] = Journaled(line["key"], line["identity"], actor, Call(
                    call["command"], call.get("ticket_id"), call.get("text") or "", dict(call.get("options") or {}),
                    Source(call.get("source") or Source.FORM.value), call.get("raw")))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("intake journal %s line %s cannot be read (%s: %s); skipped", path.name, number,
                            type(exc).__name__, exc)
    return list(accepted.values())
