"""The Store port on SQLAlchemy Core: rows in, plain dataclasses out. One transaction type
serves the commands, the SLA sweep, the outbox and the chat adapters."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import Connection, Engine, and_, bindparam, case, func, insert, literal_column, or_, select, update

from bot.config import Settings
from bot.people import Person, looks_like_phone, same_phone
from bot.text import fold
from bot.reports import Report, ReportQuery
from bot.model import AuditEvent, Note, Notice, Requester, Severity, Status, Ticket, TicketFilter
from storage.attachments import AttachmentRows
from storage.conversations import ChatRows
from storage.database import one_or_many, upsert
from storage.write_behind import WriteBehind, blind
from storage.incidents import IncidentRows
from storage.outbox import OutboxRows
from storage.charts import ChartRows
from storage.people import PeopleRows
from storage.knowledge import past_resolution, past_resolutions
from storage.ratings import RatingRows
from storage.reports import ReportBuilder
from storage.schema import audit_events, jobs, leases, notes, outbox, seen_requests, tickets

_SEVERITY_ORDER = case({s.value: s.rank for s in Severity}, value=tickets.c.severity, else_=-1)


# Built once: building a statement (and its cache key) per write cost more CPU than running it.
_INSERT_TICKET = blind(insert(tickets).returning(tickets.c.id))
_UPDATE_TICKET = blind(update(tickets).where(and_(tickets.c.id == bindparam("w_id"),
                                                  tickets.c.version == bindparam("w_version"))))
_INSERT_NOTE = insert(notes).returning(notes.c.id)
_INSERT_EVENT = insert(audit_events)
_INSERT_OUTBOX = insert(outbox)
_TICKETS_BY_ID = blind(select(tickets).where(tickets.c.id.in_(bindparam("ids", expanding=True))))


@lru_cache(maxsize=None)
def _first_time(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING key: built once per database kind."""
    return blind(upsert(dialect, seen_requests).on_conflict_do_nothing().returning(seen_requests.c.key))


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the tickets table's columns."""
    r = ticket.requester
    return {
        "requester_id": r.id, "requester_name": r.name, "requester_email": r.email, "requester_phone": r.phone,
        "requester_department": r.department, "requester_office": r.office, "requester_manager": r.manager,
        "description": ticket.description, "category": ticket.category, "severity": ticket.severity.value,
        "status": ticket.status.value, "device": ticket.device, "location": ticket.location,
        "assignee_id": ticket.assignee_id, "assignee_name": ticket.assignee_name, "group_name": ticket.group,
        "escalation_level": ticket.escalation_level, "resolution": ticket.resolution, "origin": ticket.origin,
        "created_at": ticket.created_at, "updated_at": ticket.updated_at or ticket.created_at,
        "first_response_at": ticket.first_response_at, "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at, "version": ticket.version,
        "escalated_at": ticket.escalated_at, "top_pings": ticket.top_pings, "sla_warned_for": ticket.sla_warned_for,
        "overdue_noticed": ticket.overdue_noticed, "due_at": ticket.due_at, "sla_next_at": ticket.sla_next_at,
        "sla_step": ticket.sla_step, "response_due_at": ticket.response_due_at,
        "resolution_due_at": ticket.resolution_due_at, "logged_by_id": ticket.logged_by_id,
        "logged_by_name": ticket.logged_by_name, "via": ticket.via,
        "parent_id": ticket.parent_id, "merged_into_id": ticket.merged_into_id,
        "paused_at": ticket.paused_at, "paused_seconds": ticket.paused_seconds,
        "paused_business_seconds": ticket.paused_business_seconds, "waiting_since": ticket.waiting_since,
        "nudged_at": ticket.nudged_at,
    }


