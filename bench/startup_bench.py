"""Start-up benchmark: how fast the real server serves in each of its first seconds on a
large history, against its settled speed measured in the same run.

    .venv/bin/python -m bench.startup_bench                          # 100k and 1M resolved tickets (~15 min)
    .venv/bin/python -m bench.startup_bench --sizes 100k --output result.json
    .venv/bin/python -m bench.startup_bench --corpus-dir /tmp/kbc     # reuse kb_bench's synthetic corpus

For each size it makes a SQLite database in a temporary directory, imports that many
resolved tickets with the importer (`storage.importer.import_tickets`, as `helpdesk kb
import` does; their text comes from kb_bench's synthetic corpus), then starts the server
in a fresh process: `adapters.runtime.build` and `adapters.server.build_web_app` under an
aiohttp AppRunner on loopback, exactly as `helpdesk serve` wires them. From the moment
before `build`, two threads call `Desk.handle(requester, "new <problem>")` in a loop: each
call opens a ticket and asks the knowledge base for suggestions, so the search is on the
path. Calls completed in each of the first 10 seconds are counted, along with how many got
suggestions; then the threads pause until the knowledge base is ready (so a long build is
not also a flood of new tickets), and the settled rate is measured over
`--settle` seconds in the same process, and again with the knowledge base left out (the
like-for-like rate for seconds in which it was not ready yet, when calls skip the search).
A second start on the same database (`restart`)
shows what a server finds when an index is already on disk. One JSON document goes to
stdout, progress to stderr. Nothing is asserted. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import kb_bench  # noqa: E402

WINDOW = 10  # seconds after start counted one by one
THREADS = 2


def say(message: str) -> None:
    print(f"[startup_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ---------------------------------------------------------------- the server process


def child_main(cfg: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from aiohttp import web

    from adapters.runtime import build
    from adapters.server import build_web_app
    from bot.config import Settings

    problems = [f"{q['summary']}\n{q['description'][:1500]}" for q in json.loads(Path(cfg["queries"]).read_text())]
    settings = Settings.model_validate({"database_url": cfg["url"]})
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    done: list[tuple[float, bool]] = []  # (seconds since start, got suggestions)
    stop = threading.Event()
    paused = threading.Event()  # after the window, until the knowledge base is ready: no load, no table growth
    started = time.perf_counter()
    holder: dict[str, Any] = {}

    def client(n: int) -> None:
        while "runtime" not in holder and not stop.is_set():
            time.sleep(0.001)
        desk = holder["runtime"].desk
        actor = desk.actor(f"user{n}@corp.example", f"User {n}")
        i = n
        while not stop.is_set():
            if paused.is_set():
                time.sleep(0.05)
                continue
            reply = desk.handle(actor, "new " + problems[i % len(problems)])
            i += THREADS
            done.append((time.perf_counter() - started, bool(reply.suggestions)))

    async def start() -> web.AppRunner:
        runtime = build(settings, serving=True)
        holder["runtime"] = runtime
        runner = web.AppRunner(build_web_app(runtime, processes=True))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(THREADS)]
    for c in clients:
        c.start()
    runner = asyncio.run_coroutine_threadsafe(start(), loop).result()
    listening = time.perf_counter() - started
    time.sleep(max(0.0, WINDOW - (time.perf_counter() - started)))
    knowledge = holder["runtime"].desk.knowledge
    ready_in = None
    if knowledge is not None and not knowledge.ready.is_set():
        paused.set()
        knowledge.ready.wait(cfg["ready_timeout"])
        time.sleep(1.0)  # its catch-up with the change feed
        paused.clear()
    waited = time.perf_counter() - started
    if knowledge is not None and knowledge.ready.is_set():
        first_suggested = next((t for t, s in done if s), None)
        ready_in = round(first_suggested, 2) if first_suggested is not None else None
    settle_from = time.perf_counter() - started + 1.0
    time.sleep(1.0 + cfg["settle"])
    settle_to = time.perf_counter() - started
    # the same requests with the knowledge base left out, as while it is not ready: the like-for-like floor
    holder["runtime"].desk.knowledge = None
    bare_from = time.perf_counter() - started + 0.5
    time.sleep(0.5 + cfg["settle"])
    bare_to = time.perf_counter() - started
    holder["runtime"].desk.knowledge = knowledge
    stop.set()
    for c in clients:
        c.join(10)
    per_second = [0] * WINDOW
    suggested = [0] * WINDOW
    for t, s in done:
        if t < WINDOW:
            per_second[int(t)] += 1
            suggested[int(t)] += s
    settled_calls = sum(1 for t, _ in done if settle_from <= t < settle_to)
    settled = settled_calls / (settle_to - settle_from)
    bare = sum(1 for t, _ in done if bare_from <= t < bare_to) / (bare_to - bare_from)
    out = {
        "listening_after_s": round(listening, 3),
        "calls_per_second_first_10s": per_second,
        "with_suggestions_first_10s": suggested,
        "settled_calls_per_s": round(settled, 1),
        "ratio_to_settled_first_10s": [round(n / settled, 2) if settled else None for n in per_second],
        "settled_without_suggestions_calls_per_s": round(bare, 1),
        "ratio_to_settled_without_suggestions_first_10s": [round(n / bare, 2) if bare else None for n in per_second],
        "full_speed_from_second": next((i for i in range(WINDOW) if all(
            n >= 0.8 * (settled if s >= 0.5 * n else bare) for n, s in zip(per_second[i:], suggested[i:]))), None),
        "knowledge_ready": bool(knowledge is not None and knowledge.ready.is_set()),
        "first_suggestion_after_s": ready_in,
        "waited_for_ready_s": round(waited, 1),
        "settled_share_with_suggestions": round(sum(1 for t, s in done if settle_from <= t < settle_to and s)
                                                / max(1, settled_calls), 2),
        "entries_in_index": (getattr(knowledge, "entries", None) if not hasattr(knowledge, "index")
                             else len(knowledge.index)) if knowledge is not None else None,
        "rss_mb_settled": rss_mb(),
    }
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    holder["runtime"].close()
    return out


# ---------------------------------------------------------------- the parent


def make_database(path: Path, corpus: Path, size: int) -> dict[str, Any]:
    from datetime import datetime, timedelta, timezone

    from storage.database import make_engine, upgrade
    from storage.importer import import_tickets

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)

    def rows():
        for e in kb_bench.corpus_entries(corpus, 0, size):
            summary, _, description = e.problem.partition("\n")
            n = e.ticket_id - kb_bench.SYNTH_ID0
            created = base + timedelta(minutes=n)
            yield {"external_id": f"bench:BENCH-{n}", "summary": summary, "description": description,
                   "resolution": f"Applied the documented fix number {n % 97} and confirmed with the requester",
                   "category": "software", "created": created, "resolved": created + timedelta(hours=4)}

    t = time.perf_counter()
    added, _ = import_tickets(engine, rows(), lambda n: say(f"imported {n:,}") if n % 100_000 == 0 else None)
    engine.dispose()
    return {"imported": added, "import_s": round(time.perf_counter() - t, 1)}


def run_child(cfg: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "bench.startup_bench", "--child", json.dumps(cfg)], cwd=cfg["cwd"],
                          stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        return {"error": f"child exited with {proc.returncode} (see stderr)"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1m", help="resolved tickets of history (10k, 1m allowed)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds the settled rate is measured over")
    parser.add_argument("--ready-timeout", type=float, default=900.0, help="longest wait for the knowledge base")
    parser.add_argument("--no-restart", action="store_true", help="only the first start on each database")
    parser.add_argument("--corpus-dir", help="keep (and reuse) kb_bench's synthetic corpus here")
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_main(json.loads(args.child))))
        return 0

    sizes = kb_bench.parse_sizes(args.sizes)
    reports = kb_bench.load_reports(kb_bench.DATA)
    duplicates = kb_bench.load_duplicates(kb_bench.DATA)
    held_out, _, _ = kb_bench.split_sources(reports, duplicates, 500, 7)
    work = Path(tempfile.mkdtemp(prefix="startup_bench-"))
    folder = Path(args.corpus_dir) if args.corpus_dir else work
    folder.mkdir(parents=True, exist_ok=True)
    total = max(sizes) + kb_bench.EXTRA
    corpus = next((p for p in sorted(folder.glob("kb-corpus-s7-q500-n*.txt"))
                   if int(p.stem.rsplit("-n", 1)[1]) >= max(sizes)), None)
    if corpus is None:
        corpus = folder / f"kb-corpus-s7-q500-n{total}.txt"
        say(f"writing {total:,} synthetic entries …")
        kb_bench.write_corpus(corpus, kb_bench.DATA, total, 500, 7, os.cpu_count() or 1)
    queries = work / "queries.json"
    queries.write_text(json.dumps([{"summary": r.summary, "description": r.description} for r in held_out]))
    results: dict[str, Any] = {}
    try:
        for size in sizes:
            db = work / f"history-{size}.db"
            say(f"--- {size:,}: importing …")
            seed = make_database(db, corpus, size)
            say(f"{size:,}: imported in {seed['import_s']} s; first start …")
            cfg = {"url": f"sqlite:///{db}", "queries": str(queries), "settle": args.settle,
                   "ready_timeout": args.ready_timeout, "cwd": str(work)}
            entry: dict[str, Any] = {"seed": seed, "first_start": run_child(cfg)}
            say(f"{size:,}: first start {entry['first_start']}")
            if not args.no_restart:
                entry["restart"] = run_child(cfg)
                say(f"{size:,}: restart {entry['restart']}")
            results[str(size)] = entry
            for p in work.glob(f"history-{size}.db*"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {"benchmark": "startup_bench", "commit": git_head(), "cpu_count": os.cpu_count(),
           "loadavg": [round(x, 2) for x in os.getloadavg()], "threads": THREADS, "window_s": WINDOW,
           "request": "Desk.handle(requester, 'new <real problem text>'): a ticket written and the knowledge base asked",
           "target": "every one of the first 10 seconds from second 5 on at >= 0.8 x the settled rate",
           "sizes": results}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
