"""Report charts kept for a while under an unguessable token, so a chat platform that shows
images only from a URL (Teams) can fetch them from the help desk's own server: rows a
transaction reads and writes (mixed into storage.repository.SqlTransaction)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from storage.schema import report_charts


class ChartRows:
    conn: Connection

    def keep_chart(self, token: str, png: bytes, now: datetime, expires_at: datetime) -> None:
        """See bot.ports.Transaction.keep_chart (charts past their time are removed at the same moment)."""
        self.conn.execute(delete(report_charts).where(report_charts.c.expires_at <= now))
        self.conn.execute(insert(report_charts).values(token=token, png=png, created_at=now, expires_at=expires_at))

    def chart(self, token: str, now: datetime) -> bytes | None:
        """See bot.ports.Transaction.chart."""
        return self.conn.execute(select(report_charts.c.png).where(
            report_charts.c.token == token, report_charts.c.expires_at > now)).scalar()
