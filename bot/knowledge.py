"""The knowledge base: every resolved ticket is an entry; a new problem is matched
against them in two stages.

1. BM25 over the problem text (the headline weighted above the rest, identifiers
   like `OutlookSyncError` split into words, light stemming) finds ~200 candidates
   from an inverted index held in memory as numpy arrays;
2. rapidfuzz's `token_set_ratio` on the headlines re-ranks them, blended with the
   BM25 score normalised by the query's best possible score, so the result is an
   absolute confidence a floor can apply to, not just an order.

The index lives in each process (numpy CSR segments plus a small pending area) and is
kept current from the database by the caller; removals are tombstones. Measured on
real duplicate-labelled tickets: see `helpdesk kb eval`.
"""
from __future__ import annotations

import math
import re
import threading
from array import array
from collections import Counter
from dataclasses import dataclass
import time
from datetime import datetime
from typing import Iterable, Protocol

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from bot import messages as M
from bot.text import one_line

K1 = 1.2
B = 0.75
HEADLINE_WEIGHT = 3.0  # a term in the headline counts this many times one in the body
QUERY_HEADLINE_WEIGHT = 2
BODY_CHARS = 1000  # long pasted logs add noise, not signal
FUZZ_WEIGHT = 0.4
CANDIDATES = 200
MAX_QUERY_TERMS = 40
SEAL_AT = 50_000  # pending entries before a bulk load seals them into a segment
SEAL_AT_LIVE = 1_000  # …and in a running process, where the pending area is searched entry by entry
SMALL_SEGMENTS = 8  # more small segments than this are merged into one
SMALL_POSTINGS = 200_000  # a segment with fewer postings is small (a live seal holds ~40,000)

STOP = frozenset("""a an the and or of to in on for is are was were be been it this that with as at by from not no can
cannot when if but into than then there these those which while we i you they he she should would could will may
might must do does did have has had so such also its it's our your their via using use used after before all any
some more most other only same very just over under up down out about my me please hi hello thanks thank
""".split())
_WORD = re.compile(r"[A-Za-z0-9]+")
_IDENT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ies", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words; `FooBarError` also yields foo, bar, error."""
    out: list[str] = []
    for raw in _WORD.findall(text):
        low = raw.lower()
        if len(low) > 1 and low not in STOP:
            out.append(stem(low))
        parts = _IDENT.findall(raw)
        if len(parts) > 1:
            out.extend(stem(p.lower()) for p in parts if len(p) > 1 and p.lower() not in STOP)
    return out


def split_problem(text: str) -> tuple[str, str]:
    """A ticket's headline (its first line) and the rest."""
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


@dataclass(frozen=True)
class Entry:
    """One resolved ticket as the knowledge base sees it; no notes, no requester."""

    ticket_id: int
    problem: str
    resolution: str = ""
    category: str = ""
    public: bool = True  # may be suggested to requesters (not only technicians)


@dataclass(frozen=True)
class Match:
    ticket_id: int
    headline: str
    confidence: float  # 0..1
    terms: tuple[str, ...] = ()  # the shared words that mattered most


@dataclass
class _Segment:
    """Postings as CSR arrays: for term t, docs[ptr[t]:ptr[t+1]] with their weighted tf."""

    ptr: np.ndarray
    docs: np.ndarray
    tf: np.ndarray

    @classmethod
    def build(cls, terms: np.ndarray, docs: np.ndarray, tf: np.ndarray, vocab_size: int) -> "_Segment":
        order = np.argsort(terms, kind="stable")
        counts = np.bincount(terms, minlength=vocab_size)
        ptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return cls(ptr, docs[order].astype(np.uint32), tf[order].astype(np.float32))

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray] | None:
        if tid + 1 >= len(self.ptr):
            return None
        a, b = self.ptr[tid], self.ptr[tid + 1]
        return (self.docs[a:b], self.tf[a:b]) if b > a else None


