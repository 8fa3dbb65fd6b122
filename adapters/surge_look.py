"""The look for surges (bot/incidents.py `find_surges`) in a process of its own.

Comparing every new ticket of a surge with the others is CPU: in a profile of 2,000 submissions
it was over a quarter of the serving process's time under the interpreter's lock, taken from the
answers to Slack and Teams and from the intake's writer (bench/README.md, "Fifth measurement").
`helpdesk serve` (`[incidents] own_process`, on by default) therefore starts
`python -m adapters.surge_look`, a child that runs the same look on the same database every
sweep (`[escalation] sweep_seconds`), on another core. The look already runs on one process at a
time, whichever holds the `surges` lease (bot/desk.py); the child holds it under the server's own
name (`Desk.holder`), so the look passes between them at once either way, and the server's own
sweep leaves the look out while its child runs.

The server's side (`SurgeLook`) starts the child, hands it the settings and the database on its
standard input (one pickle), and keeps that input open: the child ends when it closes (the server
stopped, or died). If the child ends on its own (or looks in vain FAILURES_IN_A_ROW times), hangs
(its lease ran out long ago: it is ended), or cannot be started, the server looks itself again and starts a new child after RESTART_AFTER
seconds. Proposals the child makes go out through the outbox, which the server's dispatcher
delivers on its next poll.
"""
from __future__ import annotations

import asyncio
import logging
import pickle
import signal
import sys
import threading
import time
from datetime import timedelta

from adapters.runtime import Runtime
from bot.desk import SURGE_LEASE, SURGE_LEASE_SWEEPS
from storage.child import python_module
from storage.database import in_memory

log = logging.getLogger("helpdesk")
RESTART_AFTER = 30.0  # seconds before a child that ended is started again (this process looks meanwhile)
SILENT_SWEEPS = 6  # sweeps past its lease's end without a look after which a child counts as hung
SILENT_AT_LEAST = 60.0  # seconds, however short the sweep (a look over a large surge takes seconds)
START_WITHIN = 60.0  # seconds a child has for its first look (Python, imports, the database, on a busy machine)
FAILURES_IN_A_ROW = 5  # looks failing one after another before the child gives up (the server looks then)
STOP_WITHIN = 5.0  # seconds the child gets to end its look when the server stops, then it is killed


def can_look_apart(runtime: Runtime) -> bool:
    """Whether the look runs in a child: on, and a database another process can open (PostgreSQL,
    or an SQLite file). SQLite lets one writer in at a time, and the server waits for a writer in
    another process only up to the busy timeout: a child that grouped under the write lock while a
    surge grew (seconds, on a large window) made the server's own writes fail with "database is
    locked" (bench/startup_bench.py). So on SQLite the child never groups under the lock: it compares and
    groups in a read transaction, and holds the lock only to check the window is the one it grouped
    and store (`Desk.regroup_under_lock` off: a window that changed in between is compared again)."""
    incidents = runtime.settings.incidents
    return incidents.enabled and incidents.own_process and not in_memory(runtime.engine.url)


