"""The knowledge base: every resolved ticket is an entry; a new problem is matched
against them in two stages.

1. BM25 over the problem text (the headline weighted above the rest, identifiers
   like `OutlookSyncError` split into words, light stemming) finds ~200 candidates
   from an inverted index held in memory as numpy arrays;
2. rapidfuzz's `token_set_ratio` on the headlines re-ranks them, blended with the
   BM25 score normalised by the query's best possible score, so the result is an
   absolute confidence a floor can apply to, not just an order;
3. the order (not the confidence) leans towards recent entries: a candidate's
   confidence is multiplied by `1 - RECENCY_WEIGHT + RECENCY_WEIGHT * exp(-age / RECENCY_DAYS)`,
   so a year-old fix keeps ~93% of its weight and a five-year-old one 80%. Similar problems
   come in bursts (an outage, a rollout) and fixes go stale as software changes.

Version numbers are terms of their own: `3.8.2` also yields `3.8.2` and `3.8`, so
"ZooKeeper 3.8.2" finds "ZooKeeper 3.8.3" before "ZooKeeper 3.6.3".

The index lives in each process (numpy CSR segments plus a small pending area) and is
kept current from the database by the caller; removals are tombstones. Measured on
real duplicate-labelled tickets: see `helpdesk kb eval`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Iterable, Protocol

import numpy as np
from rapidfuzz import fuzz, process
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
RECENCY_WEIGHT = 0.2  # at most this share of a candidate's weight depends on its age…
RECENCY_DAYS = 365.0  # …decaying with this time constant (days)
MAX_QUERY_TERMS = 40
SEAL_AT = 50_000  # pending entries before a bulk load seals them into a segment
SEAL_AT_LIVE = 1_000  # …and in a running process, where the pending area is searched entry by entry
SMALL_SEGMENTS = 8  # more small segments than this are merged into one
SMALL_POSTINGS = 200_000  # a segment with fewer postings is small (a live seal holds ~40,000)
REBUILD_AFTER = 1_000  # entries changed since the index on disk was written: rebuild it in another process

STOP = frozenset("""a an the and or of to in on for is are was were be been it this that with as at by from not no can
cannot when if but into than then there these those which while we i you they he she should would could will may
might must do does did have has had so such also its it's our your their via using use used after before all any
some more most other only same very just over under up down out about my me please hi hello thanks thank
""".split())
_WORD = re.compile(r"[A-Za-z0-9]+")
_IDENT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_VERSION = re.compile(r"\b\d+(?:\.\d+)+\b")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ies", "es", "ed", "ly", "s")


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A word without its commonest English suffix (-ing, -ers, -ies → -y…), when at least four letters remain.
    Memoized: a help desk's words repeat, and every indexed or searched word passes here."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words; `FooBarError` also yields foo, bar, error;
    a version `2.9.10.3` also yields `2.9.10.3` and `2.9` (its single digits are no terms)."""
    out: list[str] = []
    for raw in _WORD.findall(text):
        low = raw.lower()
        if len(low) > 1 and low not in STOP:
            out.append(stem(low))
        parts = _IDENT.findall(raw)
        if len(parts) > 1:
            out.extend(stem(p.lower()) for p in parts if len(p) > 1 and p.lower() not in STOP)
    if "." in text:
        for version in _VERSION.findall(text):
            out.append(version)
            out.append(".".join(version.split(".")[:2]))
    return out


def fingerprint(entry: "Entry") -> int:
    """64 bits that change whenever what the index keeps of an entry would (its text, who may
    see it, its time); a resolution's wording is not indexed, so it is not part of it."""
    text = f"{entry.public}\x00{entry.at}\x00{entry.problem}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def split_problem(text: str) -> tuple[str, str]:
    """A ticket's headline (its first line) and the rest."""
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


NOT_FIXES = ("invalid", "duplicate", "won't fix", "won't do", "cannot reproduce", "can't reproduce",
             "not reproducible", "not a problem", "not a bug", "incomplete", "abandoned", "works for me",
             "works as designed", "working as intended", "later", "rejected", "declined", "obsolete", "spam",
             "cancelled", "canceled", "unresolved", "none", "n/a", "no fix", "no action", "pending closed")
MIN_FIX_CHARS = 4  # a resolution with fewer letters and digits than this carries no fix ("ok", "-", "x")


def normalise_resolution(text: str | None) -> str:
    """Case-folded, curly apostrophes straightened, spaces collapsed, end punctuation dropped."""
    text = " ".join((text or "").replace("\u2019", "'").replace("\u2018", "'").casefold().split())
    return text.strip(" .!;:-_*")


