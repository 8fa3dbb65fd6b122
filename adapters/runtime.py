"""Wiring: settings → database (migrated) → store → desk. Shared by every entry point."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from adapters.chat.attachments import Intake
from adapters.ldap import build_lookup
from adapters.ldap.lookup import Lookup
from adapters.report_render import table
from bot.config import Settings
from bot.desk import Desk, utcnow
from bot.model import Actor
from bot.knowledge import Knowledge
from storage.files import FileSettings, FileStore
from storage.database import current_revision, head_revision, make_engine, normalise_url, upgrade
from storage.kb_files import DiskIndex, index_dir
from storage.kb_process import KnowledgeProcess
from storage.knowledge import TicketKnowledge
from storage.outbox import Outbox
from storage.repository import SqlStore

log = logging.getLogger("helpdesk")


class NotMigrated(Exception):
    """The database schema is behind the code; the message says what to run."""


@dataclass
class Runtime:
    """What every entry point shares: the settings (adapters.settings.AppSettings), the
    database, the desk, this process's view of the outbox, the directory, and the intake of
    shared files into the attachment store."""

    settings: Settings
    engine: Engine
    desk: Desk
    outbox: Outbox
    store: SqlStore
    directory: Lookup | None = None
    files: Intake | None = None

    @property
    def enricher(self) -> Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None:
        """`with_directory` when a directory is set up, else None: a platform's people cache then
        looks nobody up, and spends no worker thread on it (a surge of new people would queue one
        per person on the default pool, ahead of the answers' own reads)."""
        return self.with_directory if self.directory is not None and self.directory.enabled else None

    def with_directory(self, actor: Actor) -> tuple[Actor, tuple[str, ...]]:
        """The actor with what the directory knows of them (phone, department, office, manager, and
        the names of the computers they manage as `devices`), and those names again; unchanged when
        there is no directory or it does not answer in time (the form then simply asks)."""
        if self.directory is None or not self.directory.enabled or not actor.email:
            return actor, ()
        profile = self.directory.profile(actor.email)
        person = profile.person
        if person is None:
            return actor, ()
        name = actor.name if actor.name and actor.name not in (actor.id, actor.email.split("@")[0]) else person.display_name
        devices = tuple(c.name for c in profile.computers)
        return replace(actor, name=name, phone=actor.phone or person.telephone or person.mobile,
                       department=person.department, office=profile.location, manager=person.manager_name,
                       devices=devices), devices

    def close(self) -> None:
        """Stop background work (the knowledge loader, directory look-ups) and close the database."""
        if self.desk.knowledge is not None:
            self.desk.knowledge.close()
        if self.directory is not None:
            self.directory.close()
        self.engine.dispose()


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite (the embedded default)."""
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def prepare_database(engine: Engine, url: str) -> None:
    """SQLite (the embedded default) upgrades itself; a shared server needs `helpdesk db upgrade`.

    Raises NotMigrated, saying what to run, when a PostgreSQL database is behind the code."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if is_sqlite(url):
        log.info("upgrading the SQLite database from %s to %s", current or "empty", head)
        upgrade(engine)
        return
    raise NotMigrated(
        f"the database is at schema revision {current or '(empty)'} but this version needs {head}; "
        "run `helpdesk db upgrade` once, then start again")


def build(settings: Settings, clock: Callable[[], datetime] | None = None, engine: Engine | None = None, *,
          serving: bool = False) -> Runtime:
    """Everything the entry points share; `engine` lets a caller bring its own (tests, tools).
    `serving` (the chat server) searches the knowledge index in a process of its own
    (storage/kb_process.py) when `[knowledge] own_process` is on and the index lives on disk."""
    if engine is None:
        engine = make_engine(settings.database_url)
        prepare_database(engine, settings.database_url)
    store = SqlStore(engine)
    knowledge = None
    if settings.knowledge.enabled:
        source = TicketKnowledge(engine, settings)
        directory = index_dir(settings, engine.url.render_as_string(hide_password=False))
        if serving and settings.knowledge.own_process and directory is not None:
            knowledge = KnowledgeProcess(engine, source.rules, directory)
        else:
            knowledge = Knowledge(source, builder=DiskIndex(engine, source.rules, directory) if directory else None)
        knowledge.load_in_background()  # built or checked by another process, then mapped: serving goes on
    lookup = build_lookup(getattr(settings, "directory", None))
    desk = Desk(settings, store, clock=clock or utcnow, knowledge=knowledge,
                directory=lookup if lookup.enabled else None)
    desk.digest_renderer = table  # plain: each platform's sender sets it as a table
    outbox = Outbox(store, lease=timedelta(seconds=settings.delivery.lease_seconds))
    files = getattr(settings, "attachments", None) or FileSettings()
    intake = Intake(files, FileStore(files.root(settings.database_url)))
    return Runtime(settings, engine, desk, outbox, store, lookup, intake)
