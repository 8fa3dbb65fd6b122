"""Knowledge-base benchmark: suggestion latency, build time, incremental adds and memory
at 10,000 / 100,000 / 1,000,000 entries, plus replay quality on the real Hadoop reports.

    .venv/bin/python -m bench.kb_bench                               # 10k, 100k, 1M: ~10 min on an idle 2-core box
    .venv/bin/python -m bench.kb_bench --quick                       # 10k, 100k only: ~2-3 min
    .venv/bin/python -m bench.kb_bench --sizes 10k,300k --queries 200
    .venv/bin/python -m bench.kb_bench --output result.json --profile
    .venv/bin/python -m bench.kb_bench --data path/to/gitbugs-hadoop  # another copy of the two CSV files

Run from the checkout's root after `make install`. The real reports are
bench/data/gitbugs-hadoop/ (shipped with the project, CC BY 4.0: see SOURCE.md there).

Larger corpora are synthesised from the 2,503 real GitBugs Hadoop reports by
recombining their text (see `Synth`). They are never verbatim copies, so the postings
and the vocabulary grow about as a real history's would. Each size is built and
measured in a fresh child process of its own (`--child`), so one size's memory never
counts towards another's. The smallest size's child also runs the live-adds scenario:
49,999 `add()` calls into an empty index, as a process that never bulk-loaded sees them.
One JSON document goes to stdout and progress goes to stderr. Nothing touches the
network. This is not a test, and nothing here is asserted. See bench/README.md.
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/kb_bench.py` as well as `python -m bench.kb_bench`
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "gitbugs-hadoop"  # shipped with the project; --data points elsewhere
REPORTS_CSV = "hadoop_bugs.csv"
DUPLICATES_CSV = "hadoop_bugs-combined.csv"

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
P95_TARGETS_MS = {100_000: 20.0, 1_000_000: 100.0}
RSS_TARGET_MB = {1_000_000: 1024.0}
QUALITY_TARGETS = {"R@5": 0.85, "MRR": 0.72}  # issue 16 item 7
BACKGROUND_SIZE = 100_000
EXTRA = 2_000  # corpus entries beyond the largest size: the incremental adds
CHUNK = 25_000  # corpus entries per generation task (deterministic per chunk)
BODY_CAP = 2_000  # synthetic descriptions stop here; the index reads only the first 1,000 body chars
SEP = "\x1e"  # stands for "\n" inside one corpus line


def say(message: str) -> None:
    print(f"[kb_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- real data


def load_reports(data: Path):
    from bot.kb_eval import Report

    with open(data / REPORTS_CSV, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    reports = []
    for row in rows:
        reports.append(Report(
            id=row["Issue id"].strip(),
            created=datetime.strptime(row["Created"].strip(), "%d/%b/%y %H:%M"),
            summary=(row["Summary"] or "").strip(),
            description=(row["Description"] or "").replace("\r\n", "\n").replace("\r", "\n").replace(SEP, " "),
        ))
    return reports


def load_duplicates(data: Path) -> dict[str, set[str]]:
    """Both directions, every id of a comma-separated cell."""
    duplicates: dict[str, set[str]] = {}
    with open(data / DUPLICATES_CSV, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            a = (row["Issue id"] or "").strip()
            for b in (row["Duplicate id"] or "").split(","):
                b = b.strip()
                if a and b and a != b:
                    duplicates.setdefault(a, set()).add(b)
                    duplicates.setdefault(b, set()).add(a)
    return duplicates


def split_sources(reports, duplicates, queries: int, seed: int):
    """Held-out query reports and the synthesis pool are disjoint, and no report that
    takes part in a duplicate pair is ever a synthesis source (so the background holds
    no perturbed copy of a report the quality replay looks for)."""
    rng = random.Random(seed)
    in_pairs = {r.id for r in reports if r.id in duplicates}
    free = [r for r in reports if r.id not in in_pairs]
    rng.shuffle(free)
    held_out = free[:queries]
    pool = free[queries:]
    return held_out, pool, len(in_pairs)


# ---------------------------------------------------------------- synthesis

_SLOT = re.compile(
    r"(?P<num>\d+)"  # numbers, version parts, ids inside blk_1073741825 and the like
    r"|(?<![A-Za-z0-9])(?P<ident>(?:[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+)(?:[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z]+|[A-Z]+)+)"  # CamelCase
    r"|(?<![A-Za-z0-9])(?P<word>[a-z]{4,})(?![A-Za-z0-9])"  # plain lower-case words (only perturbed in headlines)
)
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _template(text: str, words: bool) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
    """Text as literal parts with perturbable slots: ('Fix ', 'NameNode', ' in ', '3', '.', '3')."""
    parts: list[str] = []
    slots: list[tuple[int, str]] = []
    at = 0
    for m in _SLOT.finditer(text):
        kind = m.lastgroup
        if kind == "word" and not words:
            continue
        if m.start() > at:
            parts.append(text[at:m.start()])
        slots.append((len(parts), kind))
        parts.append(m.group())
        at = m.end()
    if at < len(text):
        parts.append(text[at:])
    return tuple(parts), tuple(slots)


class Synth:
    """Synthetic resolved tickets recombined from real reports.

    * headline: a real summary (35% of the time its first words spliced onto the tail of
      another summary); numbers changed (p=0.7: a fresh random number of the same digit
      count 55% of the time, else a real number of that length drawn by frequency),
      CamelCase identifiers changed (p=0.5: 40% recomposed with a part of another real
      identifier, NameNode -> NameScanner, else swapped for another real identifier
      drawn by frequency), plain words swapped for a word of another summary (p=0.15,
      so word frequencies stay Zipf-like); at least one of these always happens;
    * body: the target length is drawn from the real description lengths (empty ones
      included), capped at BODY_CAP, and the body is cut there; sentences/lines come from the base report (in order,
      or shuffled 30% of the time) mixed with sentences of 1-2 donor reports (35% each
      line), with numbers (p=0.6) and identifiers (p=0.3) changed as above.

    The fresh-number and recomposition rates were set so the index vocabulary grows
    like the real reports' does (Heaps' law fitted on them, see
    "real_vocabulary_heaps_law" in the JSON) instead of exploding with unique tokens.
    """

    HEAD_P = {"num": 0.7, "ident": 0.5, "word": 0.15}
    BODY_P = {"num": 0.6, "ident": 0.3, "word": 0.0}
    NEW_NUMBER = 0.55  # else a real number with as many digits, drawn by frequency
    RECOMPOSE = 0.4  # else another real identifier, drawn by frequency

    def __init__(self, pool) -> None:
        self.heads = [_template(r.summary, True) for r in pool]
        self.bodies = []
        for r in pool:
            sentences = []
            for line in r.description.split("\n"):
                line = line.strip()
                if not line:
                    continue
                for s in (_SENTENCE.split(line) if len(line) > 200 else (line,)):
                    sentences.append(_template(s[:600], False))
            self.bodies.append(sentences)
        self.lengths = sorted(len(r.description.strip()) for r in pool)
        words, parts, idents, numbers = [], [], [], []
        for r in pool:
            for m in _SLOT.finditer(r.summary):
                if m.lastgroup == "word":
                    words.append(m.group())
            for m in _SLOT.finditer(r.summary + " " + r.description[:2000]):
                if m.lastgroup == "ident":
                    idents.append(m.group())
                    parts.extend(_PART.findall(m.group()))
                elif m.lastgroup == "num":
                    numbers.append(m.group())
        self.words = words  # with repeats: drawing from it follows the real frequencies
        self.parts = [p for p in parts if len(p) > 1] or ["Node"]
        self.idents = idents or ["NameNode"]
        self.numbers: dict[int, list[str]] = {}
        for n in numbers:
            self.numbers.setdefault(len(n), []).append(n)

    def _fill(self, template, p: dict[str, float], rng: random.Random, at_least_one: bool = False) -> str:
        parts, slots = template
        if not slots:
            return "".join(parts)
        out = list(parts)
        rand = rng.random
        chosen = [(i, kind) for i, kind in slots if rand() < p[kind]]
        if at_least_one and not chosen:
            chosen = [slots[rng.randrange(len(slots))]]
        for i, kind in chosen:
            value = out[i]
            if kind == "num":
                n = len(value)
                same = self.numbers.get(n)
                if same and rand() >= self.NEW_NUMBER:
                    out[i] = same[rng.randrange(len(same))]
                else:
                    out[i] = str(rng.randrange(10 ** (n - 1), 10 ** n)) if n > 1 else str(rng.randrange(10))
            elif kind == "ident" and rand() >= self.RECOMPOSE:
                out[i] = self.idents[rng.randrange(len(self.idents))]
            elif kind == "ident":
                pieces = _PART.findall(value)
                j = rng.randrange(len(pieces))
                new = self.parts[rng.randrange(len(self.parts))]
                if j or value[:1].isupper():
                    new = new[:1].upper() + new[1:]
                else:
                    new = new.lower()
                pieces[j] = new
                out[i] = "".join(pieces)
            else:
                out[i] = self.words[rng.randrange(len(self.words))]
        return "".join(out)

    def problem(self, rng: random.Random) -> str:
        n = len(self.heads)
        base = rng.randrange(n)
        head = self._fill(self.heads[base], self.HEAD_P, rng, at_least_one=True)
        if rng.random() < 0.35:
            other = self._fill(self.heads[rng.randrange(n)], self.HEAD_P, rng).split()
            mine = head.split()
            if len(mine) > 2 and len(other) > 2:
                head = " ".join(mine[: rng.randrange(1, len(mine))] + other[rng.randrange(1, len(other)):])
        target = min(BODY_CAP, self.lengths[rng.randrange(len(self.lengths))])
        if target == 0:
            return head
        own = list(self.bodies[base])
        if rng.random() < 0.3:
            rng.shuffle(own)
        donors = [self.bodies[rng.randrange(n)] for _ in range(rng.randrange(1, 3))]
        donors = [d for d in donors if d]
        if not own and not donors:
            return head
        lines, size, k = [], 0, 0
        while size < target:
            if own and (k < len(own)) and (rng.random() >= 0.35 or not donors):
                sentence = own[k]
                k += 1
            elif donors:
                d = donors[rng.randrange(len(donors))]
                sentence = d[rng.randrange(len(d))]
            else:
                break
            line = self._fill(sentence, self.BODY_P, rng)
            lines.append(line)
            size += len(line) + 1
        body = "\n".join(lines)
        if len(body) > target:  # cut at a word boundary: lengths follow the real distribution
            cut = body.rfind(" ", 0, target)
            body = body[: cut if cut > target // 2 else target]
        return head + "\n" + body


# ---------------------------------------------------------------- corpus file

_worker_synth: Synth | None = None


def _worker_init(data: str, queries: int, seed: int) -> None:
    global _worker_synth
    reports = load_reports(Path(data))
    _, pool, _ = split_sources(reports, load_duplicates(Path(data)), queries, seed)
    _worker_synth = Synth(pool)


def _worker_chunk(task: tuple[int, int, int]) -> str:
    seed, chunk, count = task
    rng = random.Random(f"kb-bench:{seed}:{chunk}")  # a chunk's text never depends on the total size
    assert _worker_synth is not None
    return "".join(_worker_synth.problem(rng).replace("\n", SEP) + "\n" for _ in range(count))


def write_corpus(path: Path, data: Path, total: int, queries: int, seed: int, workers: int) -> float:
    started = time.perf_counter()
    tasks = [(seed, c, min(CHUNK, total - c * CHUNK)) for c in range(math.ceil(total / CHUNK))]
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(str(data), queries, seed)) as pool, open(path, "w", encoding="utf-8") as f:
        for done, text in enumerate(pool.imap(_worker_chunk, tasks), 1):
            f.write(text)
            if done % 8 == 0 or done == len(tasks):
                say(f"corpus: {min(done * CHUNK, total):,}/{total:,} entries")
    return time.perf_counter() - started


SYNTH_ID0 = 10_000_000  # synthetic ticket ids start here; real reports in a replay are 1..2503


def corpus_entries(path: Path, start: int, stop: int) -> Iterator:
    from bot.knowledge import Entry

    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if i >= stop:
                break
            yield Entry(SYNTH_ID0 + i, line[:-1].replace(SEP, "\n"))


def corpus_stats(path: Path, reports, sample: int = 20_000) -> dict[str, Any]:
    from bot.knowledge import split_problem, tokens

    real_heads = {r.summary for r in reports}
    heads, hl, bl, terms = [], [], [], 0
    for e in corpus_entries(path, 0, sample):
        h, b = split_problem(e.problem)
        heads.append(h)
        hl.append(len(h))
        bl.append(len(b))
        terms += len(set(tokens(h) + tokens(b[:1000])))
    rh = sorted(len(r.summary) for r in reports)
    rb = sorted(len(r.description.strip()) for r in reports)
    real_terms = sum(len(set(tokens(r.summary) + tokens(r.description.strip()[:1000]))) for r in reports) / len(reports)

    def pct(v):
        v = sorted(v)
        return {f"p{p}": v[min(len(v) - 1, int(p / 100 * len(v)))] for p in (10, 50, 90, 99)}

    return {
        "sample": len(heads),
        "headline_chars": pct(hl), "real_summary_chars": pct(rh),
        "body_chars": pct(bl), "real_description_chars": pct(rb),
        "distinct_terms_per_entry": round(terms / max(1, len(heads)), 1),
        "real_distinct_terms_per_report": round(real_terms, 1),
        "distinct_headline_share": round(len(set(heads)) / max(1, len(heads)), 4),
        "headline_equal_to_a_real_summary_share": round(sum(h in real_heads for h in heads) / max(1, len(heads)), 4),
    }


def heaps_reference(reports, seed: int) -> dict[str, Any]:
    """Vocabulary growth of the real reports (Heaps' law V = K n^beta, fitted over
    100..2,503 reports) extrapolated to the bench sizes: what the index vocabulary of a
    real history that size might be, to set the synthetic vocabulary against."""
    from bot.knowledge import split_problem, tokens

    rs = list(reports)
    random.Random(seed).shuffle(rs)
    vocab: set[str] = set()
    points = []
    marks = {100, 250, 500, 1000, 2000, len(rs)}
    for i, r in enumerate(rs, 1):
        h, b = split_problem(r.problem)
        vocab.update(tokens(h))
        vocab.update(tokens(b[:1000]))
        if i in marks:
            points.append((i, len(vocab)))
    xs = [math.log(a) for a, _ in points]
    ys = [math.log(b) for _, b in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    k = math.exp(my - beta * mx)
    return {"real_points": points, "beta": round(beta, 3), "K": round(k, 1),
            "extrapolated": {str(n): int(k * n ** beta) for n in (10_000, 100_000, 1_000_000)}}


# ---------------------------------------------------------------- measuring (child side)


def status_kb() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


def dist(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Nearest-rank percentiles, in the unit given."""
    if not values:
        return {"n": 0}
    v = sorted(values)

    def rank(p: float) -> float:
        return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))]

    return {"n": len(v), "p50": round(rank(50), digits), "p95": round(rank(95), digits),
            "p99": round(rank(99), digits), "max": round(v[-1], digits), "mean": round(sum(v) / len(v), digits)}


