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
        ("Paused for requesters", _spread(f.paused)),
        ("Solved by a past resolution", f.deflected),
        ("Fix confirmed / reopened", f"{f.confirmed} / {f.reopened_after_resolution}"),
        ("Escalations by level", ", ".join(f"L{k}: {v}" if k else f"outside the chain: {v}"
                                           for k, v in sorted(f.escalations.items())) or "none"),
    ]
    width = max(len(r[0]) for r in rows)
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    lines += ["", "  SLA compliance   first response   resolution   time to resolution"]
    for sev in ("critical", "high", "medium", "low"):
        r, s = f.sla_response.get(sev), f.sla_resolution.get(sev)
        pct = lambda c: "—" if c is None or c.percent is None else f"{c.percent:.0f}% ({c.met}/{c.met + c.breached})"
        lines.append(f"  {sev.ljust(15)}  {pct(r).ljust(15)}  {pct(s).ljust(11)}  {_spread(f.resolution_by_severity.get(sev, Spread()))}")
    i = f.incidents
    if i.declared or i.opened_in_one:
        share = "—" if i.share_percent is None else f"{i.share_percent:.1f}% ({i.opened_in_one} of {f.opened})"
        lines += ["", f"  Major incidents  {i.declared} declared · tickets per incident {i.tickets_per_incident or '—'}"
                      f" (largest {i.tickets_max}) · first ticket to declaration {_spread(i.to_declare)}"
                      f" · tickets opened that were part of one: {share}"]
    if f.busiest_devices:
        lines.append("\n  Busiest devices: " + ", ".join(f"{d} ({n})" for d, n in f.busiest_devices))
    if f.busiest_locations:
        lines.append("  Busiest locations: " + ", ".join(f"{d} ({n})" for d, n in f.busiest_locations))
    if f.trending:
        lines.append("  Trending up: " + ", ".join(f"{c} {b} → {n}" for c, n, b in f.trending))
    if f.paused.count:
        lines.append("  Times to resolution and resolution targets leave out the time tickets waited on their requester.")
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
        for name in ("first_response", "resolution", "paused"):
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
        i = f.incidents
        add("incidents_declared", i.declared)
        add("incident_tickets", i.tickets)
        add("tickets_per_incident", i.tickets_per_incident)
        add("incident_to_declare_median_seconds", i.to_declare.median)
        add("incident_ticket_share_percent", i.share_percent)
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
    """Draw the report's chart into the PNG file `path` (see adapters/report_chart.py)."""
    from adapters.report_chart import draw

    draw(report, path, size, dpi)
