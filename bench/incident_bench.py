"""Major incidents: how well surges are grouped, and what grouping costs at intake.

    .venv/bin/python -m bench.incident_bench            # ~2 min on SQLite
    .venv/bin/python -m bench.incident_bench --orders 10 --output result.json

Grouping: tickets arrive one by one in a shuffled order (`--orders` of them), 20 s apart, the
SLA sweep looking for surges after each, exactly as `helpdesk serve` does; precision and recall
are those of the proposal holding most of the surge's tickets, and `proposals` counts how many
were made (one is right). Scenarios: the issue's burst of 20 alike tickets among 20 unrelated
ones; the same with 6 more that share only a symptom ("keeps disconnecting"); 50 alike among 20.

Cost: the time of `new` while no incident is open (the floor) and while one with 50 tickets is
(each new ticket is compared with it), and of one look for surges over a window of N tickets, then
of the next look once 25 more were opened (a surge still growing).
Medians in milliseconds; ratios to the floor hold on a busy machine, absolute figures do not.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.settings import AppSettings  # noqa: E402
from bot.desk import Desk  # noqa: E402
from storage.database import make_engine, upgrade  # noqa: E402
from storage.repository import SqlStore  # noqa: E402
from tests.conftest import SETTINGS, Clock  # noqa: E402
from tests.incident_texts import SAME_SYMPTOM, UNRELATED, VPN_OUTAGE  # noqa: E402
from sqlalchemy import select  # noqa: E402
from storage.schema import incident_proposal_members  # noqa: E402


def fresh_desk(directory: Path) -> tuple[Desk, Clock, object]:
    """A desk on a new SQLite file, with the test suite's settings."""
    engine = make_engine(f"sqlite:///{directory / f'bench-{time.monotonic_ns()}.db'}")
    upgrade(engine)
    clock = Clock()
    return Desk(AppSettings.model_validate(SETTINGS), SqlStore(engine), clock=clock), clock, engine


def grouping(alike: tuple[str, ...], others: tuple[str, ...], seed: int, directory: Path) -> dict:
    """One arrival order: precision and recall of the best proposal, and how many were made."""
    desk, clock, engine = fresh_desk(directory)
    order = [(t, True) for t in alike] + [(t, False) for t in others]
    random.Random(seed).shuffle(order)
    truth = set()
    for n, (text, is_alike) in enumerate(order):
        clock.advance(seconds=20)
        reply = desk.handle(desk.actor(f"user{n}@corp.example", f"User {n}"), f"new {text}")
        if is_alike:
            truth.add(reply.ticket.id)
        desk.sweep()
    with engine.connect() as conn:
        rows = conn.execute(select(incident_proposal_members.c.proposal_id, incident_proposal_members.c.ticket_id)).all()
    engine.dispose()
    groups: dict[int, set[int]] = {}
    for proposal, ticket in rows:
        groups.setdefault(proposal, set()).add(ticket)
    if not groups:
        return {"proposals": 0, "precision": 0.0, "recall": 0.0}
    best = max(groups.values(), key=lambda g: len(g & truth))
    return {"proposals": len(groups), "precision": len(best & truth) / len(best), "recall": len(best & truth) / len(truth)}