def index_memory(idx) -> dict[str, float]:
    """Where the index's memory is, by structure (MB; Python objects by sys.getsizeof)."""
    size = sys.getsizeof
    seg = sum(s.ptr.nbytes + s.docs.nbytes + s.tf.nbytes for s in idx.segments)
    seg_ptr = sum(s.ptr.nbytes for s in idx.segments)
    per_slot = sum(getattr(idx, n).nbytes for n in ("doc_len", "alive", "public", "ticket_of")) + idx.df.nbytes
    heads = size(idx.headlines) + sum(size(h) for h in idx.headlines)
    vocab = size(idx.vocab) + sum(size(k) + size(v) for k, v in idx.vocab.items())
    slot_of = size(idx.slot_of) + sum(size(k) + size(v) for k, v in idx.slot_of.items())
    m = 1024 * 1024
    return {"segments_csr": round(seg / m, 1), "of_which_ptr_arrays": round(seg_ptr / m, 1),
            "postings": int(sum(len(s.docs) for s in idx.segments)), "segments": len(idx.segments),
            "per_slot_arrays_and_df": round(per_slot / m, 1), "headlines": round(heads / m, 1),
            "vocab_dict": round(vocab / m, 1), "slot_of_dict": round(slot_of / m, 1),
            "pending_entries": idx.pending.count}


