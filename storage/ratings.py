"""Satisfaction ratings: rows a transaction reads and writes (mixed into
storage.repository.SqlTransaction), and their figures for a report period, per technician,
group, category or severity as they were when the ticket was resolved."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, delete, func, select, update

from bot.reports import ReportQuery, Satisfaction
from bot.satisfaction import GOOD, Rating
from storage.database import upsert
from storage.schema import ratings

R = ratings.c
SNAPSHOT = {"technician": R.assignee_id, "group": R.group_name, "category": R.category, "severity": R.severity}


def _rating(row: Any) -> Rating:
    return Rating(row.ticket_id, row.resolved_at, row.requester_id, row.assignee_id, row.assignee_name, row.group_name,
                  row.category, row.severity, row.score, row.comment, row.rated_at, row.changed_at, row.id)


class RatingRows:
    conn: Connection

    def ask_rating(self, rating: Rating) -> None:
        """See bot.ports.Transaction.ask_rating (asking twice for one resolution keeps the first)."""
        self.conn.execute(upsert(self.conn.dialect.name, ratings).values(
            ticket_id=rating.ticket_id, resolved_at=rating.resolved_at, requester_id=rating.requester_id,
            assignee_id=rating.assignee_id, assignee_name=rating.assignee_name, group_name=rating.group,
            category=rating.category, severity=rating.severity).on_conflict_do_nothing())

    def rating_of(self, ticket_id: int, resolved_at: datetime, lock: bool = False) -> Rating | None:
        """See bot.ports.Transaction.rating_of."""
        query = select(ratings).where(R.ticket_id == ticket_id, R.resolved_at == resolved_at)
        row = self.conn.execute(query.with_for_update() if lock else query).first()
        return _rating(row) if row else None

    def withdraw_rating(self, ticket_id: int, resolved_at: datetime) -> None:
        """See bot.ports.Transaction.withdraw_rating (a rating already given stays)."""
        self.conn.execute(delete(ratings).where(R.ticket_id == ticket_id, R.resolved_at == resolved_at,
                                                R.score.is_(None)))

    def save_rating(self, rating: Rating) -> None:
        """See bot.ports.Transaction.save_rating."""
        self.conn.execute(update(ratings).where(R.ticket_id == rating.ticket_id, R.resolved_at == rating.resolved_at)
                          .values(score=rating.score, comment=rating.comment, rated_at=rating.rated_at,
                                  changed_at=rating.changed_at))


def satisfaction(conn: Connection, q: ReportQuery, technician_ids: list[str], by: str | None = None
                 ) -> dict[Any, tuple[Satisfaction, str | None]]:
    """The ratings of resolutions made in the period, as Satisfaction per value of `by`
    ("technician", "group", "category", "severity"; None: all of them under the key None), each
    with a name seen for that value (the technician's name as it was stored). The query's filters
    apply to the values as they were at the resolution."""
    where = [R.resolved_at >= q.since, R.resolved_at < q.until]
    for column, value in ((R.category, q.category), (R.severity, q.severity), (R.group_name, q.group)):
        if value:
            where.append(column == value)
    if q.technician:
        where.append(R.assignee_id.in_(technician_ids or [q.technician]))
    keys = [SNAPSHOT[by]] if by else []
    rows = conn.execute(select(
        *keys, func.count(), func.count(R.score), func.coalesce(func.sum(R.score), 0),
        func.coalesce(func.sum(case((R.score >= GOOD, 1), else_=0)), 0), func.max(R.assignee_name),
    ).where(*where).group_by(*keys))
    return {(row[0] if by else None): (Satisfaction(*(int(v) for v in row[-5:-1])), row[-1]) for row in rows}