class _Pending:
    """Postings not yet in a segment, in flat typed buffers (4 bytes a field, no per-posting
    objects); `searchable` also indexes them by term, for the live area searches read."""

    def __init__(self, searchable: bool = True) -> None:
        self.terms = array("I")
        self.docs = array("I")
        self.tf = array("f")
        self.by_term: dict[int, list[tuple[int, float]]] | None = {} if searchable else None
        self.count = 0

    def add(self, slot: int, pairs: list[tuple[int, float]]) -> None:
        for tid, tf in pairs:
            self.terms.append(tid)
            self.docs.append(slot)
            self.tf.append(tf)
        if self.by_term is not None:
            for tid, tf in pairs:
                self.by_term.setdefault(tid, []).append((slot, tf))
        self.count += 1

    def segment(self, vocab_size: int) -> _Segment:
        return _Segment.build(np.frombuffer(self.terms, dtype=np.uint32), np.frombuffer(self.docs, dtype=np.uint32),
                              np.frombuffer(self.tf, dtype=np.float32), vocab_size)


def merge_segments(segments: list[_Segment], vocab_size: int) -> _Segment:
    """One segment holding the postings of several (CSR back to flat arrays, then rebuilt)."""
    terms = [np.repeat(np.arange(len(s.ptr) - 1, dtype=np.uint32), np.diff(s.ptr)) for s in segments]
    return _Segment.build(np.concatenate(terms), np.concatenate([s.docs for s in segments]),
                          np.concatenate([s.tf for s in segments]), vocab_size)


