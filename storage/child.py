"""How the server starts a Python process of its own (the index builder, the knowledge search,
the look for surges): this interpreter, this checkout's packages, whatever the working directory.

`-P` keeps the working directory off `sys.path`: `python -m` would otherwise put it first, and a
`bot.py` or `storage.py` that happens to sit where the server was started would be imported (and
run) in place of this project's packages. The checkout's root goes first on PYTHONPATH instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_module(module: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run `python -m module` from this checkout."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-P", "-m", module], {**os.environ, "PYTHONPATH": path}
