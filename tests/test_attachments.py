"""Files on tickets: what the core records (on SQLite and PostgreSQL), the attachment store, the
intake every platform shares, and `attach <id> <path>` in the terminal."""
from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.chat.attachments import FetchFailed, Intake, SharedFile, TooLarge, sniff
from adapters.chat.interactions import Interactions
from adapters.chat.origin import ChatMessage
from adapters.chat.outcomes import Acknowledged, Answer, Nothing
from bot.commands.registry import Call, Source
from bot.model import Origin, ThreadPost, Upload
from storage.files import FileSettings, FileStore
from tests.conftest import count_rows, outbox_rows, say, stored, stored_notes

ROOT = Path(__file__).resolve().parent.parent
HELPDESK = Path(sys.executable).parent / "helpdesk"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"screenshot of the VPN error"


def shot(name: str = "vpn-error.png", data: bytes = PNG, **kw) -> Upload:
    return Upload(name, "image/png", len(data), hashlib.sha256(data).hexdigest(), kw.pop("link", None), **kw)


def files_of(desk, people, ticket_id: int):
    return say(desk, people.bob, f"show {ticket_id}").attachments


class TestTheCoreRecordsFiles:
    def test_a_file_is_recorded_once_with_who_and_when_and_the_card_hears_of_it(self, desk, people, engine):
        say(desk, people.alice, "new the VPN drops every ten minutes since Monday")
        first = desk.execute(people.alice, Call("attach", 1, "./vpn-error.png", files=(shot(link="https://x/f1"),)))
        assert first.text == "Attached vpn-error.png to #1."
        again = desk.execute(people.bob, Call("attach", 1, "copy.png", files=(shot("copy.png"),)))
        assert not again.ok and again.text == "vpn-error.png is already on #1; nothing was added.", "named as the ticket has it"
        [recorded] = files_of(desk, people, 1)
        assert (recorded.file.name, recorded.file.content_type, recorded.file.size, recorded.file.link,
                recorded.author_name) == ("vpn-error.png", "image/png", len(PNG), "https://x/f1", "Alice Park")
        assert recorded.created_at == desk.clock()
        assert outbox_rows(engine)[-1]["text"] == "📎 Alice Park attached vpn-error.png."

    def test_a_refused_file_is_noted_with_its_reason_never_dropped(self, desk, people):
        say(desk, people.alice, "new the VPN drops every ten minutes since Monday")
        big = Upload("screen-recording.mov", "video/quicktime", 130_000_000, None, None, "it is 124 MB, over the 20 MB limit")
        reply = desk.execute(people.alice, Call("attach", 1, files=(shot(), big)))
        assert reply.text == ("Attached vpn-error.png to #1. screen-recording.mov was not kept: it is 124 MB, over the "
                              "20 MB limit. That is noted on #1.")
        shown = [(a.file.name, a.file.kept, a.file.reason) for a in files_of(desk, people, 1)]
        assert shown == [("vpn-error.png", True, None),
                         ("screen-recording.mov", False, "it is 124 MB, over the 20 MB limit")]

    def test_attach_typed_in_chat_has_no_file_and_says_where_files_go(self, desk, people):
        say(desk, people.alice, "new the VPN drops every ten minutes since Monday")
        reply = desk.handle(people.alice, "attach 1 ./shot.png")  # typed in chat: no file to read
        assert not reply.ok and reply.text.startswith("`attach` takes a file on this computer")
        assert files_of(desk, people, 1) == ()

    def test_only_people_who_may_see_the_ticket_attach_to_it(self, desk, people):
        say(desk, people.alice, "new the VPN drops every ten minutes since Monday")
        reply = desk.execute(people.frank, Call("attach", 1, files=(shot(),)))
        assert reply.text == "There is no ticket #1 that you can see; type `mine` to list yours."

    def test_files_sent_directly_find_the_ticket_they_name_or_the_only_one(self, desk, people):
        say(desk, people.alice, "new the VPN drops every ten minutes since Monday")
        only = desk.execute(people.alice, Call("share", files=(shot(),), source=Source.DIRECT))
        assert only.text == "Attached vpn-error.png to #1."
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        which = desk.execute(people.alice, Call("share", files=(shot("p.png", PNG + b"2"),), source=Source.DIRECT))
        assert which.text == ("Which ticket are these files for? Send them again with its number, like `#12`; "
                              "your open tickets: #1, #2.")
        named = desk.execute(people.alice, Call("share", None, "#2", files=(shot("p.png", PNG + b"2"),), source=Source.DIRECT))
        assert named.text == "Attached p.png to #2."
        other = desk.execute(people.frank, Call("share", None, "#2", files=(shot(),), source=Source.DIRECT))
        assert other.text == "There is no ticket #2 that you can see; type `mine` to list yours."

    def test_a_ticket_from_a_message_keeps_its_link_thread_and_files_and_answers_there(self, desk, people, engine):
        origin = Origin(link="https://corp.slack.com/archives/C0GEN/p1", author=people.frank,
                        thread=(ThreadPost("slack:U0CAROL", "Carol Diaz", "same here on floor 2"),),
                        files=(shot(author_id="slack:U0FRANK", author_name="Frank Ode"),),
                        reply_to={"platform": "slack", "channel": "C0GEN", "thread": "1.1"})
        call = Call("new", None, "the VPN drops every ten minutes since Monday", source=Source.MESSAGE, origin=origin)
        opened = desk.execute(people.bob, call, dedupe_key="slack:message:C0GEN:1.1")
        ticket = stored(engine, 1)
        assert (ticket.requester.id, ticket.logged_by_name, ticket.via) == ("frank@corp.example", "Bob Lee", "chat")
        assert [(n.author_name, n.body) for n in stored_notes(engine, 1)] == [
            ("Bob Lee", "Opened from a chat message: https://corp.slack.com/archives/C0GEN/p1"),
            ("Carol Diaz", "same here on floor 2")]
        assert [(a.file.name, a.author_name) for a in opened.attachments] == [("vpn-error.png", "Frank Ode")]
        rows = {r["audience"]: r for r in outbox_rows(engine)}
        assert rows["thread:slack"]["text"] == "🎫 #1 is open for Frank Ode: the VPN drops every ten minutes since Monday"
        assert rows["thread:slack"]["data"]["where"] == {"platform": "slack", "channel": "C0GEN", "thread": "1.1"}
        assert rows["user:frank@corp.example"]["text"].endswith("Files on it: vpn-error.png.")
        twice = desk.execute(people.carol, call, dedupe_key="slack:message:C0GEN:1.1")
        assert twice.duplicate and twice.ticket.id == 1 and count_rows(engine, "tickets") == 1