def ticket_from(row: Any) -> Ticket:
    """A tickets row as a Ticket."""
    m = row._mapping
    return Ticket(
        id=m["id"],
        requester=Requester(m["requester_id"], m["requester_name"], m["requester_email"], m["requester_phone"],
                            m["requester_department"], m["requester_office"], m["requester_manager"]),
        description=m["description"], category=m["category"], severity=Severity(m["severity"]),
        status=Status(m["status"]), created_at=m["created_at"], device=m["device"], location=m["location"],
        assignee_id=m["assignee_id"], assignee_name=m["assignee_name"], group=m["group_name"],
        escalation_level=m["escalation_level"], resolution=m["resolution"],
        first_response_at=m["first_response_at"], resolved_at=m["resolved_at"], closed_at=m["closed_at"],
        updated_at=m["updated_at"], origin=m["origin"], version=m["version"],
        escalated_at=m["escalated_at"], top_pings=m["top_pings"], sla_warned_for=m["sla_warned_for"],
        overdue_noticed=m["overdue_noticed"], due_at=m["due_at"], sla_next_at=m["sla_next_at"], sla_step=m["sla_step"],
        response_due_at=m["response_due_at"], resolution_due_at=m["resolution_due_at"],
        logged_by_id=m["logged_by_id"], logged_by_name=m["logged_by_name"], via=m["via"],
        parent_id=m["parent_id"], merged_into_id=m["merged_into_id"],
        paused_at=m["paused_at"], paused_seconds=m["paused_seconds"],
        paused_business_seconds=m["paused_business_seconds"], waiting_since=m["waiting_since"],
        nudged_at=m["nudged_at"],
    )


