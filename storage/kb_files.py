"""The knowledge index on disk: where it lives, and the separate process that checks or
builds it, so that a server starting on a large history does no CPU-bound loading itself.

Layout of the index directory (`[knowledge] index_dir`, by default next to the SQLite
file, `helpdesk.db.kb/`, or `.helpdesk-cache/knowledge/` under the working directory):

    db-<hash>/             one per database (so databases sharing a cache directory never evict
                           each other's index), holding:
      CURRENT              the name of the generation in use (replaced atomically)
      gen-<time>-<pid>/    one sealed index: <array>.npy files and meta.json (bot.knowledge.write_base)
      .lock                held while a builder checks or writes, so replicas sharing it build once

The builder (`python -m storage.kb_files`, spec as JSON on stdin, result as JSON on stdout)
reuses the current generation only when every file's digest matches its meta.json, the
format, text analysis, entry rules and database are the same, the database has not gone
back in time, and at most DELTA_LIMIT rows changed since it was written (the server catches
up with those through the change feed); otherwise it builds a new generation at low
priority and keeps the previous one, so a server still mapping it is unaffected.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from storage.child import python_module
from storage.database import in_memory

DELTA_LIMIT = 2_000  # changed rows since the index was written that the server may catch up with itself
KEEP = 2  # generations kept: the current one and the one before it
CACHE_DIR = Path(".helpdesk-cache") / "knowledge"


def index_dir(settings, database_url: str) -> Path | None:
    """Where the index files live: the configured `index_dir` (relative to the working
    directory), else next to a SQLite file, else the cache directory; None for an
    in-memory SQLite database (nothing to keep)."""
    configured = settings.knowledge.index_dir
    if configured:
        return Path(configured)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return None if in_memory(url) else Path(url.database + ".kb")
    return CACHE_DIR


def database_identity(engine: Engine) -> dict[str, Any]:
    """What the builder needs to open the same database, and what the index records of it."""
    url = engine.url
    search_path = None
    if url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            search_path = conn.execute(text("SELECT current_setting('search_path')")).scalar()
    return {"url": url.render_as_string(hide_password=False), "search_path": search_path,
            "name": f"{url.get_backend_name()}:{url.host or ''}:{url.port or ''}/{url.database or ''}"
                    f"?search_path={search_path or ''}"}


class DiskIndex:
    """The server's side: `ensure()` runs the builder process and waits for it (no CPU here)."""

    def __init__(self, engine: Engine, rules, directory: Path) -> None:
        self.engine = engine
        self.rules = rules
        self.directory = Path(directory)
        self._process: subprocess.Popen | None = None
        self._cancelled = threading.Event()

    def ensure(self, rebuild: bool = False) -> Path:
        """Block until a verified, current generation exists; its directory. Raises RuntimeError when the
        builder fails (its last words are in the message) or the index was cancelled."""
        database = database_identity(self.engine)
        folder = self.directory / f"db-{hashlib.blake2b(database['name'].encode(), digest_size=6).hexdigest()}"
        spec = {"database": database, "directory": str(folder.resolve()),
                "rules": {"public_categories": sorted(self.rules.public_categories),
                          "not_fixes": sorted(self.rules.not_fixes), "min_chars": self.rules.min_chars},
                "rebuild": rebuild}
        if self._cancelled.is_set():
            raise RuntimeError("the knowledge index was cancelled")
        command, env = python_module("storage.kb_files")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        out, err = self._process.communicate(json.dumps(spec))
        code, self._process = self._process.returncode, None
        if code != 0 or self._cancelled.is_set():
            last = (err or "").strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"the knowledge index builder exited with {code}: {last[0]}")
        return Path(json.loads(out)["path"])

    def cancel(self) -> None:
        """Stop waiting for the builder (the server is stopping)."""
        self._cancelled.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()


# The builder process


def open_database(database: dict[str, Any]) -> Engine:
    """An engine on the database `database_identity` described (the server's own, its PostgreSQL
    schema included): how each process the server starts opens it."""
    from storage.database import make_engine

    kwargs = {}
    if database.get("search_path"):
        kwargs["connect_args"] = {"options": f"-csearch_path={database['search_path']}"}
    return make_engine(database["url"], **kwargs)


def _later(a: dict | None, b: dict | None) -> bool:
    """Is any part of cursor `a` later than the same part of `b` (ISO times and ids compare in order)?"""
    a, b = a or {}, b or {}
    return any(a.get(k) and (not b.get(k) or a[k] > b[k]) for k in a)


def _usable(path: Path, spec: dict, source, rules_signature: str) -> str | None:
    """Why the generation at `path` cannot be used as it is, or None when it can."""
    from bot.knowledge import IndexFileError, MappedBase

    try:
        base = MappedBase(path)
        base.verify()
    except IndexFileError as exc:
        return str(exc)
    if base.meta.get("rules") != rules_signature:
        return "the entry rules changed"
    if base.meta.get("database") != spec["database"]["name"]:
        return "it was built from another database"
    newest = source.newest_change()
    if _later(base.cursor, newest):
        return "the database is older than the index"
    changed = source.count_changes_since(base.cursor)
    if changed > DELTA_LIMIT:
        return f"{changed} rows changed since it was written"
    return None


def build(spec: dict) -> dict[str, Any]:
    """Check or build the index the spec describes; returns {"path", "built", "reason", "seconds"}."""
    from bot.knowledge import EntryRules, KnowledgeIndex, write_base
    from storage.knowledge import TicketKnowledge

    started = time.monotonic()
    directory = Path(spec["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    rules = EntryRules(frozenset(spec["rules"]["public_categories"]), frozenset(spec["rules"]["not_fixes"]),
                       int(spec["rules"]["min_chars"]))
    engine = open_database(spec["database"])
    source = TicketKnowledge(engine, rules)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another replica's builder goes first; then its index is reused
        current = directory / (directory / "CURRENT").read_text().strip() if (directory / "CURRENT").exists() else None
        reason = "no index yet" if current is None else None
        if current is not None and not spec.get("rebuild"):
            reason = _usable(current, spec, source, rules.signature())
            if reason is None:
                engine.dispose()
                return {"path": str(current), "built": False, "reason": "current", "seconds": time.monotonic() - started}
        elif spec.get("rebuild"):
            reason = "asked to rebuild"
        cursor = source.newest_change()
        index = KnowledgeIndex()
        index.bulk_load(source.all_entries())
        engine.dispose()
        name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        partial = directory / f".{name}.partial"
        write_base(index, partial, cursor, {"rules": rules.signature(), "database": spec["database"]["name"]})
        del index
        partial.rename(directory / name)
        pointer = directory / f".CURRENT.{os.getpid()}"
        pointer.write_text(name + "\n")
        with open(pointer) as handle:
            os.fsync(handle.fileno())
        pointer.replace(directory / "CURRENT")
        generations = sorted((p for p in directory.iterdir() if p.name.startswith("gen-")), key=lambda p: p.stat().st_mtime)
        for old in generations[:-KEEP]:
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)  # a process still mapping it keeps its pages
        for stale in directory.glob(".gen-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)  # a builder that died half way
        return {"path": str(directory / name), "built": True, "reason": reason, "seconds": time.monotonic() - started}


def main() -> int:
    """`python -m storage.kb_files`: build or verify the index on disk at low priority; 0 done, 1 failed."""
    try:
        os.nice(10)  # the server's requests come first
    except OSError:
        pass
    result = build(json.loads(sys.stdin.read()))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