class TestTheStoreAndTheIntake:
    def test_bytes_are_kept_once_by_their_hash_and_written_whole(self, tmp_path):
        store = FileStore(tmp_path / "files")
        sha, new = store.put(PNG)
        assert new and store.read(sha) == PNG and store.path(sha).parent.name == sha[:2]
        assert store.put(PNG) == (sha, False)
        assert [p.name for p in store.path(sha).parent.iterdir()] == [sha], "no temporary file left behind"
        with pytest.raises(ValueError):
            store.path("../../etc/passwd")

    def test_the_default_directory_is_relative_next_to_the_sqlite_file(self):
        assert FileSettings().root("sqlite:///helpdesk.db") == Path("attachments")
        assert FileSettings().root("sqlite:///data/desk.db") == Path("data/attachments")
        assert FileSettings().root("postgresql://db.internal/helpdesk") == Path("attachments")
        assert FileSettings(directory="shared/files").root("sqlite:///x.db") == Path("shared/files")
        with pytest.raises(ValueError, match="not a MIME type"):
            FileSettings(types=["png"])

    def test_the_intake_checks_size_and_type_before_and_after_fetching(self, tmp_path):
        intake = Intake(FileSettings(max_mb=0.001, types=["image/*", "text/plain"]), FileStore(tmp_path))
        served = {"a.png": PNG, "log.txt": b"x" * 2000, "fake.png": b"MZ\x90\x00program", "gone.png": None}

        async def fetch(file: SharedFile, limit: int) -> bytes:
            data = served[file.url]
            if data is None:
                raise FetchFailed("the platform answered 404")
            if len(data) > limit:
                raise TooLarge(len(data))
            return data

        files = [SharedFile("a.png", "image/png", len(PNG), "a.png"), SharedFile("log.txt", "text/plain", None, "log.txt"),
                 SharedFile("fake.png", "image/png", 12, "fake.png"), SharedFile("gone.png", "image/png", 10, "gone.png"),
                 SharedFile("setup.exe", "application/x-msdownload", 10, "setup.exe"),
                 SharedFile("huge.png", "image/png", 10_000_000, "huge.png")]
        uploads = asyncio.run(intake.take(files, fetch, "test"))
        assert [(u.name, u.kept, u.reason) for u in uploads] == [
            ("a.png", True, None),
            ("log.txt", False, "it is 2 KB, over the 1 KB limit"),
            ("fake.png", False, "application/x-msdownload files are not accepted here"),
            ("gone.png", False, "it could not be downloaded (the platform answered 404)"),
            ("setup.exe", False, "application/x-msdownload files are not accepted here"),
            ("huge.png", False, "it is 9.5 MB, over the 1 KB limit")]
        assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp" and sniff(b"plain text") is None


