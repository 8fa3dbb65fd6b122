"""A report as a chart a lead reads at a glance (matplotlib, drawn off-screen):

- tickets opened and resolved per day (per week over a long period), each bar with its count;
- time to resolution per severity, one small panel each in its own unit (minutes, hours or
  days), the median and the 90th percentile against that severity's target (a dashed line),
  with how many tickets it is drawn from; a severity with nothing resolved says "no data"
  rather than showing an empty bar that would read as zero;
- satisfaction per technician: the average rating (1–5) with how many of their resolutions
  were rated; a technician with no rating yet says so.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import IO, Any

from bot.reports import Report, Satisfaction, Spread

SEVERITIES = ("critical", "high", "medium", "low")
OPENED, RESOLVED = "#d9534f", "#5cb85c"
MEDIAN, P90, TARGET, NO_DATA = "#337ab7", "#9ec3e6", "#444444", "#999999"
# (unit, seconds in it): the largest unit in which the longest value shown is at least 2
UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60))
SHORT = {"days": "d", "hours": "h", "minutes": "min"}


def unit_for(seconds: float) -> tuple[str, float]:
    """The unit to show durations up to `seconds` in: days from 2 days, hours from 2 hours, else
    minutes; (name, seconds per unit)."""
    for name, size in UNITS:
        if seconds >= 2 * size:
            return name, size
    return "minutes", 60


def amount(seconds: float, unit: tuple[str, float] | None = None) -> str:
    """A duration in a unit (default: its own, see `unit_for`), as few digits as read well:
    "45 min", "2.5 h", "3 d"."""
    unit = unit or unit_for(seconds)
    value = seconds / unit[1]
    whole = unit[0] == "minutes" or value >= 10 or round(value, 1) == int(value)
    text = f"{value:.0f}" if whole else f"{value:.1f}"
    return f"{text} {SHORT[unit[0]]}"


def draw(report: Report, out: str | IO[bytes], size: tuple[float, float] = (10, 7.5), dpi: int = 100) -> None:
    """Draw `report` as a PNG into `out` (a file name or a binary file), `size` inches at `dpi`."""
    fig = figure(report, size, dpi)
    fig.savefig(out, dpi=dpi, format="png")
    fig.clear()


def figure(report: Report, size: tuple[float, float] = (10, 7.5), dpi: int = 100) -> Any:
    """`report` as a matplotlib Figure (not tied to pyplot, so drawing it leaves nothing behind):
    axes 0 the tickets per day, 1–4 the severities, 5 satisfaction."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    grid = fig.add_gridspec(2, 6, height_ratios=[1, 1.05], hspace=0.55, wspace=0.8)
    _per_day(fig.add_subplot(grid[0, :]), report)
    fig.text(0.06, 0.455, "Time to resolution per severity: median and 90th percentile against the target",
             fontsize=10, fontweight="bold")
    for i, severity in enumerate(SEVERITIES):
        _severity(fig.add_subplot(grid[1, i]), report, severity)
    _satisfaction(fig.add_subplot(grid[1, 4:]), report)
    fig.subplots_adjust(left=0.06, right=0.985, top=0.93, bottom=0.08)
    return fig


def png(report: Report, size: tuple[float, float] = (10, 7.5), dpi: int = 100) -> bytes:
    """`report`'s chart as PNG bytes (for a chat message)."""
    buffer = io.BytesIO()
    draw(report, buffer, size, dpi)
    return buffer.getvalue()


