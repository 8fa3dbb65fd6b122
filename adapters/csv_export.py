"""Reading a CSV export another tool wrote: its encoding, delimiter, columns and date format.

Every way such a file can be unreadable becomes an `ExportError` holding one sentence
that says what is wrong and which option fixes it; nothing here prints or exits.

Encoding, when not given: a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise a
file that is valid UTF-8 is UTF-8, and anything else is read as Windows-1252, what Excel
on a Western Windows writes for "CSV (Comma delimited)". A statistical detector
(charset-normalizer) was tried and rejected: on a short Excel file holding
"café – naïve" it answered cp775 and garbled both words.

Dates, when no format is given: the first values of the date columns that parse in one of
`KNOWN_FORMATS` narrow the candidates until one is left, so a file is read day-first or
month-first as a whole, never row by row; when its values never tell (every day ≤ 12) the
earlier candidate wins (month-first for slashes) and a note says so.
"""
from __future__ import annotations

import codecs
import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

csv.field_size_limit(16 * 1024 * 1024)

DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: FF FE starts both
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class ExportError(Exception):
    """A file that cannot be read as asked; str() is one sentence for the person running the command."""


def detect_encoding(path: str) -> str:
    """The codec to read `path` with (see the module docstring); raises ExportError if it cannot be read."""
    with _open_binary(path) as handle:
        head = handle.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return "utf-8" if _first_undecodable(path, "utf-8") is None else "cp1252"


def check_encoding(path: str, encoding: str, detected: bool = False) -> None:
    """Raise ExportError naming the line and byte where `path` stops being `encoding` (`detected`: the
    fallback after UTF-8, not an --encoding the person gave)."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ExportError(f"--encoding {encoding!r} is not an encoding Python knows; "
                          "try utf-8, cp1252, latin-1 or utf-16") from None
    bad = _first_undecodable(path, encoding)
    if bad is not None:
        line, byte = bad
        others = [e for e in ("cp1252", "cp1250", "latin-1", "mac-roman")
                  if codecs.lookup(e).name != codecs.lookup(encoding).name][:3]
        what = f"UTF-8 or {encoding}" if detected else encoding
        raise ExportError(f"{path} is not {what} text: the byte 0x{byte:02X} on line {line:,} is not valid "
                          f"{encoding}; name the file's encoding with --encoding, for example {', '.join(others)}")


def _open_binary(path: str):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from None


def _first_undecodable(path: str, encoding: str) -> tuple[int, int] | None:
    """(line number, byte) of the first byte `encoding` cannot decode, or None if the whole file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with _open_binary(path) as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.object is what the decoder held: bytes kept from the last chunk, then this one.
                start = max(0, exc.start - (len(exc.object) - len(chunk)))
                return lines + chunk[:start].count(b"\n"), exc.object[exc.start]
            if not chunk:
                return None
            lines += chunk.count(b"\n")


TIMES = (" %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "")  # with or without seconds, 24 h or 12 h, or none


@dataclass(frozen=True)
class DateFormat:
    """A strptime pattern for the date, followed by one of `times`; `pattern` None is ISO 8601
    (`2021-09-30`, `2021-09-30 17:20`, `…T17:20:00Z`, `…+02:00`, fractions of a second)."""

    pattern: str | None
    times: tuple[str, ...] = ("",)

    def read(self, value: str) -> tuple[datetime | None, str | None]:
        """(the instant in UTC, the full pattern that read it), or (None, None) if the value does not fit.
        Values without an offset are taken as UTC."""
        when = used = None
        if self.pattern is None:
            try:
                when, used = datetime.fromisoformat(value), "ISO 8601"
            except ValueError:
                pass
        else:
            for time in self.times:
                try:
                    when, used = datetime.strptime(value, self.pattern + time), self.pattern + time
                    break
                except ValueError:
                    continue
        if when is None:
            return None, None
        return (when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)), used

    def parse(self, value: str) -> datetime | None:
        """The moment `value` names in this format (UTC), or None."""
        return self.read(value)[0]

    def __str__(self) -> str:
        if self.pattern is None:
            return "ISO 8601"
        return self.pattern if self.times == ("",) else f"{self.pattern} with or without a time"


KNOWN_FORMATS = (DateFormat(None), *(DateFormat(day, TIMES) for day in (
    "%d/%b/%y", "%d/%b/%Y",  # Jira: 30/Sep/21 17:20
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y",  # month-first first: the tie-break for 03/04/2021
    "%d.%m.%Y", "%d.%m.%y", "%Y/%m/%d", "%d-%b-%Y", "%d-%b-%y", "%d %b %Y")))


@dataclass
class _Column:
    option: str
    values: int = 0  # non-empty values seen
    fitting: int = 0  # of those, values that parsed while the format was being decided
    first: str | None = None
    failed: int = 0  # values the decided format could not read (while reading)
    failed_example: str | None = None


