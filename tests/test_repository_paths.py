"""Every path the docs and benchmarks name exists in the checkout, and no file names one machine's directories.

A fresh clone on any machine must be able to run what README.md, bench/README.md, docs/
and the benchmarks tell it to; these tests read the files as text and run nothing.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_DIRS = ("bot", "adapters", "storage", "tests", "manifest", "bench", "docs", "scripts")
# A repository path as docs write it: `bench/data/x.csv`, `tests/fakes/slack_api.FakeSlack`, `bot/commands/*.py`.
REPO_PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./*-]*)" % "|".join(TOP_DIRS))
MODULE_RUN = re.compile(r"-m\s+((?:%s)(?:\.\w+)+)" % "|".join(TOP_DIRS))
PARENT_RELATIVE = re.compile(r"(?<![\w.])(?:\.\./)+[\w./-]+")
# Directories of one particular machine or person: a work tree, root's or a user's home (POSIX, macOS, Windows).
# System paths (/usr/sbin, /etc/ssl, /tmp) are not flagged.
MACHINE_DIR = re.compile(rb"(?<![\w.-])(?:/(?:work|root)(?=/|\b)|/home/[A-Za-z_]|/Users/[A-Za-z_]|[A-Za-z]:\\+Users\\+)")
# Third-party records quoted as they were written (bug reports citing their reporters' build logs):
# data, not paths this project names.
QUOTED_DATA = ("tests/data/", "bench/data/")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", "build", "dist"}


def repository_files() -> list[str]:
    """Tracked and not-ignored untracked files, relative to the checkout (a tree walk without git)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=ROOT, capture_output=True, check=True).stdout
        return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found += [str((Path(folder) / f).relative_to(ROOT)) for f in files]
        return found


def named_texts() -> dict[str, str]:
    """What the docs and benchmarks tell a reader: every Markdown file, and every string in bench/*.py."""
    texts = {}
    for name in repository_files():
        if name.endswith(".md"):
            texts[name] = (ROOT / name).read_text(encoding="utf-8")
        elif name.startswith("bench/") and name.endswith(".py"):
            tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
            texts[name] = "\n".join(node.value for node in ast.walk(tree)
                                    if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return texts


def exists(named: str) -> bool:
    """A file or folder, a glob, or a module path with an attribute (`tests/fakes/slack_api.FakeSlack`)."""
    named = named.rstrip(".,:;")
    if "*" in named:
        return any(ROOT.glob(named))
    if (ROOT / named).exists():
        return True
    stem = named
    while "." in stem.rsplit("/", 1)[-1]:
        stem = stem.rsplit(".", 1)[0]
        if (ROOT / f"{stem}.py").is_file():
            return True
    return False


def inside_checkout(source: str, relative: str) -> bool:
    """`../x` read from the folder of the file naming it: it must exist and stay inside the checkout."""
    target = (ROOT / source).parent.joinpath(relative.rstrip(".,:;")).resolve()
    return target.is_relative_to(ROOT) and target.exists()


def module_exists(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def test_every_path_the_docs_and_benchmarks_name_exists_in_the_checkout():
    texts = named_texts()
    assert {"README.md", "bench/README.md", "docs/architecture.md", "bench/kb_bench.py"} <= texts.keys()
    named = {(source, path) for source, text in texts.items() for path in REPO_PATH.findall(text)}
    assert ("README.md", "bench/data/gitbugs-hadoop/hadoop_bugs.csv") in named, "the extraction finds the README's paths"
    assert len(named) > 40
    missing = sorted(f"{source}: {path}" for source, path in named if not exists(path))
    assert missing == [], "named but not in the checkout"
    modules = {(source, m) for source, text in texts.items() for m in MODULE_RUN.findall(text)}
    assert ("bench/README.md", "bench.kb_bench") in modules
    assert sorted(f"{source}: -m {m}" for source, m in modules if not module_exists(m)) == []
    relative = {(source, m) for source, text in texts.items() for m in PARENT_RELATIVE.findall(text)}
    assert ("manifest/teams/schema/README.md", "../manifest.json") in relative
    outside = sorted(f"{source}: {m}" for source, m in relative if not inside_checkout(source, m))
    assert outside == [], "a path outside the checkout does not exist in a fresh clone"


def test_the_shipped_benchmark_data_carries_its_licence():
    folder = ROOT / "bench" / "data" / "gitbugs-hadoop"
    assert (folder / "hadoop_bugs.csv").stat().st_size > 2_000_000
    assert (folder / "hadoop_bugs-combined.csv").read_text(encoding="utf-8").startswith("Issue id,Duplicate id")
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in source and "https://creativecommons.org/licenses/by/4.0/" in source
    assert "Avinash Patil" in source and "av9ash/gitbugs" in source


def test_no_file_names_a_directory_of_one_machine():
    files = repository_files()
    assert "pyproject.toml" in files and "tests/ldap_server.py" in files
    found = []
    for name in files:
        if name.startswith(QUOTED_DATA) and name.endswith(".csv"):
            continue
        for number, line in enumerate((ROOT / name).read_bytes().splitlines(), 1):
            if MACHINE_DIR.search(line):
                found.append(f"{name}:{number}: {line.decode(errors='replace').strip()[:120]}")
    assert found == [], "name paths relative to the checkout instead"


def test_the_machine_directory_pattern_tells_home_and_work_directories_from_system_paths():
    slash = b"/"  # spelt in pieces, so this file holds none of the lines it checks
    flagged = [b"cd " + slash + b"work/main", b'DATA = Path("' + slash + b'root/data")', slash + b"home/alice/helpdesk",
               slash + b"Users/bob/src", b"C:\\" + b"Users\\carol\\export.csv", b"see " + slash + b"root"]
    allowed = [b'SBIN = ("/usr/sbin", "/usr/local/sbin")', b"/etc/ssl/corp-ca.pem", b"--corpus-dir /tmp/kbc",
               b"https://example.com/work/items", b"bench/work/x", b"/homework", b"/rooted"]
    assert [line for line in flagged if not MACHINE_DIR.search(line)] == []
    assert [line for line in allowed if MACHINE_DIR.search(line)] == []
