"""`helpdesk kb import` and `helpdesk kb eval` on CSV files as other tools write them.

Each test runs the real `helpdesk` entry point (adapters.cli.main) on a file written in
tmp_path and asserts what is printed and what is stored, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters import cli
from bot.config import ENV_KEYS
from storage.database import make_engine, upgrade
from storage.schema import history

DATA = Path(__file__).resolve().parent / "data"
UTC = timezone.utc
HEADER = ["Issue id", "Summary", "Description", "Resolution", "Created", "Resolved"]


@pytest.fixture
def helpdesk(monkeypatch, tmp_path, capsys):
    """Run `helpdesk ARGS…` in-process in an empty folder with no configuration; returns (code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for var in (*ENV_KEYS, "HELPDESK_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse: --help, bad option
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path, monkeypatch, helpdesk):
    """A migrated database of each kind, which DATABASE_URL names for the command; yields an engine on it."""
    if request.param == "sqlite":
        url, connect_args = f"sqlite:///{tmp_path / 'kb.db'}", {}
        command_url = url
    else:
        url, connect_args, schema = request.getfixturevalue("pg_schema")
        command_url = f"{url}?options=-csearch_path%3D{schema}"
    engine = make_engine(url, connect_args=connect_args) if connect_args else make_engine(url)
    upgrade(engine)
    monkeypatch.setenv("DATABASE_URL", command_url)
    yield engine
    engine.dispose()


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> str:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))
    return str(path)


def dated_export(tmp_path: Path, *created: str, resolved: bool = False) -> str:
    """export.csv with one ticket per date, ids 0, 1, …; `resolved` repeats the date as the resolution date."""
    return write_csv(tmp_path / "export.csv", [HEADER, *([str(i), f"problem {i}", "text", "Fixed", value,
                                                         value if resolved else ""] for i, value in enumerate(created))])


def stored(engine) -> dict[str, dict]:
    """Imported history by "source:id" (history lives in its own table, not among tickets)."""
    with engine.connect() as conn:
        return {f"{r.source}:{r.source_id}": r._asdict() for r in conn.execute(select(history)).all()}


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------ encodings


