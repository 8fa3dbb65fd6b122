"""People and their identities, and the results of deduplicated requests: rows a transaction reads
and writes (mixed into storage.repository.SqlTransaction)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from storage.database import upsert
from storage.schema import identities, people, seen_requests


class PeopleRows:
    conn: Connection

    def people_of(self, ids: list[str]) -> dict[str, int]:
        """See bot.ports.Transaction.people_of."""
        if not ids:
            return {}
        rows = self.conn.execute(select(identities.c.identity, identities.c.person_id)
                                 .where(identities.c.identity.in_(ids)))
        return {r.identity: r.person_id for r in rows}

    def identities_of(self, person_id: int) -> set[str]:
        """See bot.ports.Transaction.identities_of."""
        return set(self.conn.execute(select(identities.c.identity).where(identities.c.person_id == person_id)).scalars())

    def add_person(self, name: str, now: datetime) -> int:
        """See bot.ports.Transaction.add_person."""
        return self.conn.execute(insert(people).returning(people.c.id), {"name": name[:255] or "?", "created_at": now}).scalar_one()

    def link_identities(self, person_id: int, ids: list[str], now: datetime) -> None:
        """See bot.ports.Transaction.link_identities."""
        for identity in ids:
            self.conn.execute(upsert(self.conn.dialect.name, identities)
                              .values(identity=identity[:255], person_id=person_id, created_at=now)
                              .on_conflict_do_update(index_elements=["identity"], set_={"person_id": person_id}))

    def merge_people(self, into: int, others: list[int]) -> None:
        """See bot.ports.Transaction.merge_people."""
        self.conn.execute(update(identities).where(identities.c.person_id.in_(others)).values(person_id=into))
        self.conn.execute(delete(people).where(people.c.id.in_(others)))

    def remember_result(self, key: str, ticket_id: int) -> None:
        """See bot.ports.Transaction.remember_result."""
        self.conn.execute(update(seen_requests).where(seen_requests.c.key == key[:255]).values(ticket_id=ticket_id))

    def seen_result(self, key: str) -> int | None:
        """See bot.ports.Transaction.seen_result."""
        return self.conn.execute(select(seen_requests.c.ticket_id).where(seen_requests.c.key == key[:255])).scalar()
