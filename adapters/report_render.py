"""Reports as a readable table, as CSV, and as a chart (matplotlib, drawn off-screen)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.reports import Figures, Report, Satisfaction, Spread
from bot.text import duration
from datetime import timedelta


def _span(seconds: float | None) -> str:
    return "—" if seconds is None else duration(timedelta(seconds=seconds))


def _spread(s: Spread) -> str:
    return "—" if not s.count else f"median {_span(s.median)}, p90 {_span(s.p90)} (n={s.count})"


def satisfied(s: Satisfaction) -> str:
    """Satisfaction in one phrase: "4.3 of 5, 75% rated 4–5; 8 of 10 resolutions rated (80%)"."""
    if not s.asked:
        return "no resolutions to rate"
    if not s.rated:
        return f"none of {s.asked} resolution{'s' if s.asked != 1 else ''} rated yet"
    return (f"{s.average:.1f} of 5, {s.good_percent:.0f}% rated 4–5; "
            f"{s.rated} of {s.asked} resolution{'s' if s.asked != 1 else ''} rated ({s.response_percent:.0f}%)")


def _satisfaction_lines(report: Report) -> list[str]:
    """The satisfaction section: overall, then per technician, group and category."""
    lines = ["", f"  Satisfaction: {satisfied(report.figures.satisfaction)}"]
    for by, rows in report.satisfaction.items():
        if not rows:
            continue
        lines.append(f"    {('by ' + by).ljust(24)} {'average':>7} {'4–5':>5} {'rated':>11}")
        for _, name, s in rows:
            average = "—" if s.average is None else f"{s.average:.1f}"
            good = "—" if s.good_percent is None else f"{s.good_percent:.0f}%"
            lines.append(f"    {name[:24].ljust(24)} {average:>7} {good:>5} {f'{s.rated} of {s.asked}':>11}")
    return lines


def table(report: Report) -> str:
    """A report as a text table: the period and filters, each figure, and the breakdown if any."""
    zone = ZoneInfo(report.zone)
    q, f = report.query, report.figures
    fmt = "%Y-%m-%d %H:%M"
    filters = ", ".join(f"{k}={v}" for k, v in report.as_dict()["filters"].items() if v)
    lines = [f"Help desk report {q.since.astimezone(zone):{fmt}} → {q.until.astimezone(zone):{fmt}} ({report.zone})"
             + (f" · {filters}" if filters else ""), ""]
    rows = [
        ("Opened", f.opened), ("Resolved", f.resolved), ("Closed", f.closed), ("Reopened", f.reopened),
        ("Still open", f"{f.still_open_total} (" + ", ".join(f"{k}: {v}" for k, v in f.still_open.items()) + ")"),
        ("First response", _spread(f.first_response)), ("Time to resolution", _spread(f.resolution)),
        ("Solved by a past resolution", f.deflected),
        ("Fix confirmed / reopened", f"{f.confirmed} / {f.reopened_after_resolution}"),
        ("Escalations by level", ", ".join(f"L{k}: {v}" for k, v in sorted(f.escalations.items())) or "none"),
    ]
    width = max(len(r[0]) for r in rows)
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    lines += ["", "  SLA compliance   first response   resolution   time to resolution"]
    for sev in ("critical", "high", "medium", "low"):
        r, s = f.sla_response.get(sev), f.sla_resolution.get(sev)
        pct = lambda c: "—" if c is None or c.percent is None else f"{c.percent:.0f}% ({c.met}/{c.met + c.breached})"
        lines.append(f"  {sev.ljust(15)}  {pct(r).ljust(15)}  {pct(s).ljust(11)}  {_spread(f.resolution_by_severity.get(sev, Spread()))}")
    if f.busiest_devices:
        lines.append("\n  Busiest devices: " + ", ".join(f"{d} ({n})" for d, n in f.busiest_devices))
    if f.busiest_locations:
        lines.append("  Busiest locations: " + ", ".join(f"{d} ({n})" for d, n in f.busiest_locations))
    if f.trending:
        lines.append("  Trending up: " + ", ".join(f"{c} {b} → {n}" for c, n, b in f.trending))
    lines += _satisfaction_lines(report)
    if report.breakdown:
        lines += ["", f"  By {q.by}:", f"  {'':24} {'opened':>7} {'resolved':>9} {'open':>5}  {'resolution SLA':>14}  time to resolution"]
        for key, sub in report.breakdown:
            sla = sub.sla_resolution.get("all")
            pct = "—" if sla is None or sla.percent is None else f"{sla.percent:.0f}%"
            lines.append(f"  {report.name(key)[:24].ljust(24)} {sub.opened:>7} {sub.resolved:>9} {sub.still_open_total:>5}  {pct:>14}  {_spread(sub.resolution)}")
    return "\n".join(lines)


def rows(report: Report) -> list[dict[str, object]]:
    """One CSV row per figure (and per breakdown key and figure): easy to pivot anywhere."""
    out: list[dict[str, object]] = []

    def emit(key: str, f: Figures) -> None:
        def add(metric: str, value: object) -> None:
            out.append({"group": key, "metric": metric, "value": value})
        for name in ("opened", "resolved", "closed", "reopened", "deflected", "confirmed", "reopened_after_resolution"):
            add(name, getattr(f, name))
        add("still_open", f.still_open_total)
        for bucket, n in f.still_open.items():
            add(f"still_open[{bucket}]", n)
        for name in ("first_response", "resolution"):
            s: Spread = getattr(f, name)
            add(f"{name}_count", s.count)
            add(f"{name}_median_seconds", s.median)
            add(f"{name}_p90_seconds", s.p90)
        for sev, c in f.sla_response.items():
            add(f"sla_response_percent[{sev}]", c.percent)
        for sev, c in f.sla_resolution.items():
            add(f"sla_resolution_percent[{sev}]", c.percent)
        for level, n in f.escalations.items():
            add(f"escalations[L{level}]", n)
        satisfaction_rows(add, f.satisfaction)

    emit("all", report.figures)
    for key, sub in report.breakdown:
        emit(str(key), sub)
    for by, listed in report.satisfaction.items():
        for key, _, s in listed:
            satisfaction_rows(lambda metric, value: out.append({"group": f"{by}={key}", "metric": metric, "value": value}), s)
    return out


def satisfaction_rows(add, s: Satisfaction) -> None:
    """Satisfaction as CSV metrics: resolutions asked, rated, the average and the two shares."""
    add("satisfaction_asked", s.asked)
    add("satisfaction_rated", s.rated)
    add("satisfaction_average", s.average)
    add("satisfaction_good_percent", s.good_percent)
    add("satisfaction_response_percent", s.response_percent)


def csv_text(report: Report) -> str:
    """A report as CSV: one row per figure (per breakdown value when there is a breakdown)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["group", "metric", "value"])
    writer.writeheader()
    writer.writerows(rows(report))
    return buffer.getvalue()


