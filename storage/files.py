"""The attachment store: the bytes of files shared on tickets, in a local directory.

Content-addressed: a file is kept under its SHA-256 (`<root>/ab/abcdef…`), so bytes shared
twice, on one ticket or on several, are kept once, and a write is atomic (a temporary file
renamed into place), so a crash never leaves half a file under a real name. The database
records what was shared (storage/attachments.py); this module only keeps bytes. Every call
blocks on the disk: run it off the event loop.

`[attachments]` in the configuration: `directory` (relative paths are taken from the working
directory; by default `attachments/` next to the SQLite file, or in the working directory for
PostgreSQL), `max_mb`, the largest file kept, and `types`, the MIME types accepted (`image/*`
matches every image type).
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import make_url

from storage.database import in_memory

DEFAULT_TYPES = (
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/bmp",
    "text/plain", "text/csv", "application/pdf", "application/json", "application/zip", "message/rfc822",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class FileSettings(BaseModel):
    """`[attachments]`: where the bytes are kept, the largest file kept (MB, 1 MB = 1,048,576
    bytes) and the MIME types accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str | None = None
    max_mb: float = Field(default=20, gt=0, le=1024)
    types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES), min_length=1)

    @field_validator("types")
    @classmethod
    def _types(cls, types: list[str]) -> list[str]:
        for t in types:
            if not re.fullmatch(r"[a-z0-9.+-]+/([a-z0-9.+-]+|\*)", t.lower()):
                raise ValueError(f"{t!r} is not a MIME type like image/png or image/*")
        return [t.lower() for t in types]

    @property
    def max_bytes(self) -> int:
        """The largest file kept, in bytes."""
        return int(self.max_mb * 1024 * 1024)

    def accepts(self, content_type: str) -> bool:
        """Whether files of this MIME type are kept (`image/*` in the list accepts every image)."""
        kind = content_type.lower().split(";")[0].strip()
        return any(kind == t or (t.endswith("/*") and kind.startswith(t[:-1])) for t in self.types)

    def root(self, database_url: str) -> Path:
        """The directory the bytes go to: the configured one (relative to the working
        directory), else `attachments` next to the SQLite file, else in the working directory."""
        if self.directory:
            return Path(self.directory)
        try:
            url = make_url(database_url)
        except Exception:  # a URL SQLAlchemy cannot read fails at start-up elsewhere, with its own message
            return Path("attachments")
        if url.get_backend_name() == "sqlite" and not in_memory(url):
            return Path(url.database).parent / "attachments"
        return Path("attachments")


class FileStore:
    """Bytes by their SHA-256 under `root` (created when first written to)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the bytes with this hash are (or would be). Raises ValueError for anything but
        64 lowercase hex digits, so no name can lead outside the store."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"{sha256[:80]!r} is not a SHA-256")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, bool]:
        """Keep `data`; returns (its SHA-256, whether it was new to the store). Raises OSError
        when the disk refuses (full, read-only, no permission)."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256, False
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256, True

    def read(self, sha256: str) -> bytes:
        """The bytes kept under this hash. Raises FileNotFoundError when there are none."""
        return self.path(sha256).read_bytes()

    def has(self, sha256: str) -> bool:
        """Whether bytes with this hash are kept."""
        return self.path(sha256).exists()