class TestTheChatLayer:
    def test_files_in_a_direct_chat_go_to_the_ticket_a_command_just_opened(self, desk, people, tmp_path):
        chat = Interactions(desk, files=Intake(FileSettings(), FileStore(tmp_path)))

        class Local:
            platform = "test"

            async def fetch(self, file, limit):
                return PNG

            async def person(self, user):
                return None

        outcomes = asyncio.run(chat.shared(people.alice, "new the VPN drops every ten minutes since Monday",
                                           (SharedFile("vpn.png", "image/png", len(PNG), "u"),), Local(),
                                           ticket_id=None, direct=True, key="k1"))
        assert isinstance(outcomes[0], Answer) and outcomes[0].reply.ticket.id == 1
        assert isinstance(outcomes[1], Acknowledged) and outcomes[1].text == "Attached vpn.png to #1."
        again = asyncio.run(chat.shared(people.alice, "new the VPN drops every ten minutes since Monday",
                                        (SharedFile("vpn.png", "image/png", len(PNG), "u"),), Local(),
                                        ticket_id=None, direct=True, key="k1"))
        assert again == [Nothing()], "a platform's retry of the same message does nothing twice"

    def test_a_message_key_names_the_message_wherever_it_is_read(self):
        message = ChatMessage("slack", "C0GEN", "1700000000.000100", "U0ALICE", "VPN down", thread_id="1699.1",
                              link="https://x")
        assert message.key == "slack:message:C0GEN:1700000000.000100"
        assert ChatMessage.read(message.as_data()) == replace(message, text=""), "a form carries no text: it is read again"
        assert message.reply_to == {"platform": "slack", "channel": "C0GEN", "thread": "1699.1"}
        assert ChatMessage.read({"platform": "slack"}) is None


def test_attach_in_the_terminal_reads_the_file_and_keeps_it_next_to_the_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "HELPDESK_", "DATABASE_URL"))}
    env.update(HOME=str(tmp_path), HELPDESK_CONFIG=str(ROOT / "helpdesk.example.toml"), NO_COLOR="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'desk.db'}")
    (tmp_path / "data").mkdir()
    (tmp_path / "shot.png").write_bytes(PNG)
    (tmp_path / "setup.png").write_bytes(b"MZ\x90\x00 a program in disguise")
    lines = ("new the VPN drops every ten minutes since Monday\nattach 1 shot.png\nattach 1 ./shot.png\n"
             "attach 1 setup.png\nattach 1 missing.png\nshow 1\n")
    run = subprocess.run([str(HELPDESK), "shell", "--as", "alice@corp.example"], input=lines, env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    out = run.stdout.splitlines()
    assert out[1:5] == ["✓ Attached shot.png to #1.", "✗ shot.png is already on #1; nothing was added.",
                        "✓ setup.png was not kept: application/x-msdownload files are not accepted here. That is noted on #1.",
                        "✗ There is no file `missing.png` here; give the path of a file on this computer, like "
                        "`attach 12 ./screenshot.png`."]
    assert "    📎 shot.png (image/png, 99 bytes), shared by alice" in out
    assert "    ⚠️ setup.png: not kept, application/x-msdownload files are not accepted here" in out
    kept = list((tmp_path / "data" / "attachments").rglob("*"))
    assert [p.read_bytes() for p in kept if p.is_file()] == [PNG], "kept once, next to the SQLite file"