def chart(report: Report, path: str, size: tuple[float, float] = (10, 7.5), dpi: int = 100) -> None:
    """Tickets opened vs resolved per day, and time to resolution per severity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import matplotlib.dates as mdates

    f = report.figures
    fig, (top, bottom) = plt.subplots(2, 1, figsize=size, dpi=dpi, gridspec_kw={"height_ratios": [3, 2]})
    points, unit = [(datetime.fromisoformat(d), o, r) for d, o, r in f.daily], "day"
    if len(points) > 92:  # a long period reads better per week
        weeks: dict[datetime, list[int]] = {}
        for day, o, r in points:
            start = day - timedelta(days=day.weekday())
            weeks.setdefault(start, [0, 0])
            weeks[start][0] += o
            weeks[start][1] += r
        points, unit = [(d, o, r) for d, (o, r) in weeks.items()], "week"
    marker = "o" if len(points) <= 62 else None
    top.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label="opened", color="#d9534f")
    top.plot([p[0] for p in points], [p[2] for p in points], marker=marker, label="resolved", color="#5cb85c")
    top.set_title(f"Tickets opened vs resolved per {unit} ({report.zone})")
    locator = mdates.AutoDateLocator()
    top.xaxis.set_major_locator(locator)
    top.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    top.legend()
    top.grid(alpha=0.3)
    severities = ["critical", "high", "medium", "low"]
    medians = [(f.resolution_by_severity.get(s, Spread()).median or 0) / 3600 for s in severities]
    p90s = [(f.resolution_by_severity.get(s, Spread()).p90 or 0) / 3600 for s in severities]
    x = range(len(severities))
    bottom.bar([i - 0.2 for i in x], medians, width=0.4, label="median", color="#337ab7")
    bottom.bar([i + 0.2 for i in x], p90s, width=0.4, label="90th percentile", color="#9ec3e6")
    bottom.set_xticks(list(x), severities)
    bottom.set_ylabel("hours")
    bottom.set_title("Time to resolution per severity")
    bottom.legend()
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