class KnowledgeIndex:
    """Thread-safe: searches run while entries are added, withdrawn or bulk-loaded elsewhere.

    Recent entries wait in a small pending area and are sealed into an immutable CSR
    segment every SEAL_AT entries; a search reads every segment and the pending area.
    Withdrawn entries are tombstoned (their statistics stay until the next restart,
    which moves idf by a hair)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(1024, dtype=np.int32)
        self.segments: list[_Segment] = []
        self.pending = _Pending()
        self.doc_len = np.zeros(1024, dtype=np.float32)
        self.alive = np.zeros(1024, dtype=bool)
        self.public = np.zeros(1024, dtype=bool)
        self.ticket_of = np.zeros(1024, dtype=np.int64)
        self.headlines: list[str] = []
        self.slot_of: dict[int, int] = {}
        self.total_len = 0.0  # over every slot ever added, like df
        self.count = 0  # live entries

    def __len__(self) -> int:
        return self.count

    # Changes

    def _grow(self, slots: int) -> None:
        if slots <= len(self.alive):
            return
        size = max(slots, len(self.alive) * 2)
        for name in ("doc_len", "alive", "public", "ticket_of"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _term_ids(self, counts: Counter) -> list[tuple[int, float]]:
        pairs = []
        for term, tf in counts.items():
            tid = self.vocab.get(term)
            if tid is None:
                tid = self.vocab[term] = len(self.vocab)
                if tid >= len(self.df):
                    df = np.zeros(len(self.df) * 2, dtype=np.int32)
                    df[: len(self.df)] = self.df
                    self.df = df
            self.df[tid] += 1
            pairs.append((tid, tf))
        return pairs

    @staticmethod
    def _counts(problem: str, headline_weight: float = HEADLINE_WEIGHT) -> tuple[str, Counter]:
        """Term weights of a problem: headline terms count `headline_weight` times a body term."""
        headline, body = split_problem(problem)
        counts: Counter = Counter()
        for t in tokens(headline):
            counts[t] += headline_weight
        for t in tokens(body[:BODY_CHARS]):
            counts[t] += 1.0
        return headline, counts

    def add(self, entry: Entry, seal_at: int = SEAL_AT_LIVE) -> None:
        """Add or replace an entry (an edited resolution replaces the old one)."""
        headline, counts = self._counts(entry.problem)
        with self._lock:
            self._place(entry, headline, counts, self.pending)
            if self.pending.count >= seal_at:
                self.seal()

    def _place(self, entry: Entry, headline: str, counts: Counter, pending: _Pending) -> None:
        self.remove(entry.ticket_id)
        slot = len(self.headlines)
        self._grow(slot + 1)
        pending.add(slot, self._term_ids(counts))
        length = float(sum(counts.values()))
        self.doc_len[slot], self.alive[slot], self.public[slot] = length, True, entry.public
        self.ticket_of[slot] = entry.ticket_id
        self.headlines.append(one_line(headline, 160))
        self.slot_of[entry.ticket_id] = slot
        self.total_len += length
        self.count += 1

    def remove(self, ticket_id: int) -> bool:
        """Withdraw an entry (a reopened ticket) until it is resolved again."""
        with self._lock:
            slot = self.slot_of.pop(ticket_id, None)
            if slot is None:
                return False
            self.alive[slot] = False
            self.count -= 1
            return True

    def seal(self) -> None:
        """Turn the pending entries into an immutable segment; fold many small segments into one."""
        with self._lock:
            if self.pending.count:
                self.segments.append(self.pending.segment(len(self.vocab)))
                self.pending = _Pending()
            small = [s for s in self.segments if len(s.docs) < SMALL_POSTINGS]  # live seals, not bulk ones
            if len(small) > SMALL_SEGMENTS:
                merged = merge_segments(small, len(self.vocab))
                self.segments = [s for s in self.segments if len(s.docs) >= SMALL_POSTINGS] + [merged]

    def bulk_load(self, entries: Iterable[Entry]) -> int:
        """Load many entries, staged in a buffer no search reads (cheaper than the live pending
        area) and sealed every SEAL_AT; until sealed, a staged entry is not found yet."""
        n = 0
        staged = _Pending(searchable=False)
        for entry in entries:
            headline, counts = self._counts(entry.problem)
            with self._lock:
                self._place(entry, headline, counts, staged)
                if staged.count >= SEAL_AT:
                    self.segments.append(staged.segment(len(self.vocab)))
                    staged = _Pending(searchable=False)
            n += 1
        with self._lock:
            if staged.count:
                self.segments.append(staged.segment(len(self.vocab)))
        self.seal()
        return n

    # Search

    def search(self, text: str, limit: int = 5, floor: float = 0.0, technician: bool = True,
               exclude: int | None = None) -> list[Match]:
        headline, query = self._counts(text, QUERY_HEADLINE_WEIGHT)
        with self._lock:
            slots = len(self.headlines)
            if self.count == 0 or not query:
                return []
            avg = self.total_len / slots
            weighted = []
            for term, qf in query.items():
                tid = self.vocab.get(term)
                if tid is None or self.df[tid] <= 0:
                    continue
                idf = math.log(1 + (slots - self.df[tid] + 0.5) / (self.df[tid] + 0.5))
                weighted.append((idf * min(qf, 3), tid, term))
            weighted.sort(reverse=True)
            weighted = weighted[:MAX_QUERY_TERMS]
            if not weighted:
                return []
            best_possible = sum(w for w, _, _ in weighted) * (K1 + 1)
            scores = np.zeros(slots, dtype=np.float32)
            norm = (K1 * (1 - B)) + (K1 * B / avg) * self.doc_len[:slots]
            segments, pending = list(self.segments), self.pending.by_term or {}
            for weight, tid, _ in weighted:
                for segment in segments:
                    found = segment.postings(tid)
                    if found is not None:
                        docs, tf = found
                        scores[docs] += weight * tf * (K1 + 1) / (tf + norm[docs])
                for slot, tf in pending.get(tid, ()):
                    scores[slot] += weight * tf * (K1 + 1) / (tf + norm[slot])
            mask = self.alive[:slots] if technician else self.alive[:slots] & self.public[:slots]
            scores[~mask] = 0
            if exclude is not None and exclude in self.slot_of:
                scores[self.slot_of[exclude]] = 0
            positive = int(np.count_nonzero(scores))
            if positive == 0:
                return []
            k = min(CANDIDATES, positive)
            top = np.argpartition(-scores, k - 1)[:k]
            candidates = [(float(scores[s]), self.headlines[s], int(self.ticket_of[s])) for s in top if scores[s] > 0]
            query_terms = {term for _, _, term in weighted}
        ranked = []
        for score, title, ticket_id in candidates:
            likeness = fuzz.token_set_ratio(headline, title, processor=default_process) / 100
            ranked.append(((1 - FUZZ_WEIGHT) * min(1.0, score / best_possible) + FUZZ_WEIGHT * likeness, ticket_id, title))
        ranked.sort(key=lambda m: (-m[0], -m[1]))  # equal confidence: the more recent first
        found: list[Match] = []
        for confidence, ticket_id, title in ranked:
            if confidence < floor or len(found) == limit:
                break
            shared = tuple(t for t in dict.fromkeys(tokens(title)) if t in query_terms)[:5]
            found.append(Match(ticket_id, title, round(confidence, 3), shared))
        return found


def likeness_words(confidence: float) -> str:
    """How alike, in plain words (the thresholds follow the measured score distribution)."""
    if confidence >= 0.6:
        return M.ALIKE_VERY
    if confidence >= 0.45:
        return M.ALIKE_QUITE
    return M.ALIKE_SOMEWHAT




class KnowledgeSource(Protocol):
    """Where entries come from (storage implements it over the tickets table)."""

    def all_entries(self) -> Iterable[Entry]: ...

    def newest_change(self) -> datetime | None: ...

    def changes_since(self, since: datetime | None) -> tuple[list[Entry], list[int], datetime | None]:
        """Entries resolved or edited since `since`, ids no longer resolved, and the newest change seen."""
        ...


class Knowledge:
    """The index kept current from the database: loaded in the background at start-up
    (serving goes on meanwhile, without suggestions), then refreshed from the tickets'
    change times before a search, so a resolution committed by another replica shows
    within `max_age` seconds, and this process's own at once."""

    def __init__(self, source: KnowledgeSource, max_age: float = 2.0, categories: dict | None = None) -> None:
        self.source = source
        self.categories = categories if categories is not None else getattr(getattr(source, "settings", None), "categories", {})
        self.index = KnowledgeIndex()
        self.max_age = max_age
        self.ready = threading.Event()
        self._since: datetime | None = None
        self._checked = 0.0
        self._refresh_lock = threading.Lock()
        self._closing = threading.Event()
        self._loader: threading.Thread | None = None

    def load(self) -> int:
        """Bulk-load every entry (call from a background thread for a large history); changes
        made meanwhile are caught by the refresh that follows (the feed overlaps a little)."""
        started_at = self.source.newest_change()
        count = self.index.bulk_load(e for e in self.source.all_entries() if not self._closing.is_set())
        if self._closing.is_set():
            return count
        self._since = started_at
        self.ready.set()
        self.refresh(force=True)
        return count

    def load_in_background(self) -> threading.Thread:
        self._loader = threading.Thread(target=self.load, name="kb-load", daemon=True)
        self._loader.start()
        return self._loader

    def close(self, timeout: float = 5.0) -> None:
        """Stop a background load (at the next entry) before the database goes away."""
        self._closing.set()
        if self._loader is not None:
            self._loader.join(timeout)

    def apply(self, ticket) -> None:
        """A ticket this process just committed: in the index if it is resolved, out if not.
        (Other processes' changes arrive through `refresh`.)"""
        if not self.ready.is_set():
            return
        if ticket.status.value in ("resolved", "closed") and ticket.resolution:
            category = self.categories.get(ticket.category)
            self.index.add(Entry(ticket.id, ticket.description, ticket.resolution, ticket.category,
                                 category.kb_public if category else False))
        else:
            self.index.remove(ticket.id)

    def refresh(self, force: bool = False) -> None:
        if not self.ready.is_set():
            return
        if not (force or time.monotonic() - self._checked >= self.max_age):
            return
        if not self._refresh_lock.acquire(blocking=force):
            return  # another thread is refreshing right now; this search uses the index as it is
        try:
            self._checked = time.monotonic()
            upserts, removals, newest = self.source.changes_since(self._since)
            for entry in upserts:
                self.index.add(entry)
            for ticket_id in removals:
                self.index.remove(ticket_id)
            if newest is not None:
                self._since = newest
        finally:
            self._refresh_lock.release()

    def search(self, text: str, **kwargs) -> list[Match]:
        if not self.ready.is_set():
            return []
        self.refresh()
        return self.index.search(text, **kwargs)
