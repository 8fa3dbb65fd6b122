"""The knowledge index searched in a process of its own (storage/kb_process.py), as `helpdesk
serve` does: the same suggestions as the index in the serving process, this process's changes in
the very next search, a form's search asked ahead and used once, and a child that dies leaves
suggestions out (the ticket is still written) until it is started again."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from adapters.settings import AppSettings as Settings
from bot.commands.registry import Call, Source
from bot.desk import Desk
from bot.knowledge import Knowledge
from storage import kb_process
from storage.kb_files import DiskIndex
from storage.kb_process import KnowledgeProcess
from storage.knowledge import TicketKnowledge
from storage.repository import SqlStore
from tests.conftest import People, say
from tests.test_knowledge import KB_SETTINGS, solve

FIXES = [
    ("Outlook keeps asking for my password after the update",
     "Removed the stale credentials from Windows Credential Manager and restarted Outlook"),
    ("The printer on floor 3 jams on every page", "Replaced the worn pickup roller in tray 2"),
    ("VPN drops every ten minutes when working from home", "Lowered the MTU of the VPN profile to 1400"),
    ("VPN client says the certificate expired", "Renewed the machine certificate and reconnected the VPN"),
]


def until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def suggested_again(desk, p, seconds: float = 60.0):
    """The first suggestion for the printer problem, once a child answers again (None if none does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = say(desk, p.alice, "new the printer on floor 3 jams on every single page")
        if reply.suggestions:
            return reply.suggestions[0]
        time.sleep(0.2)
    return None


def ready(knowledge: KnowledgeProcess, seconds: float = 60.0) -> KnowledgeProcess:
    assert knowledge.ready.wait(seconds), "the knowledge process never said it was ready"
    return knowledge


@pytest.fixture
def apart(engine, clock, tmp_path):
    """A desk whose index searches in its own process, over a history solved before it started;
    and, for comparison, the same history in an index of this process."""
    settings = Settings.model_validate(KB_SETTINGS)
    plain = Desk(settings, SqlStore(engine), clock=clock)
    people = People(plain)
    for problem, fix in FIXES:
        solve(plain, people, problem, fix)
    source = TicketKnowledge(engine, settings)
    knowledge = KnowledgeProcess(engine, source.rules, tmp_path / "kb", max_age=0.1)
    knowledge.load_in_background()
    here = Knowledge(source, builder=DiskIndex(engine, source.rules, tmp_path / "kb"))
    here.load_from_disk()
    desk = Desk(settings, SqlStore(engine), clock=clock, knowledge=ready(knowledge))
    yield desk, People(desk), knowledge, here
    knowledge.close()
    here.close()


def test_the_same_suggestions_as_the_index_in_this_process_and_a_change_in_the_next(apart):
    desk, p, knowledge, here = apart
    ask = "the VPN keeps dropping when I work from home"
    reply = say(desk, p.alice, f"new {ask}")
    assert reply.ok and reply.suggestions[0].headline == "VPN drops every ten minutes when working from home"
    assert reply.suggestions[0].resolution == "Lowered the MTU of the VPN profile to 1400"
    wanted = here.search(ask, limit=5, floor=0.35, technician=False)
    assert [(m.ticket_id, m.confidence) for m in knowledge.search(ask, limit=5, floor=0.35, technician=False)] == \
        [(m.ticket_id, m.confidence) for m in wanted] != []
    t = say(desk, p.frank, "new Teams camera shows a black screen in meetings").ticket
    camera = "new the camera is black in Teams meetings"
    assert say(desk, p.alice, camera).suggestions == ()
    say(desk, p.bob, f"resolve {t.id} Updated the webcam driver and allowed camera access in privacy settings")
    assert say(desk, p.alice, camera).suggestions[0].ticket_id == t.id, "this process's resolution, at once"
    say(desk, p.frank, f"reopen {t.id} black again after restarting")
    assert t.id not in [s.ticket_id for s in say(desk, p.alice, camera).suggestions], "a reopened ticket is withdrawn"


def test_a_submitted_forms_search_is_asked_ahead_and_used_once(apart):
    desk, p, knowledge, here = apart
    text = "Outlook asks for my password over and over since the update"
    form = Call("new", text=text, source=Source.FORM)
    desk.search_ahead(form)
    desk.search_ahead(form)  # the same form again (pressed twice): one search
    before = knowledge.searched
    reply = desk.execute_together([(p.alice, form, "view-1")])[0]
    assert reply.ok and reply.ticket is not None
    assert reply.suggestions[0].headline == "Outlook keeps asking for my password after the update"
    assert knowledge.searched == before, "answered by the search asked ahead"
    top = here.search(text, limit=5, floor=0.0, technician=True)
    knowledge.ahead(text, limit=5, floor=0.0, technician=True)
    without = knowledge.search(text, limit=5, floor=0.0, technician=True, exclude=top[0].ticket_id)
    assert [m.ticket_id for m in without] == \
        [m.ticket_id for m in here.search(text, limit=5, floor=0.0, technician=True, exclude=top[0].ticket_id)]
    assert top[0].ticket_id not in [m.ticket_id for m in without], "the answer ahead held it: searched again"


def test_a_child_that_dies_leaves_suggestions_out_until_it_is_started_again(apart, monkeypatch):
    desk, p, knowledge, _ = apart
    monkeypatch.setattr(kb_process, "RESTART_AFTER", 0.0)
    child = knowledge._process
    child.kill()
    child.wait()
    reply = say(desk, p.alice, "new the printer on floor 3 jams on every single page")
    assert reply.ok and reply.ticket is not None and reply.suggestions == (), "the ticket is written without them"
    assert suggested_again(desk, p).resolution == "Replaced the worn pickup roller in tray 2", "started again"


def test_a_child_that_dies_mid_search_is_logged_once(apart, monkeypatch, caplog):
    """The search waiting on it goes without suggestions; the log says once why (it said it twice:
    the loss, and again as a failed search)."""
    desk, p, knowledge, _ = apart
    monkeypatch.setattr(kb_process, "RESTART_AFTER", 3600.0)
    monkeypatch.setattr(kb_process, "ANSWER_WITHIN", 30.0)
    child = knowledge._process
    os.kill(child.pid, signal.SIGSTOP)  # the search below waits on it
    replies = []
    asking = threading.Thread(target=lambda: replies.append(say(desk, p.alice, "new the printer on floor 3 jams again")))
    caplog.clear()
    asking.start()
    assert until(lambda: knowledge._waiting, 10), "the search is waiting on the child"
    child.kill()
    asking.join(30)
    assert replies[0].ok and replies[0].suggestions == (), "the ticket is written without them"

    def errors() -> list[str]:  # the loss is logged by the reader thread, just after the search is let go
        return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert until(errors, 10)
    assert len(errors()) == 1 and errors()[0].startswith("the knowledge process stopped ("), errors()


def test_an_answer_asked_ahead_of_a_resolution_is_not_used_after_it(apart):
    desk, p, knowledge, _ = apart
    t = say(desk, p.frank, "new Teams camera shows a black screen in meetings").ticket
    form = Call("new", text="the camera is black in Teams meetings", source=Source.FORM)
    desk.search_ahead(form)  # asked while the form waits: nothing like it is resolved yet
    say(desk, p.bob, f"resolve {t.id} Updated the webcam driver and allowed camera access in privacy settings")
    reply = desk.execute_together([(p.alice, form, "view-2")])[0]
    assert reply.ok and reply.suggestions[0].ticket_id == t.id, "searched again after the resolution"


def test_a_stuck_child_costs_one_wait_then_is_ended_and_started_again(apart, monkeypatch):
    desk, p, knowledge, _ = apart
    monkeypatch.setattr(kb_process, "RESTART_AFTER", 0.0)
    monkeypatch.setattr(kb_process, "ANSWER_WITHIN", 0.5)
    monkeypatch.setattr(kb_process, "STUCK_AFTER", 1.0)
    child = knowledge._process
    os.kill(child.pid, signal.SIGSTOP)  # alive, answering nothing
    try:
        first = say(desk, p.alice, "new the printer on floor 3 jams on every single page")
        asked = knowledge.searched
        second = say(desk, p.alice, "new the printer on floor 3 jams on every page again")
        assert first.ok and second.ok and first.suggestions == second.suggestions == ()
        assert knowledge.searched == asked, "one wait: the next ticket asks nothing of a child that is behind"
        time.sleep(1.1)
        assert suggested_again(desk, p).resolution == "Replaced the worn pickup roller in tray 2", "a new child answers"
        assert knowledge._process is not child and child.wait(10) is not None, "the stuck one was ended"
    finally:
        if child.poll() is None:
            child.kill()


def test_a_child_that_died_twice_is_started_again_without_a_search(apart, monkeypatch):
    desk, p, knowledge, _ = apart
    monkeypatch.setattr(kb_process, "RESTART_AFTER", 2.0)
    for _ in range(2):  # the second time within RESTART_AFTER of the first restart: a timer starts it
        child = knowledge._process
        child.kill()
        child.wait()
        assert until(lambda: knowledge._process is not None and knowledge._process is not child, 60)
    assert knowledge.ready.is_set() and knowledge.searched == 0, "started again with no search asking"
    assert suggested_again(desk, p).resolution == "Replaced the worn pickup roller in tray 2"


def test_a_stray_module_where_the_server_was_started_is_not_imported_by_the_child(engine, tmp_path, monkeypatch):
    """`python -m` puts the working directory first on sys.path: a `bot.py` there was imported (and
    run) in place of this project's package, and its output broke the pipe."""
    work = tmp_path / "started-here"
    work.mkdir()
    for name in ("bot.py", "storage.py"):
        (work / name).write_text('print("stray output")\nraise SystemExit(3)\n')
    monkeypatch.chdir(work)
    settings = Settings.model_validate(KB_SETTINGS)
    knowledge = KnowledgeProcess(engine, TicketKnowledge(engine, settings).rules, tmp_path / "kb")
    knowledge.load_in_background()
    try:
        assert knowledge.ready.wait(60), "the child loaded this project's index"
        assert knowledge.search("the printer jams", limit=3) == []
    finally:
        knowledge.close()