def _per_day(ax: Any, report: Report) -> None:
    f = report.figures
    points = [(datetime.fromisoformat(d), o, r) for d, o, r in f.daily]
    unit = "day"
    if len(points) > 92:  # a long period reads better per week
        weeks: dict[datetime, list[int]] = {}
        for day, o, r in points:
            week = weeks.setdefault(day - timedelta(days=day.weekday()), [0, 0])
            week[0] += o
            week[1] += r
        points, unit = [(d, o, r) for d, (o, r) in weeks.items()], "week"
    opened, resolved = sum(p[1] for p in points), sum(p[2] for p in points)
    ax.set_title(f"Tickets opened and resolved per {unit} ({report.zone}): {opened} opened, {resolved} resolved",
                 fontsize=10, fontweight="bold", loc="left")
    x = list(range(len(points)))
    width = 0.4
    bars = [ax.bar([i - width / 2 for i in x], [p[1] for p in points], width, label="opened", color=OPENED),
            ax.bar([i + width / 2 for i in x], [p[2] for p in points], width, label="resolved", color=RESOLVED)]
    if len(points) <= 31:  # every count written on its bar, zeros too: a zero is a count
        for group in bars:
            ax.bar_label(group, fontsize=8, padding=1)
    fmt = "%a %-d %b" if unit == "day" and len(points) <= 14 else "%-d %b"
    step = max(1, len(points) // 16)
    ax.set_xticks(x[::step], [p[0].strftime(fmt) for p in points][::step], fontsize=8)
    top = max([p[1] for p in points] + [p[2] for p in points] + [1])
    ax.set_ylim(0, top * 1.25 + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("tickets")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if not opened and not resolved:
        ax.text(0.5, 0.5, "no tickets opened or resolved in this period", transform=ax.transAxes, ha="center",
                color=NO_DATA)


def _severity(ax: Any, report: Report, severity: str) -> None:
    spread = report.figures.resolution_by_severity.get(severity, Spread())
    target = report.targets.get(severity)
    ax.set_title(f"{severity} (n={spread.count})", fontsize=9, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xticks([0, 1], ["median", "p90"], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    values = [v for v in (spread.median, spread.p90) if v is not None]
    longest = max(values) if values else (target or 3600)
    # the target is drawn where it is when it is within reach of the bars; far above them (a
    # 3-day target for 15-minute fixes) it is written at the top instead of squashing the bars
    target_on_scale = bool(target) and (not values or target <= 5 * longest)
    unit = unit_for(max([longest] + ([target] if target_on_scale else [])))
    top = max([longest] + ([target] if target_on_scale else [])) * 1.3 / unit[1]
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(0, top)
    ax.set_ylabel(unit[0], fontsize=8)
    if target_on_scale:
        ax.axhline(target / unit[1], color=TARGET, linestyle="--", linewidth=1)
        ax.annotate(f"target {amount(target)}", (1.55, target / unit[1]), fontsize=7, color=TARGET,
                    ha="right", va="bottom", annotation_clip=False)
    elif target:
        ax.text(0.98, 0.97, f"target {amount(target)} ↑", transform=ax.transAxes, fontsize=7, color=TARGET,
                ha="right", va="top")
    if not spread.count:
        ax.text(0.5, 0.35, "no data", transform=ax.transAxes, ha="center", color=NO_DATA, fontsize=9)
        return
    bars = ax.bar([0, 1], [spread.median / unit[1], spread.p90 / unit[1]], 0.6, color=[MEDIAN, P90])
    ax.bar_label(bars, labels=[amount(v) for v in (spread.median, spread.p90)], fontsize=7, padding=1)
    late = False
    for bar, value in zip(bars, (spread.median, spread.p90)):
        if target and value > target:
            bar.set_edgecolor(OPENED)
            bar.set_linewidth(1.5)
            late = True
    if late:
        ax.text(0.02, 0.97, "over target", transform=ax.transAxes, fontsize=7, color=OPENED, va="top")


def _satisfaction(ax: Any, report: Report) -> None:
    rows: list[tuple[str, str, Satisfaction]] = list(report.satisfaction.get("technician", []))[:8]
    overall = report.figures.satisfaction
    title = "Satisfaction per technician"
    if overall.asked:
        title += (f"\noverall {overall.average:.1f} of 5, " if overall.rated else "\n") + \
            f"{overall.rated} of {overall.asked} resolutions rated"
    ax.set_title(title, fontsize=9, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(0, 5)
    ax.set_xticks([1, 2, 3, 4, 5], ["1", "2", "3", "4", "5"], fontsize=7)
    if not rows:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no resolutions\nto rate", transform=ax.transAxes, ha="center", va="center", color=NO_DATA,
                fontsize=9)
        return
    rows.reverse()  # best at the top
    y = list(range(len(rows)))
    ax.barh(y, [s.average or 0 for _, _, s in rows], 0.6, color=[MEDIAN if s.rated else NO_DATA for _, _, s in rows])
    ax.set_yticks(y, [name[:14] for _, name, _ in rows], fontsize=7)
    for i, (_, _, s) in enumerate(rows):
        text = (f"{s.average:.1f} · {s.rated} of {s.asked}" if s.rated else f"no rating yet · 0 of {s.asked}")
        inside = s.rated and (s.average or 0) > 2.6
        ax.text((s.average or 0) - 0.1 if inside else (s.average or 0) + 0.1, i, text, va="center",
                ha="right" if inside else "left", fontsize=7, color="white" if inside else TARGET)
    ax.set_xlabel("average rating · rated of resolved", fontsize=7)
