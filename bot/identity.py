"""One person on every platform.

A requester or a technician is a person, known by several identities: their email, and an
id on each chat platform (`<platform>:<id>`). The store links identities to a person; an
actor who shows up with an identity and an email the store already knows becomes that
person, so Alice's tickets opened in one chat app are hers in the other and in the terminal.
Linking is by email (the chat platforms give it, and the directory confirms it): an identity
seen with a known email joins that email's person; two persons found to share an email are
merged into the older one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime

from bot.model import SYSTEM_ID, Actor
from bot.ports import Transaction

CACHE_SECONDS = 10.0  # how long this process trusts what it learnt of a person's identities
CACHE_MAX = 20_000


class People:
    """Resolves actors to persons through a transaction; remembers the answer for a few seconds,
    so a burst of commands asks the store once per person, not once per command. What this
    process links is seen at once; what another replica links, within CACHE_SECONDS. Thread-safe."""

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._known: dict[frozenset[str], tuple[float, int, frozenset[str]]] = {}
        self._keys_of: dict[int, set[frozenset[str]]] = {}  # person → their keys in `_known`
        self._lock = threading.Lock()

    def resolve(self, tx: Transaction, actor: Actor, now: datetime, create: bool) -> Actor:
        """`actor` with `person_id` set and every identity of their person in `ids`.

        With `create`, an unknown person is stored and identities not yet linked are linked
        (merging persons that turn out to be one); without it, nothing is written and an
        unknown actor comes back unchanged."""
        own = frozenset(i for i in actor.ids if i != SYSTEM_ID)
        if not own:
            return actor
        hit = self._cached(own)
        if hit is not None:
            person, ids = hit
            return replace(actor, person_id=person, ids=actor.ids | ids)
        links = tx.people_of(sorted(own))
        persons = sorted(set(links.values()))
        if not persons:
            if not create:
                return actor
            person = tx.add_person(actor.name, now)
        else:
            person = persons[0]
            if len(persons) > 1 and create:
                tx.merge_people(person, persons[1:])
        missing = sorted(i for i in own if links.get(i) != person)
        if missing and create:
            tx.link_identities(person, missing, now)
            self._drop(set(persons) | {person})  # what was remembered of them is out of date
        if not persons:  # a person just stored: their identities are the ones just linked
            ids = own
        else:
            ids = frozenset(tx.identities_of(person)) | (own if create else frozenset())
        if create or not missing:
            self._remember(own, person, ids)
        return replace(actor, person_id=person, ids=actor.ids | ids)

    def forget(self) -> None:
        """Drop what this process remembers (after identities were re-linked elsewhere)."""
        with self._lock:
            self._known.clear()
            self._keys_of.clear()

    def _drop(self, persons: set[int]) -> None:
        """Forget what is remembered of `persons`: a look-up per person, not a pass over the cache
        (a surge of new people links one each, so a pass would cost the cache's size per person)."""
        with self._lock:
            for person in persons:
                for key in self._keys_of.pop(person, ()):
                    self._known.pop(key, None)

    def _cached(self, own: frozenset[str]) -> tuple[int, frozenset[str]] | None:
        with self._lock:
            hit = self._known.get(own)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1], hit[2]

    def _remember(self, own: frozenset[str], person: int, ids: frozenset[str]) -> None:
        with self._lock:
            if len(self._known) >= CACHE_MAX:
                self._known.clear()
                self._keys_of.clear()
            earlier = self._known.get(own)
            if earlier is not None and earlier[1] != person:
                self._keys_of.get(earlier[1], set()).discard(own)
            self._known[own] = (time.monotonic() + self.ttl, person, ids)
            self._keys_of.setdefault(person, set()).add(own)