@dataclass
class DateColumns:
    """One date format for a file's date columns: `see` every row, `decide`, then `parse`.

    `columns` maps each date column to the option that names it (for messages); `explicit`
    is --date-format, which skips the detection but not the checks.
    """

    path: str
    columns: dict[str, str]
    explicit: str | None = None
    candidates: list[DateFormat] = field(default_factory=list)
    _seen: dict[str, _Column] = field(default_factory=dict)
    _tie: str | None = None  # a value the remaining candidates read differently

    def __post_init__(self) -> None:
        self.candidates = [DateFormat(self.explicit)] if self.explicit else list(KNOWN_FORMATS)
        self._seen = {name: _Column(option) for name, option in self.columns.items()}

    def see(self, row: dict[str, str]) -> None:
        """Narrow the candidate formats with a row's values of the date columns."""
        for name, column in self._seen.items():
            value = (row.get(name) or "").strip()
            if not value:
                continue
            column.values += 1
            column.first = column.first or value
            if column.fitting and len(self.candidates) == 1:
                continue  # decided, and this column has shown it fits
            fitting = [f for f in self.candidates if f.parse(value) is not None]
            if fitting:
                column.fitting += 1
                if len(fitting) > 1 and self._tie is None and len({f.parse(value) for f in fitting}) > 1:
                    self._tie = value
                self.candidates = fitting

    def decide(self, required: Iterable[str] = ()) -> list[str]:
        """Check every date column can be read; returns notes for stderr. Raises ExportError when a
        column has values and none of them is a date in the format, or a `required` column is empty."""
        for name, column in self._seen.items():
            if column.values and not column.fitting:
                if self.explicit:
                    how, fix = f"matches --date-format {self.explicit!r}", "correct the pattern or leave it out"
                else:
                    how, fix = ("is a date in a format helpdesk knows",
                                "pass --date-format with its strptime pattern (for example '%Y/%d/%m %H:%M')")
                raise ExportError(f"no value in column {name!r} of {self.path} {how} (for example {column.first!r}); "
                                  f"{fix}, or set {column.option} to the column that holds the dates")
            if not column.values and name in required:
                raise ExportError(f"column {name!r} of {self.path} is empty in every row, so no ticket has a date; "
                                  f"set {column.option} to the column that holds the dates")
        notes = []
        if self._tie is not None and len(self.candidates) > 1:
            chosen, other = (f.read(self._tie)[1] for f in self.candidates[:2])
            notes.append(f"dates such as {self._tie!r} fit both {chosen} and {other}; read as {chosen} "
                         f"(pass --date-format {other!r} if that is wrong)")
        return notes

    @property
    def format(self) -> DateFormat:
        """The date format chosen for the file."""
        return self.candidates[0]

    def parse(self, name: str, value: str | None) -> datetime | None:
        """The date in `name`'s `value` (None if empty or unreadable, which `failures` then counts)."""
        value = (value or "").strip()
        if not value:
            return None
        when = self.format.parse(value)
        if when is None:
            column = self._seen[name]
            column.failed += 1
            column.failed_example = column.failed_example or value
        return when

    def failures(self, consequences: dict[str, str]) -> list[str]:
        """One sentence per column with values `parse` could not read, ending with what became of those rows."""
        return [f"{c.failed:,} of {c.values:,} values in column {name!r} could not be read as dates in "
                f"{self.format} (for example {c.failed_example!r}); {consequences[name]}"
                for name, c in self._seen.items() if c.failed]


class CsvExport:
    """A CSV file with a header row that holds every column of `columns` (column name → option naming it).

    `encoding` and `delimiter` are detected when None. Raises ExportError when the file
    cannot be opened or decoded, is empty, or lacks a column.
    """

    def __init__(self, path: str, columns: dict[str, str], encoding: str | None = None,
                 delimiter: str | None = None) -> None:
        self.path = path
        if encoding:
            check_encoding(path, encoding)
            if codecs.lookup(encoding).name == "utf-8" and detect_encoding(path) == "utf-8-sig":
                encoding = "utf-8-sig"  # --encoding utf-8 on a file with a BOM: the BOM is not part of a column name
        self.encoding = encoding or detect_encoding(path)
        if not encoding and self.encoding == "cp1252":
            check_encoding(path, "cp1252", detected=True)
        with self._open() as handle:
            header = next((line for line in handle if line.strip()), "")  # csv skips blank lines before it too
        if not header:
            raise ExportError(f"{path} is empty; a CSV export starts with a header row naming its columns")
        self.delimiter = delimiter or _delimiter(header)
        self.fieldnames = next(csv.reader([header], delimiter=self.delimiter))
        missing = [(name, option) for name, option in columns.items() if name and name not in self.fieldnames]
        if missing:
            wanted = " or ".join(f"{name!r} (set {option})" for name, option in missing)
            raise ExportError(f"{path} has no column {wanted}; its columns are "
                              f"{', '.join(repr(n) for n in self.fieldnames)}")

    def _open(self):
        try:
            return open(self.path, newline="", encoding=self.encoding)
        except OSError as exc:
            raise ExportError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def rows(self) -> Iterator[dict[str, str]]:
        """The file's rows as dicts by column name. Raises ExportError when the file is not CSV it can read."""
        with self._open() as handle:
            reader = csv.DictReader(handle, delimiter=self.delimiter)
            try:
                yield from reader
            except csv.Error as exc:
                raise ExportError(f"{self.path} is not a CSV file helpdesk can read: line {reader.line_num:,}: "
                                  f"{exc}") from None


def _delimiter(header: str) -> str:
    """The separator the header row uses most: `,`, `;` (Excel where the decimal mark is a comma) or a tab."""
    counts = Counter(ch for ch in header if ch in DELIMITERS)
    return max(DELIMITERS, key=lambda d: counts[d]) if counts else ","
