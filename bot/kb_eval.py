"""Replay evaluation of the knowledge base on duplicate-labelled history.

Each report that has a labelled duplicate filed before it is asked as a new ticket
against only the reports filed before it (the index grows in time order, exactly as
it would in production), at the time it was filed (the order leans towards recent
entries, as of then); a hit is any of its earlier duplicates in the top k.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import numpy as np

from bot.knowledge import Entry, KnowledgeIndex


@dataclass(frozen=True)
class Report:
    id: str
    created: datetime
    summary: str
    description: str

    @property
    def problem(self) -> str:
        """The report as a ticket's problem: its summary as the headline, its description below."""
        return f"{self.summary}\n{self.description}"


def replay(reports: Iterable[Report], duplicates: dict[str, set[str]], ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """Replay `reports` in the order they were filed: each one with an earlier labelled duplicate
    is searched for, as a new ticket, among the reports filed before it. Returns R@k for each `k`
    (share of those queries with a duplicate in the top k), MRR, the number of queries and
    reports, and the median query time in milliseconds; None figures when there was no query."""
    ordered = sorted(reports, key=lambda r: (r.created, r.id))
    index = KnowledgeIndex()
    number: dict[str, int] = {}
    created = {r.id: r.created for r in ordered}
    hits = {k: 0 for k in ks}
    reciprocal, queries, latencies = 0.0, 0, []
    for i, report in enumerate(ordered):
        earlier = {d for d in duplicates.get(report.id, ()) if d in created and created[d] < report.created}
        if earlier:
            started = time.perf_counter()
            found = index.search(report.problem, limit=max(ks), now=report.created.timestamp())
            latencies.append((time.perf_counter() - started) * 1000)
            ranked = [m.ticket_id for m in found]
            wanted = {number[d] for d in earlier if d in number}
            rank = next((pos for pos, tid in enumerate(ranked) if tid in wanted), None)
            queries += 1
            if rank is not None:
                reciprocal += 1 / (rank + 1)
                for k in ks:
                    hits[k] += rank < k
        number[report.id] = i + 1
        index.add(Entry(i + 1, report.problem, at=report.created.timestamp()))
    result = {f"R@{k}": round(hits[k] / queries, 3) if queries else None for k in ks}
    result.update({"MRR": round(reciprocal / queries, 3) if queries else None, "queries": queries,
                   "reports": len(ordered)})
    if latencies:
        result["query_ms_p50"] = round(float(np.percentile(latencies, 50)), 2)
    return result