def intake_cost(directory: Path, repeats: int) -> dict:
    """Milliseconds per `new` on two help desks alike but for one thing: in one, an incident of 50
    tickets is open (each new ticket is compared with it). Their tickets are timed in turn, so a
    busy machine slows both alike; the floor is the desk with no incident."""
    desks = []
    for with_incident in (False, True):
        desk, clock, engine = fresh_desk(directory)
        bob = desk.actor("bob@corp.example")
        for n, text in enumerate(UNRELATED * 3):
            clock.advance(seconds=5)
            desk.handle(desk.actor(f"old{n}@corp.example"), f"new {text}")
        first = desk.handle(desk.actor("seed@corp.example"), f"new {VPN_OUTAGE[0]}").ticket.id
        if with_incident:
            assert desk.handle(bob, f"incident {first} VPN outage").ok
        for n, text in enumerate(VPN_OUTAGE[1:]):
            clock.advance(seconds=5)
            reply = desk.handle(desk.actor(f"member{n}@corp.example"), f"new {text}")
            if with_incident and reply.ticket.parent_id is None:
                desk.handle(bob, f"link {reply.ticket.id} {first}")
        desks.append((desk, clock, engine))
    spent: dict[str, list[float]] = {"floor": [], "open": [], "joining": []}
    for n in range(repeats):
        for tag, (desk, clock, _), text in (("floor", desks[0], UNRELATED[n % 20] + f" (case {n})"),
                                            ("open", desks[1], UNRELATED[n % 20] + f" (case {n})"),
                                            ("joining", desks[1], VPN_OUTAGE[n % 50] + " again")):
            clock.advance(seconds=5)
            started = time.perf_counter()
            reply = desk.handle(desk.actor(f"{tag}{n}@corp.example"), f"new {text}")
            spent[tag].append((time.perf_counter() - started) * 1000)
            assert reply.ok, reply.text
    for _, _, engine in desks:
        engine.dispose()
    floor, opened, joining = (statistics.median(spent[k]) for k in ("floor", "open", "joining"))
    return {"new_ms_no_incident": round(floor, 2), "new_ms_incident_of_50_open": round(opened, 2),
            "new_ms_joining_it": round(joining, 2), "ratio_open_to_floor": round(opened / floor, 2),
            "ratio_joining_to_floor": round(joining / floor, 2)}


def surge_cost(directory: Path, sizes: list[int], more: int = 25) -> dict:
    """Milliseconds for one look at a window of N open tickets (nothing proposed before), and for
    the next look once `more` tickets were opened after it (a surge still growing: the sweep looks
    every `sweep_seconds`, each time at a window a little larger than the last)."""
    found = {}
    texts = [(VPN_OUTAGE + UNRELATED + SAME_SYMPTOM)[n % 76] + f" #{n}" for n in range(max(sizes) + more)]
    for size in sizes:
        desk, clock, engine = fresh_desk(directory)
        for n, text in enumerate(texts[:size]):
            clock.advance(seconds=600 / size)
            desk.handle(desk.actor(f"u{n}@corp.example"), f"new {text}")
        started = time.perf_counter()
        desk.find_surges()
        found[f"window_{size}_ms"] = round((time.perf_counter() - started) * 1000, 1)
        for n, text in enumerate(texts[size:size + more], start=size):
            clock.advance(seconds=10 / more)
            desk.handle(desk.actor(f"u{n}@corp.example"), f"new {text}")
        started = time.perf_counter()
        desk.find_surges()
        found[f"window_{size}_then_{more}_more_ms"] = round((time.perf_counter() - started) * 1000, 1)
        engine.dispose()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5, help="shuffled arrival orders per scenario (default 5)")
    parser.add_argument("--repeats", type=int, default=40, help="tickets timed per intake case (default 40)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    scenarios = {
        "20_alike_among_20_unrelated": (VPN_OUTAGE[:20], UNRELATED),
        "20_alike_among_20_unrelated_and_6_same_symptom": (VPN_OUTAGE[:20], UNRELATED + SAME_SYMPTOM),
        "50_alike_among_20_unrelated": (VPN_OUTAGE, UNRELATED),
    }
    result: dict = {"orders": args.orders, "grouping": {}}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, (alike, others) in scenarios.items():
            runs = [grouping(alike, others, seed, directory) for seed in range(args.orders)]
            result["grouping"][name] = {
                "precision_mean": round(statistics.mean(r["precision"] for r in runs), 3),
                "recall_mean": round(statistics.mean(r["recall"] for r in runs), 3),
                "precision_min": round(min(r["precision"] for r in runs), 3),
                "recall_min": round(min(r["recall"] for r in runs), 3),
                "proposals": [r["proposals"] for r in runs],
            }
            print(f"{name}: {result['grouping'][name]}", file=sys.stderr, flush=True)
        result["intake"] = intake_cost(directory, args.repeats)
        print(f"intake: {result['intake']}", file=sys.stderr, flush=True)
        result["surge_look"] = surge_cost(directory, [25, 100, 490])
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
