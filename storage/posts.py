"""Where each ticket's card and DMs were posted on a platform, to edit them and to
recognise replies in their threads."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, select

from storage.database import reading, upsert
from storage.schema import ticket_posts


class Posts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, ticket_id: int, platform: str, kind: str, channel: str, message_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(upsert(self.engine.dialect.name, ticket_posts).values(
                ticket_id=ticket_id, platform=platform, kind=kind, channel=channel, message_id=message_id,
                created_at=now).on_conflict_do_nothing())

    def ticket_for(self, platform: str, channel: str, message_id: str) -> int | None:
        with reading(self.engine) as conn:
            return conn.execute(select(ticket_posts.c.ticket_id).where(and_(
                ticket_posts.c.platform == platform, ticket_posts.c.channel == channel,
                ticket_posts.c.message_id == message_id))).scalar()

    def of(self, ticket_id: int, platform: str, kind: str = "card") -> list[tuple[str, str]]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(ticket_posts.c.channel, ticket_posts.c.message_id).where(and_(
                ticket_posts.c.ticket_id == ticket_id, ticket_posts.c.platform == platform,
                ticket_posts.c.kind == kind)).order_by(ticket_posts.c.id))
            return [(r.channel, r.message_id) for r in rows]
