"""The core stays free of platform SDKs and drivers, so adapters can be swapped."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "ldap3", "sqlalchemy", "alembic",
             "psycopg", "psycopg2", "asyncpg", "sqlite3", "aiosqlite", "aiohttp", "storage", "adapters")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_file_in_bot_imports_an_sdk_a_driver_or_an_adapter():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & set(FORBIDDEN))
                 for p in (ROOT / "bot").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_botbuilder_import_stays_inside_adapters_teams():
    """The Python Bot Framework SDK is archived upstream: swapping it must touch one folder."""
    offenders = sorted(str(p.relative_to(ROOT)) for folder in ("bot", "adapters", "storage") for p in (ROOT / folder).rglob("*.py")
                       if imported_modules(p) & {"botbuilder", "botframework", "msrest"}
                       and (ROOT / "adapters" / "teams") not in p.parents)
    assert offenders == []


def test_importing_the_core_loads_none_of_them():
    code = ("import sys, bot.desk, bot.commands, bot.config; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_is_registered_once_with_help_and_an_example():
    from bot.commands import REGISTRY

    names = [spec.name for spec in REGISTRY]
    assert names == sorted(set(names), key=names.index)
    assert set(names) == {"new", "claim", "assign", "note", "internal", "wait", "escalate", "resolve", "reopen",
                          "close", "confirm", "urgent", "sla", "similar", "solved", "rate", "report", "whois", "show", "mine", "queue",
                          "help", "attach", "link", "unlink", "merge", "incident", "incidents", "broadcast", "dismiss",
                          "set", "unassign"}
    for spec in REGISTRY:
        assert spec.summary and spec.usage.startswith(spec.name)
        if spec.takes_ticket:
            assert spec.example, spec.name


PLATFORM_NAMES = re.compile(r"(?i)\b(slack|teams|msteams|bolt|botbuilder|bot ?framework|block ?kit|adaptive ?cards?|"
                            r"mrkdwn|ldap3?|active directory)\b")
PLATFORM_FORMATS = re.compile(r"<@[UW][A-Z0-9]{2,}|<!(here|channel|everyone|subteam)|xox[abp]-|19:[^\s\"']*@thread|"
                              r"\b28:[0-9a-f-]{8,}|\baad-|userAccountControl")


def test_the_core_names_no_platform_and_no_platform_format():
    """Not only no imports: no platform's name, id shape or markup anywhere in bot/ (code,
    strings or comments); adapters translate before the core sees anything."""
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for pattern in (PLATFORM_NAMES, PLATFORM_FORMATS):
                match = pattern.search(line)
                if match:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert found == []


def test_directory_settings_and_worker_threads_live_in_the_ldap_adapter():
    modules = imported_modules(ROOT / "bot" / "directory.py")
    assert not modules & {"pydantic", "concurrent", "threading", "logging", "os"}