class SurgeLook:
    """The server's side: `run()` keeps a child looking until cancelled (the server stopping),
    starting it again when it ends; while none runs, `runtime.desk.look_for_surges` is on and the
    server's sweep looks itself. `child` is the one running, if any."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.child: asyncio.subprocess.Process | None = None

    async def run(self) -> None:
        """Until cancelled. Raises CancelledError, after the child ended (killed after STOP_WITHIN s)."""
        while True:
            try:
                code = await self._once()
                why = f"ended (exit code {code})"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # it could not be started (no process, the database unreachable)
                log.exception("the process looking for surges could not be started")
                why = f"could not be started ({exc})"
            log.error("the process looking for surges %s; this server looks itself until it is started again "
                      "in %.0f s", why, RESTART_AFTER)
            await asyncio.sleep(RESTART_AFTER)

    async def _once(self) -> int:
        """Start a child and wait for it to end; its exit code. The server's sweep leaves the look out
        while it runs."""
        from storage.kb_files import database_identity

        runtime, desk = self.runtime, self.runtime.desk
        command, env = python_module("adapters.surge_look")
        database = await asyncio.to_thread(database_identity, runtime.engine)
        spec = pickle.dumps({"settings": runtime.settings, "database": database, "holder": desk.holder})
        # a session of its own: a Ctrl-C to the server does not end it first (the server ends it)
        child = self.child = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        assert child.stdin is not None
        desk.look_for_surges = False
        ended = asyncio.ensure_future(child.wait())
        try:
            child.stdin.write(spec)
            await child.stdin.drain()
            started, since, quiet = time.monotonic(), desk.clock(), self._quiet()
            while not (await asyncio.wait({ended}, timeout=max(1.0, min(quiet / 4, 15.0))))[0]:
                if time.monotonic() - started > quiet and await asyncio.to_thread(self._silent, quiet, since):
                    log.error("the process looking for surges has not looked for over %.0f s (hung?); ending it",
                              quiet)
                    child.kill()
                    break
            return await ended
        except asyncio.CancelledError:
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), STOP_WITHIN)
            except asyncio.TimeoutError:
                child.kill()
                await child.wait()
            raise
        except (BrokenPipeError, ConnectionResetError):
            return await child.wait()
        finally:
            ended.cancel()
            desk.look_for_surges = True
            self.child = None

    def _quiet(self) -> float:
        """Seconds past the lease's end with no look after which a child counts as hung."""
        return max(SILENT_AT_LEAST, SILENT_SWEEPS * self.runtime.settings.escalation.sweep_seconds)

    def _silent(self, quiet: float, since) -> bool:
        """Whether the child, started at `since` (the desk's clock), has not looked for `quiet`
        seconds past its lease's end (another replica holding the lease is no silence: the child
        rightly waits); before its first look (no lease taken after `since`: one this server took
        before ends by since + a lease's length), whether it has been starting for over
        START_WITHIN seconds. A quiet shorter than a child's start on a busy machine ended healthy
        children before they had looked once."""
        desk = self.runtime.desk
        with self.runtime.store.transaction(write=False) as tx:
            held = tx.lease_until(SURGE_LEASE)
        now = desk.clock()
        lease = timedelta(seconds=SURGE_LEASE_SWEEPS * self.runtime.settings.escalation.sweep_seconds)
        if held is not None and held[0] != desk.holder:
            return False  # another replica looks: the child rightly waits
        if held is None or held[1] <= since + lease:
            return (now - since).total_seconds() > START_WITHIN
        return (now - held[1]).total_seconds() > quiet


# The child process


def main() -> int:
    """`python -m adapters.surge_look`: the spec (a pickle: settings, database, the server's lease
    holder name) on standard input, then a look every sweep until standard input closes; log lines
    on standard error. 0 then; 1 after FAILURES_IN_A_ROW failed looks."""
    from bot.desk import Desk
    from storage.kb_files import open_database
    from storage.repository import SqlStore

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server ends this process, after its own requests
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[surge look] %(levelname)s %(message)s")
    try:
        spec = pickle.load(sys.stdin.buffer)
    except EOFError:
        return 0
    settings = spec["settings"]
    engine = open_database(spec["database"])
    desk = Desk(settings, SqlStore(engine))
    desk.holder = spec["holder"]  # the server's: the lease passes between them at once
    # on SQLite the server's writers wait for this process's write lock only up to the busy timeout
    desk.regroup_under_lock = engine.dialect.name != "sqlite"
    stopped = threading.Event()

    def wait_for_the_end() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        stopped.set()

    threading.Thread(target=wait_for_the_end, name="surge-look-stdin", daemon=True).start()
    failures = 0
    while not stopped.is_set():
        try:
            desk.find_surges()
            failures = 0
        except Exception:  # the next sweep tries again, as the server's own sweep does
            failures += 1
            log.exception("the look for surges failed (%d in a row)", failures)
            if failures >= FAILURES_IN_A_ROW:
                engine.dispose()
                return 1  # the server looks itself, and starts another child later
        stopped.wait(settings.escalation.sweep_seconds)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
