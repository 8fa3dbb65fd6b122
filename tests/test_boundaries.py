"""The core stays free of platform SDKs and drivers, so adapters can be swapped."""
from __future__ import annotations

import ast
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
                          "close", "confirm", "urgent", "sla", "similar", "solved", "report", "whois", "show", "mine", "queue", "help"}
    for spec in REGISTRY:
        assert spec.summary and spec.usage.startswith(spec.name)
        if spec.takes_ticket:
            assert spec.example, spec.name
