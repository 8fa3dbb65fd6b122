"""A report's chart for a chat message: drawn off the event loop (CPU-bound: one drawing at a
time, so a burst of reports cannot take every worker thread), and, for platforms that show images
only from a URL, kept in the database under an unguessable token and served by the help desk's
own server at `<public_url>/charts/<token>.png` until it expires."""
from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from bot.ports import Store
from bot.reports import Report

CHART_DAYS = 7  # a chart link works this long: a week's report is read within the week
PATH = "/charts/"
_DRAWING = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """A drawn chart: its PNG, a file name, what it shows (the image's text for screen readers),
    and the URL it is served at (None unless hosted)."""

    png: bytes
    name: str
    alt: str
    url: str | None = None


def describe(report: Report) -> str:
    """What the chart shows, in words (alt text), with the period."""
    q = report.query
    zone = report.zone
    return (f"Help desk report chart, {q.since:%Y-%m-%d} to {q.until:%Y-%m-%d} ({zone}): tickets opened and resolved "
            "per day, time to resolution per severity against its target, and satisfaction per technician.")


class ReportCharts:
    """Draws report charts; with `public_url` (the server's own address, given by platforms that
    show images only from a URL) it also hosts them for CHART_DAYS days."""

    def __init__(self, store: Store, clock: Callable[[], datetime], public_url: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.public_url = public_url

    async def draw(self, report: Report) -> Chart:
        """The chart of `report`, kept and given its URL when there is a public URL."""
        from adapters.report_chart import png

        def work() -> bytes:
            with _DRAWING:
                return png(report)

        data = await asyncio.to_thread(work)
        q = report.query
        chart = Chart(data, f"helpdesk-report-{q.since:%Y-%m-%d}-to-{q.until:%Y-%m-%d}.png", describe(report))
        if not self.public_url:
            return chart
        token = secrets.token_urlsafe(32)
        now = self.clock()

        def keep() -> None:
            with self.store.transaction() as tx:
                tx.keep_chart(token, data, now, now + timedelta(days=CHART_DAYS))

        await asyncio.to_thread(keep)
        return Chart(chart.png, chart.name, chart.alt, f"{self.public_url}{PATH}{token}.png")

    def get(self, token: str) -> bytes | None:
        """The PNG kept under `token`, None when unknown or expired (blocking: run in a thread)."""
        with self.store.transaction(write=False) as tx:
            return tx.chart(token, self.clock())