class SqlTransaction(PeopleRows, ChatRows, OutboxRows, AttachmentRows, IncidentRows, RatingRows, ChartRows):
    """Everything one unit of work reads and writes, on one connection inside one transaction
    (the port: bot.ports.Transaction). Audit events and outbox rows are written behind, just
    before the next statement (storage/write_behind.py)."""

    def __init__(self, conn: Connection) -> None:
        self.conn: Any = WriteBehind(conn, _INSERT_EVENT, _INSERT_OUTBOX)

    def get_ticket(self, ticket_id: int, lock: bool = False) -> Ticket | None:
        """See bot.ports.Transaction.get_ticket (ids outside 1…2³¹ are simply not found)."""
        if not 0 < ticket_id < 2**31:
            return None
        query = select(tickets).where(tickets.c.id == ticket_id)
        row = self.conn.execute(query.with_for_update() if lock else query).first()
        return ticket_from(row) if row else None

    def get_tickets(self, ticket_ids: list[int]) -> dict[int, Ticket]:
        """See bot.ports.Transaction.get_tickets."""
        ids = sorted({i for i in ticket_ids if 0 < i < 2**31})
        if not ids:
            return {}
        return {row.id: ticket_from(row) for row in self.conn.execute(_TICKETS_BY_ID, {"ids": ids})}

    def past_resolution(self, key: int):
        """See bot.ports.Transaction.past_resolution."""
        return past_resolution(self.conn, key) if -2**31 < key < 2**31 else None

    def past_resolutions(self, keys: list[int]) -> dict:
        """See bot.ports.Transaction.past_resolutions."""
        return past_resolutions(self.conn, keys)

    def next_due(self, now: datetime) -> Ticket | None:
        """See bot.ports.Transaction.next_due (FOR UPDATE SKIP LOCKED)."""
        query = (select(tickets).where(and_(tickets.c.sla_next_at.is_not(None), tickets.c.sla_next_at <= now))
                 .order_by(tickets.c.sla_next_at).limit(1).with_for_update(skip_locked=True))
        row = self.conn.execute(query).first()
        return ticket_from(row) if row else None

    def insert_ticket(self, ticket: Ticket) -> Ticket:
        """See bot.ports.Transaction.insert_ticket."""
        new_id = self.conn.execute(_INSERT_TICKET, ticket_row(ticket)).scalar_one()
        return ticket.with_changes(id=new_id)

    def update_ticket(self, before: Ticket, after: Ticket) -> bool:
        """See bot.ports.Transaction.update_ticket (UPDATE … WHERE id AND version)."""
        self._incidents_changed()  # its status may open or close an incident
        result = self.conn.execute(_UPDATE_TICKET, {**ticket_row(after), "w_id": before.id, "w_version": before.version})
        return result.rowcount == 1

    def add_note(self, note: Note) -> Note:
        """See bot.ports.Transaction.add_note."""
        new_id = self.conn.execute(_INSERT_NOTE, {
            "ticket_id": note.ticket_id, "author_id": note.author_id, "author_name": note.author_name, "body": note.body,
            "internal": note.internal, "created_at": note.created_at}).scalar_one()
        return Note(note.ticket_id, note.author_id, note.author_name, note.body, note.internal, note.created_at, new_id)

    def notes(self, ticket_id: int, include_internal: bool) -> list[Note]:
        """See bot.ports.Transaction.notes."""
        query = select(notes).where(notes.c.ticket_id == ticket_id).order_by(notes.c.id)
        if not include_internal:
            query = query.where(notes.c.internal.is_(False))
        return [Note(r.ticket_id, r.author_id, r.author_name, r.body, r.internal, r.created_at, r.id)
                for r in self.conn.execute(query)]

    def add_event(self, event: AuditEvent) -> None:
        """See bot.ports.Transaction.add_event."""
        self.conn.add(event={
            "ticket_id": event.ticket_id, "actor_id": event.actor_id, "actor_name": event.actor_name,
            "action": event.action, "at": event.at, "changes": event.changes})

    def events(self, ticket_id: int) -> list[AuditEvent]:
        """See bot.ports.Transaction.events."""
        rows = self.conn.execute(select(audit_events).where(audit_events.c.ticket_id == ticket_id).order_by(audit_events.c.id))
        return [AuditEvent(r.ticket_id, r.actor_id, r.actor_name, r.action, r.at, r.changes, r.id) for r in rows]

    def enqueue(self, notice: Notice, platform: str, now: datetime) -> None:
        """See bot.ports.Transaction.enqueue."""
        self.conn.add(message={
            "created_at": now, "platform": platform, "kind": notice.kind, "audience": notice.audience,
            "ticket_id": notice.ticket_id, "text": notice.text, "data": notice.data, "status": "pending", "attempts": 0,
            "available_at": now})

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """See bot.ports.Transaction.savepoint (SAVEPOINT … RELEASE, or ROLLBACK TO on an exception).
        Rows held from before it are written first, so a rollback to it drops only its own."""
        self.conn.flush()
        try:
            with self.conn.begin_nested():
                yield
                self.conn.flush()  # its rows: one that fails, fails this savepoint alone
        except BaseException:
            self.conn.drop()
            self._incidents_changed()
            raise

    def first_time(self, key: str, now: datetime) -> bool:
        """See bot.ports.Transaction.first_time (INSERT … ON CONFLICT DO NOTHING: one caller wins)."""
        return key in self.first_times([key], now)

    def take_lease(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        """See bot.ports.Transaction.take_lease (one upsert: the row is taken only where it is free,
        run out or the holder's own, and RETURNING says whether it was)."""
        statement = upsert(self.conn.dialect.name, leases).values(name=name, holder=holder,
                                                                  until=now + timedelta(seconds=seconds))
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
            where=or_(leases.c.holder == holder, leases.c.until < now),
        ).returning(leases.c.holder)
        return self.conn.execute(statement).scalar_one_or_none() == holder

    def lease_until(self, name: str) -> tuple[str, datetime] | None:
        """See bot.ports.Transaction.lease_until."""
        row = self.conn.execute(select(leases.c.holder, leases.c.until).where(leases.c.name == name)).first()
        return (row.holder, row.until) if row is not None else None

    def first_times(self, keys: list[str], now: datetime) -> set[str]:
        """See bot.ports.Transaction.first_times (one INSERT of every key, in sorted order, so two
        writers claiming overlapping keys take their locks in the same order)."""
        stored = {key[:255]: key for key in keys}
        if not stored:
            return set()
        inserted = self.conn.execute(_first_time(self.conn.dialect.name),
                                     one_or_many([{"key": k, "created_at": now} for k in sorted(stored)])).scalars()
        return {stored[k] for k in inserted}

    def known_people(self, fragment: str, limit: int = 10) -> list[Person]:
        """Requesters the help desk has seen, by name prefix (of any word), email or phone digits."""
        text = fold(fragment)  # O’Brien finds O'Brien: names compare whatever the apostrophe
        if not text:
            return []
        r = tickets.c
        latest = func.max(r.id).label("latest")
        if looks_like_phone(fragment):
            candidates = select(r.requester_id, latest).where(r.requester_phone.is_not(None))
        else:
            like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            name = func.replace(func.replace(func.lower(r.requester_name), "\u2019", "'"), "\u02bc", "'")
            candidates = select(r.requester_id, latest).where(or_(
                name.like(f"{like}%", escape="\\"),
                name.like(f"% {like}%", escape="\\"),
                func.lower(r.requester_email).like(f"{like}%", escape="\\"),
                func.lower(r.requester_id) == text))
        rows = self.conn.execute(select(tickets).join(
            candidates.group_by(r.requester_id).subquery("c"), tickets.c.id == literal_column("c.latest"))
            .order_by(tickets.c.requester_name).limit(5000 if looks_like_phone(fragment) else limit)).all()
        people = [Person(row.requester_id, row.requester_name, row.requester_email, row.requester_phone,
                         None, row.requester_department, row.requester_office) for row in rows]
        if looks_like_phone(fragment):
            people = [p for p in people if same_phone(p.phone, fragment)]
        return people[:limit]

    def find_tickets(self, query: TicketFilter) -> tuple[list[Ticket], int]:
        """See bot.ports.Transaction.find_tickets."""
        conditions = [tickets.c.status.in_([s.value for s in query.statuses])]
        if query.severity:
            conditions.append(tickets.c.severity == query.severity.value)
        if query.category:
            conditions.append(tickets.c.category == query.category)
        if query.group:
            conditions.append(tickets.c.group_name == query.group)
        if query.requester_ids is not None:
            conditions.append(tickets.c.requester_id.in_(sorted(query.requester_ids)))
        if query.assignee_ids is not None:
            conditions.append(tickets.c.assignee_id.in_(sorted(query.assignee_ids)))
        if not query.linked:
            conditions.append(tickets.c.parent_id.is_(None))
        where = and_(*conditions)
        total = self.conn.execute(select(func.count()).select_from(tickets).where(where)).scalar_one()
        order = ((tickets.c.due_at.is_(None), tickets.c.due_at, _SEVERITY_ORDER.desc()) if query.by_due
                 else (_SEVERITY_ORDER.desc(), tickets.c.created_at))
        rows = self.conn.execute(select(tickets).where(where).order_by(*order, tickets.c.id).limit(query.limit))
        return [ticket_from(r) for r in rows], total


    def report(self, query: ReportQuery, settings: Settings, technician_ids: list[str] | None = None) -> Report:
        """See bot.ports.Transaction.report."""
        return ReportBuilder(self.conn, settings, technician_ids).report(query)

    def claim_job(self, name: str, due: datetime, now: datetime) -> bool:
        """Take the job's slot if it has not run since `due`; exactly one caller wins per slot."""
        self.conn.execute(upsert(self.conn.dialect.name, jobs).values(name=name, last_run_at=due - timedelta(days=3650))
                          .on_conflict_do_nothing())
        won = self.conn.execute(update(jobs).where(and_(jobs.c.name == name, jobs.c.last_run_at < due))
                                .values(last_run_at=now))
        return won.rowcount == 1


class SqlStore:
    """The store: transactions on an engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def concurrent_writers(self) -> int:
        """How many writing units of work are worth running at once: SQLite lets one writer in at a
        time; PostgreSQL overlaps their round trips (4, within the connection pool's 5)."""
        return 1 if self.engine.dialect.name == "sqlite" else 4

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqlTransaction]:
        """See bot.ports.Store.transaction: on PostgreSQL a read-only one is REPEATABLE READ (one snapshot);
        on SQLite a writing one starts with BEGIN IMMEDIATE."""
        with self.engine.connect() as conn:
            conn.execution_options(helpdesk_write=write)
            if not write and conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")  # one snapshot for every read
            with conn.begin():
                tx = SqlTransaction(conn)
                yield tx
                tx.conn.flush()
