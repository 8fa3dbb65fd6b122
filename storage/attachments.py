"""The files recorded on tickets, as rows a transaction reads and writes (mixed into
storage.repository.SqlTransaction). The bytes live in the attachment store (storage/files.py);
a row names them by their SHA-256."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from bot.model import Attachment, Upload
from storage.database import upsert
from storage.schema import attachments

_ATTACHMENTS_OF = select(attachments).where(attachments.c.ticket_id.in_(bindparam("ids", expanding=True))).order_by(
    attachments.c.id)


def _attachment(r: Any) -> Attachment:
    file = Upload(r.name, r.content_type, r.size, r.sha256, r.link, r.reason, r.origin)
    return Attachment(r.ticket_id, file, r.author_id, r.author_name, r.created_at, r.id)


class AttachmentRows:
    conn: Connection

    def add_attachment(self, attachment: Attachment) -> tuple[Attachment, bool]:
        """See bot.ports.Transaction.add_attachment (INSERT … ON CONFLICT DO NOTHING on the
        ticket and the bytes' hash: of two concurrent shares of one file, one row stays)."""
        f = attachment.file
        row = {"ticket_id": attachment.ticket_id, "name": f.name[:255], "content_type": f.content_type[:127],
               "size": f.size, "sha256": f.sha256, "reason": f.reason, "link": f.link, "origin": f.origin[:16],
               "author_id": attachment.author_id[:255], "author_name": attachment.author_name[:255],
               "created_at": attachment.created_at}
        new_id = self.conn.execute(upsert(self.conn.dialect.name, attachments).values(**row)
                                   .on_conflict_do_nothing().returning(attachments.c.id)).scalar()
        if new_id is not None:
            return Attachment(attachment.ticket_id, attachment.file, attachment.author_id, attachment.author_name,
                              attachment.created_at, new_id), True
        earlier = self.conn.execute(select(attachments).where(and_(
            attachments.c.ticket_id == attachment.ticket_id, attachments.c.sha256 == f.sha256))).first()
        return _attachment(earlier), False

    def attachments(self, ticket_id: int) -> list[Attachment]:
        """See bot.ports.Transaction.attachments."""
        return self.attachments_of([ticket_id]).get(ticket_id, [])

    def attachments_of(self, ticket_ids: list[int]) -> dict[int, list[Attachment]]:
        """See bot.ports.Transaction.attachments_of."""
        found: dict[int, list[Attachment]] = {}
        ids = sorted(set(ticket_ids))
        if ids:
            for row in self.conn.execute(_ATTACHMENTS_OF, {"ids": ids}):
                found.setdefault(row.ticket_id, []).append(_attachment(row))
        return found