def top_functions(profile, n: int = 12) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(profile)
    total = stats.total_tt or 1
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, _) in stats.stats.items():
        rows.append({"function": f"{Path(filename).name}:{line}({name})", "calls": nc,
                     "self_s": round(tt, 3), "cumulative_s": round(ct, 3), "self_share": round(tt / total, 3)})
    rows.sort(key=lambda r: -r["self_s"])
    return rows[:n]


def timed_searches(idx, texts: list[str]) -> tuple[list[float], int]:
    times, found = [], 0
    for text in texts:
        t = time.perf_counter()
        result = idx.search(text, limit=5)
        times.append((time.perf_counter() - t) * 1000)
        found += bool(result)
    return times, found


def mapped_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """Searches over an index generation on disk, memory-mapped as the server maps it, in a
    process that never built anything (its RSS is what a server's index costs)."""
    from bot.knowledge import KnowledgeIndex, MappedBase

    queries = json.loads(Path(cfg["queries"]).read_text())
    texts = [f"{q['summary']}\n{q['description']}" for q in queries]
    before = status_kb()["VmRSS"]
    t = time.perf_counter()
    idx = KnowledgeIndex(MappedBase(Path(cfg["mapped"])))
    open_ms = (time.perf_counter() - t) * 1000
    timed_searches(idx, texts[:20])
    times, found = timed_searches(idx, texts)
    after = status_kb()
    return {"entries": len(idx), "open_ms": round(open_ms, 1), "search_ms": {**dist(times), "with_results": found},
            "rss_mb": mb(after["VmRSS"]), "rss_growth_mb": mb(after["VmRSS"] - before), "peak_rss_mb": mb(after["VmHWM"]),
            "files_mb": round(sum(p.stat().st_size for p in Path(cfg["mapped"]).iterdir()) / 2**20, 1)}


