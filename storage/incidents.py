"""Major incidents as rows a transaction reads and writes (mixed into
storage.repository.SqlTransaction): tickets linked to a parent or merged into another, the
incidents declared, the proposals of alike tickets, and the one outbox question the incident
card needs (is an update of it still waiting to be delivered?)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, true, update
from sqlalchemy.orm import aliased

from bot.incidents import Incident, IncidentRecord, Proposal
from bot.model import OPEN_STATUSES, Requester, Ticket
from bot.ports import Conflict
from storage.database import upsert
from storage.write_behind import blind
from storage.schema import (incident_proposal_members, incident_proposals, incidents, metadata, outbox, tickets)

OPEN = [s.value for s in OPEN_STATUSES]
# Rows that belong to a ticket's history or to its own posts stay with a merged ticket; every
# other table that names a ticket (notes, and tables added later, such as attachments) follows
# it to the ticket it is merged into.
STAYS_ON_MERGE = frozenset({"tickets", "audit_events", "ticket_posts", "outbox", "incidents", "incident_proposals",
                            "incident_proposal_members"})
CANDIDATES_MAX = 500  # tickets of one window compared for a surge (a busier window compares its newest)


def _ticket(row: Any) -> Ticket:
    from storage.repository import ticket_from  # the repository mixes this class in

    return ticket_from(row)


def _record(row: Any) -> IncidentRecord:
    return IncidentRecord(row.ticket_id, row.title, row.group_name, row.declared_at, row.declared_by_id,
                          row.declared_by_name, row.first_ticket_at, row.proposal_id)


def references_to_tickets() -> list[tuple[str, str]]:
    """(table, column) of every column with a foreign key to tickets.id that follows a merge."""
    found = []
    for table in metadata.sorted_tables:
        if table.name in STAYS_ON_MERGE:
            continue
        for column in table.columns:
            if any(fk.column.table.name == "tickets" and fk.column.name == "id" for fk in column.foreign_keys):
                found.append((table.name, column.name))
    return found


# driven from the (few) incidents, each parent looked up by its key: joining from tickets' status made
# SQLite walk every open ticket of the history, at each ticket opened; built once (every intake reads it)
_OPEN_RECORDS = blind(select(incidents).where(select(tickets.c.id).where(and_(
    tickets.c.id == incidents.c.ticket_id, tickets.c.status.in_(OPEN))).exists()).order_by(incidents.c.declared_at))


class IncidentRows:
    conn: Connection
    # the open incidents as this transaction last read them: every ticket opened in a batch looks
    # for one to join, and they change only through this transaction's own writes (forgotten then:
    # `_incidents_changed`) or another's commit, which a batch of a second or so may miss
    _open_memo: list[IncidentRecord] | None = None

    def _incidents_changed(self) -> None:
        """Forget the open incidents read: an incident or a ticket changed, or a savepoint was undone."""
        self._open_memo = None

    # Linked and merged tickets

    def linked_tickets(self, parent_id: int, open_only: bool = False, limit: int | None = None) -> list[Ticket]:
        """See bot.ports.Transaction.linked_tickets."""
        query = select(tickets).where(tickets.c.parent_id == parent_id)
        if open_only:
            query = query.where(tickets.c.status.in_(OPEN))
        query = query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [_ticket(r) for r in self.conn.execute(query)]

    def merged_tickets(self, ticket_id: int) -> list[Ticket]:
        """See bot.ports.Transaction.merged_tickets."""
        rows = self.conn.execute(select(tickets).where(tickets.c.merged_into_id == ticket_id).order_by(tickets.c.id))
        return [_ticket(r) for r in rows]

    def merged_requesters(self, ticket_id: int) -> list[Requester]:
        """See bot.ports.Transaction.merged_requesters."""
        rows = self.conn.execute(select(tickets.c.requester_id, tickets.c.requester_name, tickets.c.requester_email)
                                 .where(tickets.c.merged_into_id == ticket_id).order_by(tickets.c.id))
        return [Requester(r.requester_id, r.requester_name, r.requester_email) for r in rows]

    def move_references(self, source: int, target: int) -> dict[str, int]:
        """See bot.ports.Transaction.move_references."""
        moved = {}
        self._incidents_changed()
        for name, column in references_to_tickets():
            table = metadata.tables[name]
            count = self.conn.execute(update(table).where(table.c[column] == source).values({column: target})).rowcount
            if count:
                moved[name] = count
        return moved

    # Incidents

    def add_incident(self, record: IncidentRecord) -> None:
        """See bot.ports.Transaction.add_incident."""
        self._incidents_changed()
        self.conn.execute(incidents.insert().values(
            ticket_id=record.ticket_id, title=record.title, group_name=record.group, declared_at=record.declared_at,
            declared_by_id=record.declared_by_id, declared_by_name=record.declared_by_name,
            first_ticket_at=record.first_ticket_at, proposal_id=record.proposal_id))

    def incident_record(self, ticket_id: int) -> IncidentRecord | None:
        """See bot.ports.Transaction.incident_record."""
        row = self.conn.execute(select(incidents).where(incidents.c.ticket_id == ticket_id)).first()
        return _record(row) if row else None

    def update_incident(self, ticket_id: int, **values: Any) -> None:
        """See bot.ports.Transaction.update_incident."""
        columns = {"group": "group_name"}
        self._incidents_changed()
        self.conn.execute(update(incidents).where(incidents.c.ticket_id == ticket_id)
                          .values({columns.get(k, k): v for k, v in values.items()}))

    def incident(self, ticket_id: int) -> Incident | None:
        """See bot.ports.Transaction.incident."""
        record = self.incident_record(ticket_id)
        parent = self.conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first() if record else None
        if parent is None:
            return None
        rows = self.conn.execute(select(tickets).where(or_(tickets.c.parent_id == ticket_id,
                                                           tickets.c.merged_into_id == ticket_id))
                                 .order_by(tickets.c.created_at.desc(), tickets.c.id.desc()))
        return Incident(record, _ticket(parent), tuple(_ticket(r) for r in rows))

    def _open_records(self) -> list[IncidentRecord]:
        if self._open_memo is None:
            self._open_memo = [_record(r) for r in self.conn.execute(_OPEN_RECORDS).all()]
        return list(self._open_memo)

    def open_incidents(self) -> list[tuple[IncidentRecord, Ticket, int, int]]:
        """See bot.ports.Transaction.open_incidents."""
        found = []
        for record in self._open_records():
            part = or_(tickets.c.id == record.ticket_id, tickets.c.parent_id == record.ticket_id,
                       tickets.c.merged_into_id == record.ticket_id)
            count, people = self.conn.execute(select(func.count(), func.count(func.distinct(tickets.c.requester_id)))
                                              .where(part)).one()
            parent = self.conn.execute(select(tickets).where(tickets.c.id == record.ticket_id)).first()
            found.append((record, _ticket(parent), count, people))
        return found

    def incident_samples(self, size: int) -> list[tuple[IncidentRecord, list[int]]]:
        """See bot.ports.Transaction.incident_samples (two statements, whatever the number open)."""
        records = self._open_records()
        if not records:
            return []
        ids = [r.ticket_id for r in records]
        rank = func.row_number().over(partition_by=tickets.c.parent_id,
                                      order_by=(tickets.c.created_at.desc(), tickets.c.id.desc())).label("rank")
        ranked = select(tickets.c.id, tickets.c.parent_id, rank).where(tickets.c.parent_id.in_(ids)).subquery()
        recent: dict[int, list[int]] = {}
        for row in self.conn.execute(select(ranked.c.id, ranked.c.parent_id).where(ranked.c.rank < size)
                                     .order_by(ranked.c.parent_id, ranked.c.rank)):
            recent.setdefault(row.parent_id, []).append(row.id)
        return [(r, [r.ticket_id, *recent.get(r.ticket_id, [])]) for r in records]

    def problems_of(self, ids: list[int]) -> list[tuple[int, str]]:
        """See bot.ports.Transaction.problems_of."""
        if not ids:
            return []
        rows = self.conn.execute(select(tickets.c.id, tickets.c.description).where(tickets.c.id.in_(sorted(set(ids)))))
        return [(r.id, r.description) for r in rows]

    # Proposals

    def recent_problems(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        """See bot.ports.Transaction.recent_problems."""
        rows = self.conn.execute(select(tickets.c.id, tickets.c.description).where(tickets.c.id > after_id)
                                 .order_by(tickets.c.id.desc()).limit(limit)).all()
        return [(r.id, r.description) for r in reversed(rows)]

    def surge_candidates(self, since: datetime, upto: int | None = None) -> list[Ticket]:
        """See bot.ports.Transaction.surge_candidates."""
        child = aliased(tickets)
        query = (select(tickets).where(and_(
            tickets.c.status.in_(OPEN), tickets.c.created_at >= since, tickets.c.parent_id.is_(None),
            true() if upto is None else tickets.c.id <= upto,
            tickets.c.merged_into_id.is_(None),
            ~exists().where(incidents.c.ticket_id == tickets.c.id),
            ~exists().where(incident_proposal_members.c.ticket_id == tickets.c.id),
            ~exists().where(child.c.parent_id == tickets.c.id)))
            .order_by(tickets.c.id.desc()).limit(CANDIDATES_MAX))
        return sorted((_ticket(r) for r in self.conn.execute(query)), key=lambda t: t.id)

    def add_proposal(self, ticket_id: int, group: str, headline: str, members: list[int], now: datetime) -> int:
        """See bot.ports.Transaction.add_proposal (raises Conflict when another transaction took a member)."""
        proposal_id = self.conn.execute(incident_proposals.insert().values(
            ticket_id=ticket_id, group_name=group, headline=headline, state="open", created_at=now)
            .returning(incident_proposals.c.id)).scalar_one()
        if len(self.add_proposal_members(proposal_id, members, now)) != len(set(members)):
            raise Conflict(f"a ticket of proposal {proposal_id} was proposed at the same moment")
        return proposal_id

    def add_proposal_members(self, proposal_id: int, members: list[int], now: datetime) -> list[int]:
        """See bot.ports.Transaction.add_proposal_members."""
        added = []
        insert = upsert(self.conn.dialect.name, incident_proposal_members)
        for ticket_id in dict.fromkeys(members):
            row = self.conn.execute(insert.values(ticket_id=ticket_id, proposal_id=proposal_id, added_at=now)
                                    .on_conflict_do_nothing().returning(incident_proposal_members.c.ticket_id)).first()
            if row is not None:
                added.append(ticket_id)
        return added

    def _proposal(self, row: Any) -> Proposal:
        members = self.conn.execute(select(incident_proposal_members.c.ticket_id)
                                    .where(incident_proposal_members.c.proposal_id == row.id)
                                    .order_by(incident_proposal_members.c.ticket_id)).scalars().all()
        return Proposal(row.id, row.ticket_id, row.group_name, row.headline, row.state, row.created_at, tuple(members),
                        row.decided_at, row.decided_by_name)

    def proposal(self, proposal_id: int) -> Proposal | None:
        """See bot.ports.Transaction.proposal."""
        row = self.conn.execute(select(incident_proposals).where(incident_proposals.c.id == proposal_id)).first()
        return self._proposal(row) if row else None

    def proposal_of(self, ticket_id: int) -> Proposal | None:
        """See bot.ports.Transaction.proposal_of."""
        row = self.conn.execute(select(incident_proposals).join(
            incident_proposal_members, incident_proposal_members.c.proposal_id == incident_proposals.c.id)
            .where(incident_proposal_members.c.ticket_id == ticket_id)).first()
        return self._proposal(row) if row else None

    def open_proposals(self, since: datetime) -> list[Proposal]:
        """See bot.ports.Transaction.open_proposals."""
        rows = self.conn.execute(select(incident_proposals).where(and_(
            incident_proposals.c.state == "open", incident_proposals.c.created_at >= since))
            .order_by(incident_proposals.c.id)).all()
        return [self._proposal(r) for r in rows]

    def decide_proposal(self, proposal_id: int, state: str, who: str, now: datetime) -> bool:
        """See bot.ports.Transaction.decide_proposal."""
        done = self.conn.execute(update(incident_proposals).where(and_(
            incident_proposals.c.id == proposal_id, incident_proposals.c.state == "open"))
            .values(state=state, decided_at=now, decided_by_name=who))
        return done.rowcount == 1

    # The incident card's updates

    def notice_waiting(self, platform: str, kind: str, ticket_id: int, now: datetime) -> bool:
        """See bot.ports.Transaction.notice_waiting (the row found is locked until commit, so no
        sender takes it before this transaction's change is there to be shown)."""
        query = select(outbox.c.id).where(and_(
            outbox.c.platform == platform, outbox.c.kind == kind, outbox.c.ticket_id == ticket_id,
            outbox.c.status == "pending", or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)))
        return self.conn.execute(query.limit(1).with_for_update()).first() is not None