@dataclass(frozen=True)
class EntryRules:
    """Which resolved tickets become entries, and who may see them.

    A resolution that only says why nothing was fixed ("Invalid", "Duplicate", "Won't Fix",
    compared case-insensitively after `normalise_resolution`), or is shorter than
    `min_chars` letters and digits, is offered to nobody."""

    public_categories: frozenset[str] = frozenset()
    not_fixes: frozenset[str] = frozenset(NOT_FIXES)
    min_chars: int = MIN_FIX_CHARS

    @classmethod
    def from_settings(cls, settings) -> "EntryRules":
        """From `Settings`: categories with `kb_public`, and the `[knowledge]` not-fix list."""
        config = settings.knowledge
        return cls(frozenset(name for name, c in settings.categories.items() if c.kb_public),
                   frozenset(normalise_resolution(x) for x in config.not_fixes), config.min_fix_chars)

    def is_fix(self, resolution: str | None) -> bool:
        """Whether a resolution tells a fix (not one of the configured non-fixes such as "Duplicate" or
        "Won't Fix", compared without case or typographic apostrophes, and long enough to say something)."""
        text = normalise_resolution(resolution)
        return text not in self.not_fixes and sum(ch.isalnum() for ch in text) >= self.min_chars

    def entry(self, key: int, problem: str, resolution: str | None, category: str,
              at: datetime | None) -> "Entry | None":
        """The entry for a resolved ticket or history row, or None when its resolution is no fix."""
        if not self.is_fix(resolution):
            return None
        return Entry(key, problem, resolution or "", category, category in self.public_categories,
                     at.timestamp() if at is not None else None)

    def signature(self) -> str:
        """Changes whenever a different set of entries would be indexed (stored with the index)."""
        text = repr((sorted(self.public_categories), sorted(self.not_fixes), self.min_chars))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One resolved ticket (or imported history row) as the knowledge base sees it; no notes,
    no requester. `ticket_id` is the entry's key: a ticket's id, or for a row of imported
    history its id negated (`-history.id`), so the two can never collide."""

    ticket_id: int
    problem: str
    resolution: str = ""
    category: str = ""
    public: bool = True  # may be suggested to requesters (not only technicians)
    at: float | None = None  # when the problem was reported, epoch seconds (None: unknown, counted as old)


@dataclass(frozen=True)
class Past:
    """A past resolution as a suggestion shows it: a ticket, or a row of imported history."""

    key: int  # the entry key: > 0 a ticket id, < 0 minus a history id
    ref: str  # how it is named: "#12", or the source's own id ("HADOOP-1234")
    description: str
    resolution: str


@dataclass(frozen=True)
class Match:
    ticket_id: int  # the entry's key: > 0 a ticket, < 0 a row of imported history
    headline: str
    confidence: float  # 0..1, how alike the texts are (the order also weighs recency)
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
        # term → its slots and tfs, as typed buffers a search reads as numpy arrays in one step
        self.by_term: dict[int, tuple[array, array]] | None = {} if searchable else None
        self.count = 0

    def add(self, slot: int, pairs: list[tuple[int, float]]) -> None:
        for tid, tf in pairs:
            self.terms.append(tid)
            self.docs.append(slot)
            self.tf.append(tf)
        if self.by_term is not None:
            for tid, tf in pairs:
                docs, tfs = self.by_term.get(tid) or self.by_term.setdefault(tid, (array("I"), array("f")))
                docs.append(slot)
                tfs.append(tf)
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

    Two parts, searched together with shared statistics (document frequencies, length):
    * `base`, optional: a sealed index built by another process and memory-mapped from disk
      (`MappedBase`); read-only except for its tombstones;
    * the live part: entries added in this process. Recent ones wait in a small pending
      area and are sealed into an immutable CSR segment every SEAL_AT_LIVE entries.
    Withdrawn entries are tombstoned (their statistics stay until the index is rebuilt,
    which moves idf by a hair)."""

    def __init__(self, base: "MappedBase | None" = None) -> None:
        self._lock = threading.RLock()
        self.base = base
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(1024, dtype=np.int32)
        self.segments: list[_Segment] = []
        self.pending = _Pending()
        self.doc_len = np.zeros(1024, dtype=np.float32)
        self.alive = np.zeros(1024, dtype=bool)
        self.public = np.zeros(1024, dtype=bool)
        self.ticket_of = np.zeros(1024, dtype=np.int64)
        self.day = np.zeros(1024, dtype=np.float32)  # days since the epoch; NaN when unknown
        self.print = np.zeros(1024, dtype=np.uint64)  # fingerprint of what was indexed (fingerprint())
        self.headlines: list[str] = []
        self.slot_of: dict[int, int] = {}
        self.total_len = 0.0  # over every live slot ever added, like df
        self.count = 0  # live entries in the live part

    def __len__(self) -> int:
        return self.count + (self.base.count if self.base is not None else 0)

    # Changes

    def _grow(self, slots: int) -> None:
        if slots <= len(self.alive):
            return
        size = max(slots, len(self.alive) * 2)
        for name in ("doc_len", "alive", "public", "ticket_of", "day", "print"):
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

    def add(self, entry: Entry, seal_at: int = SEAL_AT_LIVE) -> bool:
        """Add or replace an entry; False when the index already holds it just so (the change
        feed hands over recent rows again, and an index on disk holds what it was built from)."""
        mark = fingerprint(entry)
        if self.holds(entry.ticket_id, mark):
            return False
        headline, counts = self._counts(entry.problem)
        with self._lock:
            self._place(entry, headline, counts, self.pending, mark)
            if self.pending.count >= seal_at:
                self.seal()
        return True

    def holds(self, ticket_id: int, mark: int) -> bool:
        """Is this key indexed, alive, with this fingerprint?"""
        with self._lock:
            slot = self.slot_of.get(ticket_id)
            if slot is not None:
                return bool(self.alive[slot]) and int(self.print[slot]) == mark
            if self.base is not None and (slot := self.base.slot(ticket_id)) is not None:
                return bool(self.base.alive[slot]) and int(self.base.print[slot]) == mark
            return False

    def _place(self, entry: Entry, headline: str, counts: Counter, pending: _Pending, mark: int | None = None) -> None:
        self.remove(entry.ticket_id)
        slot = len(self.headlines)
        self._grow(slot + 1)
        pending.add(slot, self._term_ids(counts))
        length = float(sum(counts.values()))
        self.doc_len[slot], self.alive[slot], self.public[slot] = length, True, entry.public
        self.ticket_of[slot] = entry.ticket_id
        self.day[slot] = entry.at / 86400 if entry.at is not None else np.nan
        self.print[slot] = fingerprint(entry) if mark is None else mark
        self.headlines.append(one_line(headline, 160))
        self.slot_of[entry.ticket_id] = slot
        self.total_len += length
        self.count += 1

    def remove(self, ticket_id: int) -> bool:
        """Withdraw an entry (a reopened ticket) until it is resolved again."""
        with self._lock:
            found = False
            slot = self.slot_of.pop(ticket_id, None)
            if slot is not None:
                self.alive[slot] = False
                self.count -= 1
                found = True
            if self.base is not None and self.base.withdraw(ticket_id):
                found = True
            return found

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
               exclude: int | None = None, now: float | None = None, explain: bool = True,
               among: Collection[int] | None = None) -> list[Match]:
        """The `limit` entries most like `text` whose confidence is at least `floor`, best first.

        `now` (epoch seconds, default the clock) is when the question is asked: the order leans
        towards entries reported shortly before it. `exclude` is an entry key never returned.
        `explain=False` leaves each match's `terms` empty (they cost a tokenising of each headline
        found: what a caller comparing hundreds of matches, and showing none, does without).
        `among` (entry keys) makes only those entries candidates, each confidence as a search of
        every entry would give it: how alike `text` is to a few entries named ahead."""
        found = self._candidates(text, technician, exclude, among)
        if found is None:
            return []
        headline, candidates, best_possible, query_terms = found
        return _ranked(headline, candidates, best_possible, query_terms if explain else None, limit, floor,
                       time.time() if now is None else now)

    def likeness(self, text: str, limit: int, exclude: int | None = None,
                 among: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(entry key, confidence) of what `search(text, limit, floor=0.0, exclude=…, explain=False,
        among=…)` finds, in its order and with its confidences, as plain pairs: what a caller comparing
        hundreds of matches needs, without a Match for each (incidents' likeness)."""
        found = self._candidates(text, True, exclude, among)
        if found is None:
            return []
        headline, candidates, best_possible, _ = found
        key, _, confidence, ranking = _ranking(headline, candidates, best_possible, limit, 0.0, time.time())
        return [(k, round(c, 3)) for k, c in zip(key[ranking].tolist(), confidence[ranking].tolist())]

    def _candidates(self, text: str, technician: bool, exclude: int | None, among: Collection[int] | None
                    ) -> tuple[str, list[tuple[float, str, int, float]], float, set[str]] | None:
        """Stage 1 of a search: the query's headline, the best CANDIDATES (BM25 score, headline, key,
        day) of every part, the best BM25 score possible and the query terms weighed; None when
        nothing can match (an empty query, an empty index, no known term)."""
        headline, query = self._counts(text, QUERY_HEADLINE_WEIGHT)
        if not query:
            return None
        with self._lock:
            base = self.base
            slots = len(self.headlines) + (base.slots if base is not None else 0)
            if len(self) == 0:
                return None
            avg = (self.total_len + (base.total_len if base is not None else 0.0)) / slots
            weighted = []
            for term, qf in query.items():
                live_tid = self.vocab.get(term)
                base_tid = base.term_id(term) if base is not None else None
                df = (int(self.df[live_tid]) if live_tid is not None else 0) + \
                    (int(base.df[base_tid]) if base_tid is not None else 0)
                if df <= 0:
                    continue
                idf = math.log(1 + (slots - df + 0.5) / (df + 0.5))
                weighted.append((idf * min(qf, 3), term, base_tid, live_tid))
            weighted.sort(key=lambda w: (-w[0], w[1]))
            weighted = weighted[:MAX_QUERY_TERMS]
            if not weighted:
                return None
            best_possible = sum(w[0] for w in weighted) * (K1 + 1)
            c1, c2 = K1 * (1 - B), K1 * B / avg
            candidates = self._live_candidates(weighted, c1, c2, technician, exclude, among)
            if base is not None:
                candidates += base.candidates(weighted, c1, c2, technician, exclude, among)
        if len(candidates) > CANDIDATES:
            candidates = sorted(candidates, key=lambda c: -c[0])[:CANDIDATES]
        return headline, candidates, best_possible, {w[1] for w in weighted}

    def _live_candidates(self, weighted: list, c1: float, c2: float, technician: bool, exclude: int | None,
                         among: Collection[int] | None = None) -> list[tuple[float, str, int, float]]:
        """(BM25 score, headline, key, day) of the live part's best CANDIDATES, of `among` only when
        given (lock held)."""
        slots = len(self.headlines)
        if self.count == 0:
            return []
        pending = self.pending.by_term or {}
        postings = []
        for weight, _, _, tid in weighted:
            if tid is None:
                continue
            for segment in self.segments:
                found = segment.postings(tid)
                if found is not None:
                    postings.append((weight, *found))
            if tid in pending:  # copied out: a buffer a numpy array still viewed could not grow
                postings.append((weight, *(np.array(b) for b in pending[tid])))
        scores = bm25_scores(self.doc_len[:slots], postings, c1, c2)
        mask = self.alive[:slots] if technician else self.alive[:slots] & self.public[:slots]
        scores[~mask] = 0
        if exclude is not None and exclude in self.slot_of:
            scores[self.slot_of[exclude]] = 0
        top = _best(scores, None if among is None else [self.slot_of.get(k) for k in among])
        headlines = self.headlines
        return list(zip(scores[top].tolist(), [headlines[s] for s in top.tolist()],
                        self.ticket_of[top].tolist(), self.day[top].tolist()))


def _best(scores: np.ndarray, slots: list[int | None] | None) -> np.ndarray:
    """The slots with a positive score: the best CANDIDATES of them, or those of `slots` (None: not held)."""
    if slots is not None:
        top = np.array([s for s in slots if s is not None], dtype=np.int64)
        return top[scores[top] > 0]
    positive = np.flatnonzero(scores > 0)  # the few slots a query's terms reach: partitioned alone
    if len(positive) <= CANDIDATES:
        return positive
    return positive[np.argpartition(-scores[positive], CANDIDATES - 1)[:CANDIDATES]]


def bm25_scores(doc_len: np.ndarray, postings: list[tuple[float, np.ndarray, np.ndarray]], c1: float,
                c2: float) -> np.ndarray:
    """BM25 scores by slot (float32, one per `doc_len` entry) for a query's postings, each
    (term weight, slots, their tf): BM25's length normalisation `c1 + c2 * doc_len` is computed
    for the slots the postings name, or once for every slot when they name more than half."""
    scores = np.zeros(len(doc_len), dtype=np.float32)
    norm = c1 + np.float32(c2) * doc_len if sum(len(p[1]) for p in postings) > len(doc_len) // 2 else None
    for weight, docs, tf in postings:
        length = norm[docs] if norm is not None else c1 + np.float32(c2) * doc_len[docs]
        scores[docs] += weight * tf * (K1 + 1) / (tf + length)
    return scores


def _ranked(headline: str, candidates: list[tuple[float, str, int, float]], best_possible: float,
            query_terms: set[str] | None, limit: int, floor: float, now: float) -> list["Match"]:
    """Stage 2 (`_ranking`) as Matches; each lists the query terms its headline shares (`query_terms`;
    None: none listed)."""
    key, titles, confidence, ranking = _ranking(headline, candidates, best_possible, limit, floor, now)
    return [Match(int(key[i]), titles[i], round(float(confidence[i]), 3),
                  tuple(t for t in dict.fromkeys(tokens(titles[i])) if t in query_terms)[:5] if query_terms else ())
            for i in ranking.tolist()]


def _ranking(headline: str, candidates: list[tuple[float, str, int, float]], best_possible: float,
             limit: int, floor: float, now: float) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]:
    """Stage 2 for (BM25 score, headline, key, day) candidates: the confidence of each (its BM25
    score over `best_possible`, blended with rapidfuzz's token_set_ratio of the headlines, scored in
    one call), those under `floor` left out, the best `limit` by confidence leaning to the recent
    (`now`: epoch seconds); equally placed, the more recent, then the higher key, first. Returns the
    candidates' keys, headlines and confidences, and the positions of those ranked, best first."""
    if not candidates:
        return np.zeros(0, dtype=np.int64), (), np.zeros(0), np.zeros(0, dtype=np.int64)
    score, titles, keys, days = zip(*candidates)
    likeness = process.cdist([headline], titles, scorer=fuzz.token_set_ratio, processor=default_process,
                             dtype=np.float64)[0] / 100
    confidence = (1 - FUZZ_WEIGHT) * np.minimum(1.0, np.array(score, dtype=np.float64) / best_possible) \
        + FUZZ_WEIGHT * likeness
    day = np.array(days, dtype=np.float64)
    known = ~np.isnan(day)  # NaN: reported at an unknown time, counted as old
    age = np.where(known, np.maximum(0.0, now / 86400 - np.where(known, day, 0.0)), np.inf)
    order = confidence * (1 - RECENCY_WEIGHT + RECENCY_WEIGHT * np.exp(-age / RECENCY_DAYS))
    key = np.array(keys, dtype=np.int64)
    kept = np.flatnonzero(confidence >= floor)
    ranking = kept[np.lexsort((-key[kept], -np.where(known, day, -np.inf)[kept], -order[kept]))][:limit]
    return key, titles, confidence, ranking


# The index on disk: built by another process, memory-mapped by the server

INDEX_FORMAT = 1
ARRAYS = {  # file name → dtype; every file is `<name>.npy` in a generation directory
    "keys": np.uint64,  # term hashes (term_key), sorted: a term's id is its position
    "df": np.int32,  # per term
    "ptr": np.int64,  # per term + 1: postings of term t are docs/tf[ptr[t]:ptr[t+1]]
    "docs": np.uint32,
    "tf": np.float32,
    "doc_len": np.float32,  # per slot
    "alive": np.bool_,
    "public": np.bool_,
    "ticket_of": np.int64,
    "day": np.float32,
    "print": np.uint64,
    "head_off": np.int64,  # per slot + 1: the headline of slot s is head_blob[head_off[s]:head_off[s+1]] (UTF-8)
    "head_blob": np.uint8,
    "keys_sorted": np.int64,  # entry keys (ticket ids, -history ids) of the live slots, sorted…
    "slot_by_key": np.int64,  # …and their slots
}


class IndexFileError(Exception):
    """An index directory that cannot be used as it is (missing, another format, damaged); rebuild it."""


def term_key(term: str) -> int:
    """A term's stable 64-bit hash (the same in every process, unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def analysis_signature() -> str:
    """Changes whenever the same text would be indexed differently (stored with the index)."""
    text = repr((INDEX_FORMAT, BODY_CHARS, HEADLINE_WEIGHT, sorted(STOP), _SUFFIXES, _WORD.pattern,
                 _IDENT.pattern, _VERSION.pattern))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes (hashlib releases the GIL on large buffers)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class MappedBase:
    """A sealed index generation on disk, its arrays memory-mapped: opening one reads only the
    file headers, and pages come in as searches touch them. `alive` is mapped copy-on-write,
    so this process's tombstones never reach the file.

    Raises IndexFileError when the directory is not a complete index of this format and
    analysis (`verify` also checks every file's digest: the builder process runs it)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.meta = json.loads((self.path / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"{self.path}: no readable meta.json ({exc})") from exc
        if self.meta.get("format") != INDEX_FORMAT or self.meta.get("analysis") != analysis_signature():
            raise IndexFileError(f"{self.path}: written by another version of the index")
        self.slots = int(self.meta["slots"])
        self.total_len = float(self.meta["total_len"])
        self.count = int(self.meta["alive"])
        terms, postings, keyed = int(self.meta["terms"]), int(self.meta["postings"]), int(self.meta["keyed"])
        lengths = {"keys": terms, "df": terms, "ptr": terms + 1, "docs": postings, "tf": postings,
                   "head_off": self.slots + 1, "head_blob": int(self.meta["headline_bytes"]),
                   "keys_sorted": keyed, "slot_by_key": keyed}
        for name, dtype in ARRAYS.items():
            file = self.path / f"{name}.npy"
            try:
                if int(self.meta["files"][name]["bytes"]) != file.stat().st_size:
                    raise IndexFileError(f"{file}: {file.stat().st_size} bytes, the index wrote {self.meta['files'][name]['bytes']}")
                array = np.load(file, mmap_mode=("c" if name == "alive" else "r")) if lengths.get(name, self.slots) \
                    else np.load(file)
            except (OSError, ValueError, KeyError) as exc:
                raise IndexFileError(f"{file}: {exc}") from exc
            if array.dtype != np.dtype(dtype) or array.shape != (lengths.get(name, self.slots),):
                raise IndexFileError(f"{file}: {array.dtype}{array.shape} is not what the index wrote")
            setattr(self, name, array.view(np.ndarray))  # same pages; slicing a plain ndarray is much cheaper

    def verify(self) -> None:
        """Every file's digest against meta.json (reads every byte: the builder does it, not the server).
        Raises IndexFileError naming the first file that does not match."""
        for name in ARRAYS:
            if file_digest(self.path / f"{name}.npy") != self.meta["files"][name]["blake2b"]:
                raise IndexFileError(f"{self.path / (name + '.npy')}: damaged (digest differs)")

    @property
    def cursor(self) -> Any:
        """Where the change feed stood when the entries were read (the source's own format)."""
        return self.meta.get("cursor")

    def term_id(self, term: str) -> int | None:
        """The id of `term` in this generation's vocabulary (terms are found by hash); None if absent."""
        key = np.uint64(term_key(term))
        i = int(np.searchsorted(self.keys, key))
        return i if i < len(self.keys) and self.keys[i] == key else None

    def slot(self, ticket_id: int) -> int | None:
        """The slot holding entry `ticket_id`, or None when this generation does not hold it."""
        i = int(np.searchsorted(self.keys_sorted, ticket_id))
        return int(self.slot_by_key[i]) if i < len(self.keys_sorted) and self.keys_sorted[i] == ticket_id else None

    def withdraw(self, ticket_id: int) -> bool:
        """Hide an entry of this generation (a reopened ticket) until a newer one replaces it; True if it was there."""
        slot = self.slot(ticket_id)
        if slot is None or not self.alive[slot]:
            return False
        self.alive[slot] = False
        self.count -= 1
        return True

    def headline(self, slot: int) -> str:
        """The headline stored for a slot."""
        return bytes(self.head_blob[self.head_off[slot]:self.head_off[slot + 1]]).decode("utf-8")

    def candidates(self, weighted: list, c1: float, c2: float, technician: bool, exclude: int | None,
                   among: Collection[int] | None = None) -> list[tuple[float, str, int, float]]:
        """The best-scoring live slots for the weighted query terms, as (BM25 score, headline, entry key,
        reported at in epoch seconds), at most CANDIDATES (of `among` only, when given); `c1`, `c2` are
        BM25's normalisation terms."""
        if self.count == 0:
            return []
        postings = []
        for weight, _, tid, _ in weighted:
            if tid is None:
                continue
            a, b = int(self.ptr[tid]), int(self.ptr[tid + 1])
            if b > a:
                postings.append((weight, self.docs[a:b], self.tf[a:b]))
        scores = bm25_scores(self.doc_len, postings, c1, c2)
        scores *= self.alive if technician else self.alive & self.public
        if exclude is not None and (slot := self.slot(exclude)) is not None:
            scores[slot] = 0
        top = _best(scores, None if among is None else [self.slot(k) for k in among])
        if len(top) == 0:
            return []
        starts, ends = self.head_off[top].tolist(), self.head_off[top + 1].tolist()
        blob = self.head_blob
        return list(zip(scores[top].tolist(), (bytes(blob[a:b]).decode("utf-8") for a, b in zip(starts, ends)),
                        self.ticket_of[top].tolist(), self.day[top].tolist()))


def write_base(index: KnowledgeIndex, path: Path, cursor: Any, extra: dict | None = None) -> None:
    """Write a live-only index (built by `bulk_load`) as one sealed generation in the new
    directory `path`: one CSR over terms ordered by hash, per-slot arrays, headlines as one
    UTF-8 blob, and meta.json (written last, with every file's size and digest). Raises ValueError
    for an index that already has a mapped base, and OSError when the files cannot be written."""
    if index.base is not None:
        raise ValueError("write_base takes an index without a mapped base")
    path.mkdir(parents=True)
    index.seal()
    vocab_size, slots = len(index.vocab), len(index.headlines)
    files: dict[str, dict] = {}

    def save(name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=ARRAYS[name])
        with open(path / f"{name}.npy", "wb") as handle:
            np.save(handle, array, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())

    keys = np.fromiter((term_key(t) for t in index.vocab), dtype=np.uint64, count=vocab_size)
    order = np.argsort(keys, kind="stable")  # new term id → old term id
    new_of_old = np.empty(vocab_size, dtype=np.int64)
    new_of_old[order] = np.arange(vocab_size)
    counts = np.zeros(vocab_size, dtype=np.int64)
    for segment in index.segments:
        c = np.diff(segment.ptr)
        counts[: len(c)] += c
    ptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(counts[order], out=ptr[1:])
    postings = int(ptr[-1])
    # scatter each segment's postings into place (segments hold ascending slots, so each term's
    # postings stay in slot order) without ever holding a second copy of all of them
    docs_out = np.lib.format.open_memmap(path / "docs.npy", mode="w+", dtype=np.uint32, shape=(postings,))
    tf_out = np.lib.format.open_memmap(path / "tf.npy", mode="w+", dtype=np.float32, shape=(postings,))
    fill = ptr[:-1][new_of_old].copy()  # next free position, by old term id
    for segment in index.segments:
        c = np.diff(segment.ptr)
        if not len(segment.docs):
            continue
        old = np.repeat(np.arange(len(c)), c)
        dest = fill[old] + (np.arange(len(segment.docs)) - np.repeat(segment.ptr[:-1], c))
        docs_out[dest] = segment.docs
        tf_out[dest] = segment.tf
        fill[: len(c)] += c
    for array in (docs_out, tf_out):
        array.flush()
        del array
    for name in ("docs", "tf"):
        with open(path / f"{name}.npy", "rb+") as handle:
            os.fsync(handle.fileno())
    save("keys", keys[order])
    save("df", index.df[:vocab_size][order])
    save("ptr", ptr)
    for name in ("doc_len", "alive", "public", "ticket_of", "day", "print"):
        save(name, getattr(index, name)[:slots])
    encoded = [h.encode("utf-8") for h in index.headlines]
    save("head_off", np.concatenate(([0], np.cumsum([len(e) for e in encoded], dtype=np.int64))))
    save("head_blob", np.frombuffer(b"".join(encoded), dtype=np.uint8))
    keyed = np.array(sorted(index.slot_of.items()), dtype=np.int64).reshape(-1, 2)
    save("keys_sorted", keyed[:, 0])
    save("slot_by_key", keyed[:, 1])
    for name in ARRAYS:
        files[name] = {"bytes": (path / f"{name}.npy").stat().st_size, "blake2b": file_digest(path / f"{name}.npy")}
    meta = {"format": INDEX_FORMAT, "analysis": analysis_signature(), "slots": slots, "alive": index.count,
            "terms": vocab_size, "postings": postings, "keyed": len(keyed), "total_len": index.total_len,
            "headline_bytes": sum(len(e) for e in encoded), "cursor": cursor, "files": files, **(extra or {})}
    with open(path / "meta.json", "w") as handle:
        json.dump(meta, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def likeness_words(confidence: float) -> str:
    """How alike, in plain words (the thresholds follow the measured score distribution)."""
    if confidence >= 0.6:
        return M.ALIKE_VERY
    if confidence >= 0.45:
        return M.ALIKE_QUITE
    return M.ALIKE_SOMEWHAT


class KnowledgeSource(Protocol):
    """Where entries come from (storage implements it over the tickets and history tables).
    A cursor is the source's own JSON-able position in its change feed."""

    rules: EntryRules

    def all_entries(self) -> Iterable[Entry]:
        """Every entry the knowledge base holds, streamed."""
        ...

    def newest_change(self) -> Any:
        """Where the change feed stands now (passed back to `changes_since` later)."""
        ...

    def changes_since(self, since: Any) -> tuple[list[Entry], list[int], Any]:
        """Entries resolved or edited since `since`, keys no longer entries, and the newest change seen."""
        ...


class IndexBuilder(Protocol):
    """Keeps a current index on disk, built or checked outside this process (storage implements it)."""

    def ensure(self) -> Path:
        """Block until a verified, current index generation exists; return its directory.
        Raises RuntimeError when it cannot be built."""
        ...


log = logging.getLogger("helpdesk.knowledge")


class Knowledge:
    """The index kept current from the database.

    At start-up the index comes from disk when a `builder` is given: another process
    checks (or builds) the index files and this one memory-maps them, so no CPU-bound
    loading runs here; without one it is bulk-loaded in a background thread. Either way
    serving goes on meanwhile, without suggestions. Then it is refreshed from the change
    feed before a search, so a resolution committed by another replica shows within
    `max_age` seconds, and this process's own at once."""

    def __init__(self, source: KnowledgeSource, max_age: float = 2.0, builder: IndexBuilder | None = None) -> None:
        self.source = source
        self.rules: EntryRules = getattr(source, "rules", None) or EntryRules()
        self.builder = builder
        self.index = KnowledgeIndex()
        self.max_age = max_age
        self.ready = threading.Event()
        self._since: Any = None
        self._checked = 0.0
        self._refresh_lock = threading.Lock()
        self._closing = threading.Event()
        self._loader: threading.Thread | None = None
        self._changed: set[int] = set()  # entry keys the feed or this process changed since the base was written
        self._rebuilder: threading.Thread | None = None
        self._own_while_rebuilding: list | None = None  # this process's commits while a new base is prepared
        self._swap_lock = threading.Lock()  # one index at a time: this process's changes vs the swap

    def load(self) -> int:
        """Bulk-load every entry in this process (tools, tests; call from a background thread for a
        large history); changes made meanwhile are caught by the refresh that follows (the feed overlaps)."""
        started_at = self.source.newest_change()
        count = self.index.bulk_load(e for e in self.source.all_entries() if not self._closing.is_set())
        if self._closing.is_set():
            return count
        self._since = started_at
        self.ready.set()
        self.refresh(force=True)
        return count

    def _map(self, rebuild: bool = False) -> MappedBase:
        """The builder's current generation, mapped; asked once more if it vanished meanwhile
        (another replica's builder replaced it between the answer and the mapping)."""
        assert self.builder is not None
        try:
            return MappedBase(self.builder.ensure(rebuild=rebuild))
        except IndexFileError:
            return MappedBase(self.builder.ensure(rebuild=True))

    def load_from_disk(self) -> int:
        """Have the builder make sure a current index is on disk (waiting for its process), map
        it, then catch up with the changes since it was written."""
        base = self._map()
        if self._closing.is_set():
            return 0
        with self._refresh_lock, self._swap_lock:
            self.index = KnowledgeIndex(base)
            self._since = base.cursor
            self._changed = set()
        self.ready.set()
        self.refresh(force=True)
        return len(self.index)

    def _rebuild(self) -> None:
        """A new base from the builder, caught up here and swapped in; the old one serves meanwhile.
        Keeps the live part small and the index on disk current, so a restart maps it at once."""
        try:
            with self._swap_lock:
                self._own_while_rebuilding = []
            base = self._map(rebuild=True)
            if self._closing.is_set():
                return
            index = KnowledgeIndex(base)
            upserts, removals, newest = self.source.changes_since(base.cursor)
            for entry in upserts:
                index.add(entry)
            for key in removals:
                index.remove(key)
            with self._refresh_lock, self._swap_lock:
                for ticket in self._own_while_rebuilding or ():
                    self._apply_to(index, ticket)
                self.index = index
                self._since = newest if newest is not None else base.cursor
                self._changed = set()  # what changed during the build is in the live part; small
            log.info("knowledge index rebuilt: %d entries", len(index))
        except Exception:
            if not self._closing.is_set():
                log.exception("the knowledge index could not be rebuilt; the current one stays in use")
        finally:
            with self._swap_lock:
                self._own_while_rebuilding = None

    def _maybe_rebuild(self) -> None:
        """Past REBUILD_AFTER changed entries since the base was written, rebuild it in the background."""
        if self.builder is None or self._closing.is_set() or len(self._changed) < REBUILD_AFTER:
            return
        if self._rebuilder is not None and self._rebuilder.is_alive():
            return
        self._rebuilder = threading.Thread(target=self._rebuild, name="kb-rebuild", daemon=True)
        self._rebuilder.start()

    def _load_logged(self) -> None:
        try:
            self.load_from_disk() if self.builder is not None else self.load()
        except Exception:  # the desk serves on without suggestions; the log says why
            if self._closing.is_set():
                return  # stopped on purpose (a one-shot command ending, a server stopping)
            log.exception("the knowledge base could not be loaded; suggestions stay off until a restart")

    def load_in_background(self) -> threading.Thread:
        """Start `load` in a daemon thread (serving goes on; suggestions are left out until it is ready)."""
        self._loader = threading.Thread(target=self._load_logged, name="kb-load", daemon=True)
        self._loader.start()
        return self._loader

    def close(self, timeout: float = 5.0) -> None:
        """Stop a background load or rebuild (its builder process is ended) before the database goes away."""
        self._closing.set()
        if self.builder is not None and hasattr(self.builder, "cancel"):
            self.builder.cancel()
        for thread in (self._loader, self._rebuilder):
            if thread is not None:
                thread.join(timeout)

    def apply(self, ticket) -> None:
        """A ticket this process just committed: in the index if it is resolved with a fix, out
        if not. (Other processes' changes arrive through `refresh`.)"""
        if not self.ready.is_set():
            return
        with self._swap_lock:
            if self._apply_to(self.index, ticket):
                self._changed.add(ticket.id)
            if self._own_while_rebuilding is not None:
                self._own_while_rebuilding.append(ticket)

    def _apply_to(self, index: KnowledgeIndex, ticket) -> bool:
        """Add or withdraw the ticket's entry; whether the index changed."""
        entry = None
        if ticket.status.value in ("resolved", "closed"):
            entry = self.rules.entry(ticket.id, ticket.description, ticket.resolution, ticket.category,
                                     ticket.created_at)
        if entry is not None:
            return index.add(entry)
        return index.remove(ticket.id)

    def refresh(self, force: bool = False) -> None:
        """Apply what changed in the database since the last look (at most every `max_age` seconds,
        unless `force`); a refresh already running elsewhere is not waited for."""
        if not self.ready.is_set():
            return
        if not (force or time.monotonic() - self._checked >= self.max_age):
            return
        if not self._refresh_lock.acquire(blocking=force):
            return  # another thread is refreshing right now; this search uses the index as it is
        try:
            self._checked = time.monotonic()
            upserts, removals, newest = self.source.changes_since(self._since)
            index = self.index
            added = [e.ticket_id for e in upserts if index.add(e)]  # the overlap hands over known rows again
            withdrawn = [key for key in removals if index.remove(key)]  # most are open tickets: never entries
            if newest is not None:
                self._since = newest
            if index.base is not None:
                self._changed.update(added)
                self._changed.update(withdrawn)
        finally:
            self._refresh_lock.release()
        self._maybe_rebuild()

    def ahead(self, text: str, **kwargs) -> None:
        """Nothing: this index is searched when asked (storage/kb_process.py searches ahead)."""

    def search(self, text: str, **kwargs) -> list[Match]:
        """The past resolutions most like `text` (see KnowledgeIndex.search); [] until the index is ready."""
        if not self.ready.is_set():
            return []
        self.refresh()
        return self.index.search(text, **kwargs)