def child_main(cfg: dict[str, Any]) -> dict[str, Any]:
    import cProfile

    if cfg.get("mapped"):
        return mapped_child(cfg)

    from bot import kb_eval
    from bot.knowledge import Entry, KnowledgeIndex

    size, corpus = cfg["size"], Path(cfg["corpus"])
    queries = json.loads(Path(cfg["queries"]).read_text())
    texts = [f"{q['summary']}\n{q['description']}" for q in queries]
    out: dict[str, Any] = {"entries": size, "loadavg_at_start": loadavg()}
    tag = f"{size:,}"

    # Reading the corpus alone (it is part of the bulk_load figure below; the page cache is warm after this)
    t = time.perf_counter()
    for _ in corpus_entries(corpus, 0, size):
        pass
    out["corpus_read_s"] = round(time.perf_counter() - t, 2)
    gc.collect()
    before = status_kb()
    out["rss_before_build_mb"] = mb(before["VmRSS"])

    idx = KnowledgeIndex()
    seals: list[float] = []
    seal = idx.seal

    def timed_seal() -> None:
        t = time.perf_counter()
        seal()
        seals.append((time.perf_counter() - t) * 1000)

    idx.seal = timed_seal  # instance attribute: add() and bulk_load() call self.seal()
    say(f"{tag}: bulk_load …")
    t, c = time.perf_counter(), time.process_time()
    loaded = idx.bulk_load(corpus_entries(corpus, 0, size))
    build_s, build_cpu = time.perf_counter() - t, time.process_time() - c
    after = status_kb()
    gc.collect()
    after_gc = status_kb()
    trimmed = None
    try:  # diagnostic: how much of the RSS is freed heap that glibc has not handed back
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed = mb(status_kb()["VmRSS"])
    except (OSError, AttributeError):
        pass
    out["build"] = {"loaded": loaded, "bulk_load_s": round(build_s, 2), "cpu_s": round(build_cpu, 2),
                    "us_per_entry": round(build_s / max(1, loaded) * 1e6, 1), "seal_ms": dist(seals, 1),
                    "vocab": len(idx.vocab)}
    out["memory"] = {"rss_after_build_mb": mb(after["VmRSS"]), "rss_after_gc_mb": mb(after_gc["VmRSS"]),
                     "peak_rss_mb": mb(after_gc["VmHWM"]), "rss_after_malloc_trim_mb": trimmed,
                     "rss_growth_from_build_mb": mb(after_gc["VmRSS"] - before["VmRSS"]),
                     "index_structures_mb": index_memory(idx)}
    say(f"{tag}: built in {build_s:.1f} s ({build_s / max(1, loaded) * 1e6:.0f} µs/entry), "
        f"RSS {mb(after_gc['VmRSS'])} MB (peak {mb(after_gc['VmHWM'])} MB), vocab {len(idx.vocab):,}")

    # Suggestion latency: held-out real reports, as a new ticket would be (summary + description)
    timed_searches(idx, texts[:20])  # warm-up
    times, found = timed_searches(idx, texts)
    out["search_ms"] = dist(times)
    out["search_ms"]["with_results"] = found
    say(f"{tag}: search p50 {out['search_ms']['p50']} ms, p95 {out['search_ms']['p95']} ms")
    if cfg.get("profile"):
        prof = cProfile.Profile()
        prof.runcall(timed_searches, idx, texts[:100])
        out["search_profile_top"] = top_functions(prof)

    if cfg.get("baseline"):
        from rapidfuzz import fuzz, process

        heads = idx.headlines[:size]
        n = cfg["baseline"]
        bt = []
        for q in queries[:n]:
            t = time.perf_counter()
            process.extract(q["summary"], heads, scorer=fuzz.token_set_ratio, limit=5)
            bt.append((time.perf_counter() - t) * 1000)
        out["baseline_bruteforce_ms"] = dist(bt, 1)
        out["baseline_bruteforce_ms"]["how"] = ("rapidfuzz process.extract(summary, all headlines, "
                                                "scorer=fuzz.token_set_ratio, limit=5), no processor")
        say(f"{tag}: brute force p50 {out['baseline_bruteforce_ms']['p50']} ms over {n} queries")

    # Incremental adds after the build (pending area; a running process seals them now and then), then searches
    adds = []
    for entry in corpus_entries(corpus, size, size + cfg["adds"]):
        t = time.perf_counter()
        idx.add(entry)
        adds.append((time.perf_counter() - t) * 1000)
    out["add_ms"] = dist(adds)
    times, _ = timed_searches(idx, texts[: cfg["after_add_queries"]])
    out["search_ms_after_adds"] = dist(times)
    out["search_ms_after_adds"]["pending_entries"] = idx.pending.count
    out["search_ms_after_adds"]["segments"] = len(idx.segments)
    out["add_ms"]["slowest"] = [round(x, 1) for x in sorted(adds)[-3:][::-1]]

    rng = random.Random(size)
    victims = rng.sample(range(SYNTH_ID0, SYNTH_ID0 + size), min(size, cfg["removes"]))
    rem = []
    for ticket_id in victims:
        t = time.perf_counter()
        idx.remove(ticket_id)
        rem.append((time.perf_counter() - t) * 1000)
    out["remove_ms"] = dist(rem, 4)
    say(f"{tag}: add mean {out['add_ms']['mean']} ms p95 {out['add_ms']['p95']} ms; remove mean {out['remove_ms']['mean']} ms")

    if cfg.get("background"):
        reports = load_reports(Path(cfg["data"]))
        duplicates = load_duplicates(Path(cfg["data"]))
        synthetic_top = [0]
        search = idx.search

        def counting_search(text, **kwargs):
            found = search(text, **kwargs)
            synthetic_top[0] += bool(found) and found[0].ticket_id >= SYNTH_ID0
            return found

        idx.search = counting_search
        kb_eval.KnowledgeIndex = lambda: idx  # the replay protocol, unchanged, over this background
        t = time.perf_counter()
        result = kb_eval.replay(reports, duplicates)
        result["background_entries"] = len(idx) - len(reports)
        result["queries_with_a_synthetic_top1"] = synthetic_top[0]
        result["seconds"] = round(time.perf_counter() - t, 1)
        out["quality_in_background"] = result
        say(f"{tag}: replay inside the background: {result}")

    if cfg.get("live"):
        # A running process that never bulk-loaded: SEAL_AT - 1 (49,999) add() calls into a fresh
        # index, each timed (seals and segment merges included), then searches over whatever
        # pending area and segments that left, then seal() and the same searches again.
        from bot import knowledge

        n = cfg["live"]
        say(f"live adds: {n:,} add() calls into a fresh index …")
        del idx
        gc.collect()
        fresh = KnowledgeIndex()
        live_adds = []
        for entry in corpus_entries(corpus, 0, n):
            t = time.perf_counter()
            fresh.add(entry)
            live_adds.append((time.perf_counter() - t) * 1000)
        state = {"pending_entries": fresh.pending.count, "segments": len(fresh.segments)}
        times, _ = timed_searches(fresh, texts[: cfg["live_queries"]])
        profile_top = None
        if cfg.get("profile"):
            prof = cProfile.Profile()
            prof.runcall(timed_searches, fresh, texts[:50])
            profile_top = top_functions(prof, 8)
        t = time.perf_counter()
        fresh.seal()
        seal_ms = (time.perf_counter() - t) * 1000
        sealed, _ = timed_searches(fresh, texts[: cfg["live_queries"]])
        slow = sorted(live_adds)[-10:]
        out["live_adds"] = {
            "adds": n, "adds_s": round(sum(live_adds) / 1000, 1), "add_ms": dist(live_adds),
            "slowest_adds_ms": [round(x, 1) for x in reversed(slow)],
            "adds_over_100ms": sum(x > 100 for x in live_adds),
            "state_after": state, "search_ms": dist(times),
            "final_seal_ms": round(seal_ms, 1), "segments_after_seal": len(fresh.segments),
            "search_ms_after_seal": dist(sealed),
            "settings": {k: getattr(knowledge, k) for k in ("SEAL_AT", "SEAL_AT_LIVE", "SMALL_SEGMENTS", "SMALL_POSTINGS")
                         if hasattr(knowledge, k)}}
        if profile_top:
            out["live_adds"]["search_profile_top"] = profile_top
        say(f"live adds: search p95 {out['live_adds']['search_ms']['p95']} ms with {state}, "
            f"slowest add {slow[-1]:.0f} ms; after seal() p95 {out['live_adds']['search_ms_after_seal']['p95']} ms")

    if cfg.get("write"):  # the index as the builder process writes it, for the mapped child
        from bot.knowledge import write_base

        fresh = KnowledgeIndex()
        fresh.bulk_load(corpus_entries(corpus, 0, size))
        t = time.perf_counter()
        write_base(fresh, Path(cfg["write"]), None)
        out["write_base_s"] = round(time.perf_counter() - t, 1)

    out["loadavg_at_end"] = loadavg()
    if cfg.get("profile"):
        small = KnowledgeIndex()
        prof = cProfile.Profile()
        prof.runcall(small.bulk_load, corpus_entries(corpus, 0, min(size, 10_000)))
        out["build_profile_top_10k"] = top_functions(prof)
    return out