def test_an_excel_file_in_windows_1252_imports_with_its_text_intact(helpdesk, database, tmp_path):
    engine = database
    path = write_csv(tmp_path / "export.csv", [
        HEADER,
        ["INC-7", "Café printer – naïve driver", "café – naïve: the “Finance” queue prints €0.00",
         "Réinstallé le pilote", "30/Sep/21 17:20", "01/Oct/21 09:05"],
    ], encoding="cp1252")
    assert b"\x96" in Path(path).read_bytes(), "the en dash is cp1252's own byte, not a Latin-1 character"

    code, out, err = helpdesk("kb", "import", path)

    assert (code, out.strip()) == (0, "imported 1 new ticket(s); 0 were already there"), err
    ticket = stored(engine)["export:INC-7"]
    assert ticket["description"] == "Café printer – naïve driver\ncafé – naïve: the “Finance” queue prints €0.00"
    assert ticket["resolution"] == "Réinstallé le pilote"
    assert aware(ticket["created_at"]) == datetime(2021, 9, 30, 17, 20, tzinfo=UTC)
    assert aware(ticket["resolved_at"]) == datetime(2021, 10, 1, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize("encoding, delimiter, created", [
    ("utf-16", "\t", "2021-09-30 17:20:00"),  # Excel "Unicode Text": UTF-16 with a BOM, tab-separated
    ("utf-8-sig", ",", "09/30/2021 17:20"),  # Excel "CSV UTF-8": a BOM, US dates
    ("cp1252", ";", "30.09.2021 17:20"),  # Excel where the decimal mark is a comma: semicolons, German dates
])
def test_the_shapes_excel_saves_in_are_detected(helpdesk, database, tmp_path, encoding, delimiter, created):
    engine = database
    path = write_csv(tmp_path / "export.csv", [HEADER, ["7", "Zürich VPN – drops", "naïve, “quoted”", "Fixed", created, ""]],
                     encoding=encoding, delimiter=delimiter)

    code, out, err = helpdesk("kb", "import", path)

    assert code == 0 and "imported 1 new ticket(s)" in out, err
    ticket = stored(engine)["export:7"]
    assert ticket["description"] == "Zürich VPN – drops\nnaïve, “quoted”"
    assert aware(ticket["created_at"]) == datetime(2021, 9, 30, 17, 20, tzinfo=UTC)


def test_an_encoding_that_does_not_fit_is_named_with_its_line(helpdesk, tmp_path):
    path = write_csv(tmp_path / "export.csv", [HEADER, ["1", "ok", "ok", "Fixed", "", ""],
                                               ["2", "café", "x", "Fixed", "", ""]], encoding="cp1252")

    code, out, err = helpdesk("kb", "import", path, "--encoding", "utf-8")

    assert code == 2 and out == ""
    assert err == (f"helpdesk: {path} is not utf-8 text: the byte 0xE9 on line 3 is not valid utf-8; "
                   "name the file's encoding with --encoding, for example cp1252, cp1250, latin-1\n")
    assert not (tmp_path / "unused.db").exists(), "a file that cannot be read never touches the database"


def test_a_file_that_is_neither_utf8_nor_windows_1252_says_so(helpdesk, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"Issue id,Summary,Description,Resolution,Created,Resolved\r\n1,\x81,x,Fixed,,\r\n")

    code, _, err = helpdesk("kb", "import", str(path))

    assert code == 2
    assert err.startswith(f"helpdesk: {path} is not UTF-8 or cp1252 text: the byte 0x81 on line 2 ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unknown_encoding_or_a_missing_file_is_one_sentence(helpdesk, tmp_path):
    path = write_csv(tmp_path / "export.csv", [HEADER])
    assert helpdesk("kb", "import", path, "--encoding", "klingon")[::2] == (
        2, "helpdesk: --encoding 'klingon' is not an encoding Python knows; try utf-8, cp1252, latin-1 or utf-16\n")
    missing = str(tmp_path / "nowhere.csv")
    assert helpdesk("kb", "eval", "--tickets", missing, "--duplicates", path)[::2] == (
        2, f"helpdesk: cannot read {missing}: No such file or directory\n")


def test_encoding_and_delimiter_given_by_hand_are_used(helpdesk, tmp_path):
    rows = [["Issue id", "Summary", "Description", "Created"], ["1", "VPN drops – café", "x", "2021-09-30"],
            ["2", "VPN drops – café again", "y", "2021-10-01"]]
    tickets = write_csv(tmp_path / "t.csv", rows, encoding="utf-8-sig", delimiter="\t")
    duplicates = write_csv(tmp_path / "d.csv", [["Issue id", "Duplicate id"], ["2", "1"]], delimiter="\t")

    code, out, err = helpdesk("kb", "eval", "--tickets", tickets, "--duplicates", duplicates,
                              "--encoding", "utf-8", "--delimiter", "tab")

    assert code == 0, err
    assert json.loads(out)["R@1"] == 1.0, "the BOM is not read into the first column's name"


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize("values, expected", [
    (["2021-09-30T17:20:00Z", "2021-09-30T19:20:00+02:00", "2021-09-30 17:20", "2021-09-30T17:20:00.000-00:00"],
     [datetime(2021, 9, 30, 17, 20)] * 4),
    (["30/Sep/21 17:20", "1/Oct/21 9:05"], [datetime(2021, 9, 30, 17, 20), datetime(2021, 10, 1, 9, 5)]),
    (["09/30/2021 17:20", "10/01/2021 09:05:30"], [datetime(2021, 9, 30, 17, 20), datetime(2021, 10, 1, 9, 5, 30)]),
    (["09/30/2021 5:20 PM"], [datetime(2021, 9, 30, 17, 20)]),
    (["30.09.2021 17:20:00", "01.10.2021 09:05"], [datetime(2021, 9, 30, 17, 20), datetime(2021, 10, 1, 9, 5)]),
    # Day-first is decided once for the file: 03/04 is the 3rd of April because 30/09 can only be day-first.
    (["03/04/2021 10:00", "30/09/2021 17:20"], [datetime(2021, 4, 3, 10, 0), datetime(2021, 9, 30, 17, 20)]),
])
def test_common_date_formats_are_recognised_without_date_format(helpdesk, database, tmp_path, values, expected):
    engine = database
    path = dated_export(tmp_path, *values, resolved=True)

    code, out, err = helpdesk("kb", "import", path)

    assert code == 0 and f"imported {len(values)} new ticket(s)" in out, err
    assert "note" not in err
    found = stored(engine)
    assert [aware(found[f"export:{i}"]["created_at"]) for i in range(len(values))] == [
        e.replace(tzinfo=UTC) for e in expected]
    assert [aware(found[f"export:{i}"]["resolved_at"]) for i in range(len(values))] == [
        e.replace(tzinfo=UTC) for e in expected]


def test_dates_that_never_tell_day_from_month_are_read_month_first_with_a_note(helpdesk, database, tmp_path):
    engine = database
    path = dated_export(tmp_path, "03/04/2021 10:00", "05/06/2021 11:00")

    code, _, err = helpdesk("kb", "import", path)

    assert code == 0
    assert ("helpdesk: note: dates such as '03/04/2021 10:00' fit both %m/%d/%Y %H:%M and %d/%m/%Y %H:%M; "
            "read as %m/%d/%Y %H:%M (pass --date-format '%d/%m/%Y %H:%M' if that is wrong)") in err
    assert aware(stored(engine)["export:0"]["created_at"]) == datetime(2021, 3, 4, 10, 0, tzinfo=UTC)
    code, _, err = helpdesk("kb", "import", path, "--date-format", "%d/%m/%Y %H:%M", "--source", "again")
    assert code == 0 and "note" not in err
    assert aware(stored(engine)["again:0"]["created_at"]) == datetime(2021, 4, 3, 10, 0, tzinfo=UTC)


def test_dates_in_no_known_format_stop_the_import_naming_the_column_and_a_value(helpdesk, database, tmp_path):
    engine = database
    path = dated_export(tmp_path, "2021/30/09", "2021/31/09")

    code, out, err = helpdesk("kb", "import", path)

    assert code == 2 and out == ""
    assert err == (f"helpdesk: no value in column 'Created' of {path} is a date in a format helpdesk knows "
                   "(for example '2021/30/09'); pass --date-format with its strptime pattern (for example "
                   "'%Y/%d/%m %H:%M'), or set --created-column to the column that holds the dates\n")
    assert stored(engine) == {}
    code, _, err = helpdesk("kb", "import", path, "--date-format", "%d/%b/%y %H:%M")
    assert code == 2 and err.startswith("helpdesk: no value in column 'Created' of ")
    assert "matches --date-format '%d/%b/%y %H:%M' (for example '2021/30/09')" in err


def test_a_few_unreadable_dates_are_imported_and_counted(helpdesk, database, tmp_path):
    engine = database
    path = dated_export(tmp_path, "2021-09-30 17:20", "sometime in May")

    code, out, err = helpdesk("kb", "import", path)

    assert code == 0 and "imported 2 new ticket(s)" in out
    assert ("helpdesk: note: 1 of 2 values in column 'Created' could not be read as dates in ISO 8601 "
            "(for example 'sometime in May'); those tickets were imported as created now") in err
    assert set(stored(engine)) == {"export:0", "export:1"}


def iso_sample(tmp_path: Path) -> str:
    """The Hadoop sample with its Jira dates (30/Sep/21 17:20, UTC) rewritten as the same instants in ISO 8601
    with a +02:00 offset (2021-09-30T19:20:00+02:00)."""
    with open(DATA / "gitbugs_hadoop_sample.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        created = datetime.strptime(row["Created"], "%d/%b/%y %H:%M").replace(tzinfo=UTC)
        row["Created"] = created.astimezone(timezone(timedelta(hours=2))).isoformat()
    target = tmp_path / "sample-iso.csv"
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(target)


def test_eval_reads_iso_dates_and_gives_the_same_figures(helpdesk, tmp_path):
    duplicates = str(DATA / "gitbugs_hadoop_sample_duplicates.csv")
    code, out, err = helpdesk("kb", "eval", "--tickets", iso_sample(tmp_path), "--duplicates", duplicates)
    assert code == 0, err
    iso = json.loads(out)
    code, out, _ = helpdesk("kb", "eval", "--tickets", str(DATA / "gitbugs_hadoop_sample.csv"), "--duplicates", duplicates)
    jira = json.loads(out)
    assert iso["queries"] == jira["queries"] == 66 and iso["reports"] == jira["reports"] == 379
    assert {k: iso[k] for k in ("R@1", "R@5", "R@10", "MRR")} == {k: jira[k] for k in ("R@1", "R@5", "R@10", "MRR")}


def test_eval_with_dates_in_no_known_format_fails_instead_of_printing_nulls(helpdesk, tmp_path):
    rows = [["Issue id", "Summary", "Description", "Created"], ["1", "vpn drops", "x", "Thursday"],
            ["2", "vpn drops again", "y", "Friday"]]
    tickets = write_csv(tmp_path / "t.csv", rows)
    duplicates = write_csv(tmp_path / "d.csv", [["Issue id", "Duplicate id"], ["2", "1"]])

    code, out, err = helpdesk("kb", "eval", "--tickets", tickets, "--duplicates", duplicates)

    assert code == 2 and out == "" and "null" not in err
    assert err.startswith(f"helpdesk: no value in column 'Created' of {tickets} is a date in a format helpdesk knows "
                          "(for example 'Thursday'); ")
    rows[1][3], rows[2][3] = "", ""
    write_csv(tmp_path / "t.csv", rows)
    code, _, err = helpdesk("kb", "eval", "--tickets", tickets, "--duplicates", duplicates)
    assert code == 2 and err == (f"helpdesk: column 'Created' of {tickets} is empty in every row, so no ticket has "
                                 "a date; set --created-column to the column that holds the dates\n")


def test_eval_with_no_duplicate_to_find_says_why_instead_of_printing_nulls(helpdesk, tmp_path):
    tickets = write_csv(tmp_path / "t.csv", [["Issue id", "Summary", "Description", "Created"],
                                              ["1", "vpn drops", "x", "2021-09-30"], ["2", "vpn again", "y", "2021-10-01"]])
    duplicates = write_csv(tmp_path / "d.csv", [["Issue id", "Duplicate id"], ["HADOOP-2", "HADOOP-1"]])

    code, out, err = helpdesk("kb", "eval", "--tickets", tickets, "--duplicates", duplicates)

    assert code == 2 and out == ""
    assert err == (f"helpdesk: none of the 2 tickets in {tickets} has a labelled duplicate filed before it in "
                   f"{duplicates}, so there is nothing to measure; check that --id-column and "
                   "--duplicate-id-column name the ids both files share\n")


# ------------------------------------------------------------------ columns and help


def test_a_missing_column_is_named_with_the_option_that_maps_it(helpdesk, tmp_path):
    path = write_csv(tmp_path / "export.csv", [["Key", "Title", "Body", "Resolution", "Created", "Resolved"]])

    code, _, err = helpdesk("kb", "import", path)

    assert code == 2
    assert err == (f"helpdesk: {path} has no column 'Issue id' (set --id-column) or 'Summary' (set --summary-column) "
                   "or 'Description' (set --description-column); its columns are 'Key', 'Title', 'Body', "
                   "'Resolution', 'Created', 'Resolved'\n")
    code, out, err = helpdesk("kb", "import", path, "--id-column", "Key", "--summary-column", "Title",
                              "--description-column", "Body")
    assert code == 0 and "imported 0 new ticket(s)" in out, err
    duplicates = write_csv(tmp_path / "d.csv", [["Issue id", "Duplicates"]])
    code, _, err = helpdesk("kb", "eval", "--tickets", str(DATA / "gitbugs_hadoop_sample.csv"), "--duplicates", duplicates)
    assert code == 2 and "has no column 'Duplicate id' (set --duplicate-id-column); its columns are " in err


def test_help_shows_every_default(helpdesk):
    for command in ("import", "eval", "similar"):
        code, out, _ = helpdesk("kb", command, "--help")
        assert code == 0
        usage, _, options_part = out.partition("options:")
        options = [line for line in options_part.splitlines() if line.strip().startswith("--")]
        assert options
        text = " ".join(options_part.split())
        for option in options:
            name = option.split()[0]
            if f"[{name}" not in usage:
                continue  # required: there is no default to show
            described = re.split(rf"(?:^|\s){re.escape(name)}\s", text, maxsplit=1)[1].split(" --", 1)[0]
            assert "(default:" in described, f"kb {command} {name} shows no default"
    _, out, _ = helpdesk("kb", "import", "--help")
    flat = " ".join(out.split())
    assert "--summary-column SUMMARY_COLUMN column of the one-line problem (default: Summary)" in flat
    assert "Jira's 30/Sep/21 17:20" in flat and "(default: detected" in flat
