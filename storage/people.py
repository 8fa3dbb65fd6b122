"""People and their identities, and the results of deduplicated requests: rows a transaction reads
and writes (mixed into storage.repository.SqlTransaction)."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from storage.database import one_or_many, upsert
from storage.write_behind import blind
from storage.schema import identities, people, seen_requests

# Built once: a new person is linked in every intake of a surge, and building a statement costs
# more Python than running it (SQLAlchemy's construction and cache-key walk)
_PEOPLE_OF = blind(select(identities.c.identity, identities.c.person_id).where(
    identities.c.identity.in_(bindparam("ids", expanding=True))))
_IDENTITIES_OF = blind(select(identities.c.identity).where(identities.c.person_id == bindparam("person")))
_ADD_PERSON = blind(insert(people).returning(people.c.id))
_SEEN_RESULTS = blind(select(seen_requests.c.key, seen_requests.c.ticket_id).where(
    seen_requests.c.key.in_(bindparam("keys", expanding=True)), seen_requests.c.ticket_id.is_not(None)))
_REMEMBER_RESULT = blind(update(seen_requests).where(seen_requests.c.key == bindparam("w_key")).values(
    ticket_id=bindparam("ticket_id")))


@lru_cache(maxsize=None)
def _link(dialect: str):
    """INSERT … ON CONFLICT (identity) DO UPDATE SET person_id: an identity moves to the person given."""
    statement = upsert(dialect, identities)
    return blind(statement.on_conflict_do_update(index_elements=["identity"],
                                                 set_={"person_id": statement.excluded.person_id}))


class PeopleRows:
    conn: Connection

    def people_of(self, ids: list[str]) -> dict[str, int]:
        """See bot.ports.Transaction.people_of."""
        if not ids:
            return {}
        return {r.identity: r.person_id for r in self.conn.execute(_PEOPLE_OF, {"ids": list(ids)})}

    def identities_of(self, person_id: int) -> set[str]:
        """See bot.ports.Transaction.identities_of."""
        return set(self.conn.execute(_IDENTITIES_OF, {"person": person_id}).scalars())

    def add_person(self, name: str, now: datetime) -> int:
        """See bot.ports.Transaction.add_person."""
        return self.conn.execute(_ADD_PERSON, {"name": name[:255] or "?", "created_at": now}).scalar_one()

    def link_identities(self, person_id: int, ids: list[str], now: datetime) -> None:
        """See bot.ports.Transaction.link_identities."""
        if ids:
            self.conn.execute(_link(self.conn.dialect.name),
                              one_or_many([{"identity": i[:255], "person_id": person_id, "created_at": now} for i in ids]))

    def merge_people(self, into: int, others: list[int]) -> None:
        """See bot.ports.Transaction.merge_people."""
        self.conn.execute(update(identities).where(identities.c.person_id.in_(others)).values(person_id=into))
        self.conn.execute(delete(people).where(people.c.id.in_(others)))

    def remember_result(self, key: str, ticket_id: int) -> None:
        """See bot.ports.Transaction.remember_result."""
        self.remember_results([(key, ticket_id)])

    def remember_results(self, results: list[tuple[str, int]]) -> None:
        """See bot.ports.Transaction.remember_results."""
        if results:
            self.conn.execute(_REMEMBER_RESULT, one_or_many([{"w_key": k[:255], "ticket_id": t} for k, t in results]))

    def forget_requests(self, keys: list[str]) -> None:
        """See bot.ports.Transaction.forget_requests."""
        if keys:
            self.conn.execute(delete(seen_requests).where(seen_requests.c.key.in_(sorted({k[:255] for k in keys}))))

    def seen_result(self, key: str) -> int | None:
        """See bot.ports.Transaction.seen_result."""
        return self.seen_results([key]).get(key)

    def seen_results(self, keys: list[str]) -> dict[str, int]:
        """See bot.ports.Transaction.seen_results."""
        stored = {key[:255]: key for key in keys}  # kept as `first_time` stores them
        if not stored:
            return {}
        return {stored[r.key]: r.ticket_id for r in self.conn.execute(_SEEN_RESULTS, {"keys": sorted(stored)})}