# ---------------------------------------------------------------- the run (parent side)


def run_child(cfg: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.kb_bench", "--child", json.dumps(cfg)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return {"entries": cfg["size"], "error": f"child exited with {proc.returncode} (see stderr)"}
    result = json.loads(proc.stdout)
    result["child_wall_s"] = round(time.perf_counter() - started, 1)
    return result


def git_state(path: str) -> dict[str, Any]:
    """Which bot/knowledge.py was measured (the commit, and whether the file had local edits)."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("log", "-1", "--format=%h", "--", path) or None,
            "modified": bool(git("status", "--porcelain", "--", path))}


def shown(path: Path) -> str:
    """A path for the JSON: relative to the checkout when inside it, so no machine's directory is recorded."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        sizes.append(int(float(part.rstrip("mk")) * mult))
    return sorted(set(sizes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated entry counts (10k, 1m allowed); default 10k,100k,1m")
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--queries", type=int, default=500, help="held-out real reports used as queries")
    parser.add_argument("--adds", type=int, default=1000, help="incremental adds timed after each build")
    parser.add_argument("--removes", type=int, default=1000)
    parser.add_argument("--baseline-queries", type=int, default=50,
                        help="brute-force baseline queries at 100k (4x as many at 10k)")
    parser.add_argument("--no-background", action="store_true", help="skip the replay inside 100k synthetic entries")
    parser.add_argument("--no-live", action="store_true",
                        help="skip the live-adds scenario (SEAL_AT - 1 add() calls into a fresh index)")
    parser.add_argument("--profile", action="store_true", help="cProfile searches and a 10k build in each child")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating the corpus")
    parser.add_argument("--corpus-dir", help="keep (and reuse) the synthetic corpus file here instead of a temp dir")
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--data", type=Path, default=DATA,
                        help=f"folder holding {REPORTS_CSV} and {DUPLICATES_CSV} (default: bench/data/gitbugs-hadoop)")
    parser.add_argument("--mapped", action="store_true",
                        help="also write each size's index to disk and search it memory-mapped in a fresh process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = child_main(json.loads(args.child))
        print(json.dumps(result))
        return 0

    started = time.perf_counter()
    sizes = parse_sizes(args.sizes) if args.sizes else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    from bot import knowledge
    from bot.kb_eval import replay

    missing = [name for name in (REPORTS_CSV, DUPLICATES_CSV) if not (args.data / name).is_file()]
    if missing:
        print(f"kb_bench: {args.data} has no {' or '.join(missing)}; pass --data with the folder of the GitBugs "
              f"Hadoop files (bench/data/gitbugs-hadoop in a checkout)", file=sys.stderr)
        return 2
    load_before = loadavg()
    reports = load_reports(args.data)
    duplicates = load_duplicates(args.data)
    held_out, pool, in_pairs = split_sources(reports, duplicates, args.queries, args.seed)
    say(f"{len(reports):,} real reports, {in_pairs} in duplicate pairs, {len(held_out)} held out as queries, "
        f"{len(pool):,} synthesis sources")

    t = time.perf_counter()
    quality = replay(reports, duplicates)
    quality["seconds"] = round(time.perf_counter() - t, 1)
    say(f"replay on the real reports: {quality}")

    background = BACKGROUND_SIZE if not args.no_background else 0
    total = max(sizes + [background]) + max(EXTRA, args.adds)
    live = 0 if args.no_live else min(total, knowledge.SEAL_AT - 1)
    tmp = None
    if args.corpus_dir:
        folder = Path(args.corpus_dir)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tmp := tempfile.mkdtemp(prefix="kb_bench-"))
    corpus = folder / f"kb-corpus-s{args.seed}-q{args.queries}-n{total}.txt"
    queries_path = folder / f"kb-queries-s{args.seed}-q{args.queries}.json"
    queries_path.write_text(json.dumps([{"id": r.id, "summary": r.summary, "description": r.description}
                                        for r in held_out]))
    try:
        if corpus.exists():
            gen_s = None
            say(f"reusing {corpus}")
        else:
            say(f"writing {total:,} synthetic entries with {args.workers} process(es) …")
            partial = corpus.with_suffix(".partial")
            gen_s = write_corpus(partial, args.data, total, args.queries, args.seed, args.workers)
            partial.rename(corpus)
        stats = corpus_stats(corpus, reports)

        results = {}
        for size in sizes:
            cfg = {"size": size, "data": str(args.data), "corpus": str(corpus), "queries": str(queries_path), "adds": args.adds,
                   "removes": args.removes, "after_add_queries": min(200, args.queries), "profile": args.profile,
                   "baseline": (args.baseline_queries * 4 if size <= 10_000 else args.baseline_queries)
                   if size in (10_000, 100_000) else 0,
                   "background": size == background,
                   "live": live if size == sizes[0] else 0, "live_queries": min(200, args.queries)}
            say(f"--- {size:,} entries (fresh process)")
            if args.mapped:
                cfg["write"] = str(folder / f"kb-index-{size}")
                shutil.rmtree(cfg["write"], ignore_errors=True)
            results[str(size)] = run_child(cfg)
            if args.mapped:
                say(f"--- {size:,} entries, memory-mapped as the server maps them (fresh process)")
                results[str(size)]["mapped"] = run_child({"size": size, "mapped": cfg["write"], "queries": str(queries_path)})
                say(f"{size:,} mapped: {results[str(size)]['mapped']}")
                shutil.rmtree(cfg["write"], ignore_errors=True)
        if background and background not in sizes:
            say(f"--- {background:,}-entry background for the replay (fresh process)")
            cfg = {"size": background, "data": str(args.data), "corpus": str(corpus), "queries": str(queries_path), "adds": 0,
                   "removes": 0, "after_add_queries": 0, "baseline": 0, "background": True, "live": 0}
            results["background"] = run_child(cfg)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    def get(size: int, *path: str):
        node: Any = results.get(str(size))
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    targets: dict[str, Any] = {}
    for size, limit in P95_TARGETS_MS.items():
        p95 = get(size, "search_ms", "p95")
        targets[f"search_p95_under_{limit:g}ms_at_{size}"] = {"p95_ms": p95, "met": None if p95 is None else p95 < limit}
    for size, limit in RSS_TARGET_MB.items():
        rss = get(size, "memory", "rss_after_gc_mb")
        targets[f"rss_under_{limit:g}MB_at_{size}"] = {
            "rss_mb": rss, "peak_rss_mb": get(size, "memory", "peak_rss_mb"),
            "met": None if rss is None else rss < limit}
    for key, limit in QUALITY_TARGETS.items():
        targets[f"{key}_at_least_{limit:g}"] = {"value": quality.get(key), "met": (quality.get(key) or 0) >= limit}

    baseline = {}
    for size in (10_000, 100_000):
        b, s = get(size, "baseline_bruteforce_ms"), get(size, "search_ms")
        if b and s:
            baseline[str(size)] = {"bruteforce_p50_ms": b["p50"], "bruteforce_p95_ms": b["p95"],
                                   "index_p50_ms": s["p50"], "index_p95_ms": s["p95"],
                                   "speedup_p50": round(b["p50"] / s["p50"], 1), "speedup_p95": round(b["p95"] / s["p95"], 1)}

    vocab = {str(n): get(n, "build", "vocab") for n in sizes}
    doc = {
        "benchmark": "kb_bench",
        "machine": {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "numpy": __import__("numpy").__version__,
                    "rapidfuzz": __import__("rapidfuzz").__version__,
                    "loadavg_before": load_before, "loadavg_after": loadavg()},
        "settings": {"sizes": sizes, "queries": len(held_out), "adds": args.adds, "removes": args.removes,
                     "seed": args.seed, "knowledge": {k: getattr(knowledge, k) for k in (
                         "SEAL_AT", "SEAL_AT_LIVE", "SMALL_SEGMENTS", "SMALL_POSTINGS", "CANDIDATES",
                         "MAX_QUERY_TERMS", "BODY_CHARS", "FUZZ_WEIGHT") if hasattr(knowledge, k)},
                     "knowledge_py_git": git_state("bot/knowledge.py")},
        "corpus": {
            "source": f"GitBugs Hadoop ({shown(args.data)}), {len(reports):,} real JIRA reports",
            "queries": (f"{len(held_out)} held-out real reports (summary + '\\n' + description, as a new ticket), "
                        "never used as synthesis sources, none of them in a duplicate pair"),
            "synthesis_sources": f"the other {len(pool):,} reports that are in no duplicate pair",
            "method": " ".join(Synth.__doc__.split()),
            "ids": f"synthetic ticket ids {SYNTH_ID0:,}+ (line number); each size is a prefix of one corpus",
            "entries_written": total, "generation_s": None if gen_s is None else round(gen_s, 1),
            "shape_vs_real": stats,
            "index_vocabulary": vocab,
            "real_vocabulary_heaps_law": heaps_reference(reports, args.seed),
        },
        "quality": {"protocol": "bot.kb_eval.replay: each report with an earlier labelled duplicate is searched "
                                "against only the reports filed before it; a hit is any earlier duplicate in the top k",
                    "hadoop": quality,
                    "hadoop_inside_100k_synthetic": get(background, "quality_in_background") if background else None},
        "sizes": results,
        "baseline_vs_index": baseline,
        "targets": targets,
        "all_targets_met": all(t["met"] for t in targets.values() if t["met"] is not None),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if background and background not in sizes and "background" in results:
        doc["quality"]["hadoop_inside_100k_synthetic"] = results["background"].get("quality_in_background")
    text = json.dumps(doc, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    say(f"done in {doc['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
