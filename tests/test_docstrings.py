"""Public functions say what they take and give, and which errors they raise (and why)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters", "storage")


def public_functions(tree: ast.Module):
    """Module-level functions and the methods of public classes, not those named with `_`."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from (sub for sub in node.body if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)))


def declared_only(node: ast.AST) -> bool:
    """A body of just `...`: a declaration (a protocol's method, a mixin's reminder), not code."""
    body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                         and isinstance(n.value.value, str))]
    return len(body) == 1 and isinstance(body[0], ast.Expr) and body[0].value.value is Ellipsis \
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else False


def registered_command(node: ast.AST) -> bool:
    """A command handler: its usage and summary are its documentation (and `help`'s)."""
    return any(isinstance(d, ast.Call) and getattr(d.func, "attr", getattr(d.func, "id", "")) == "command"
               for d in node.decorator_list)


def test_every_public_function_has_a_docstring_and_names_what_it_raises():
    undocumented, silent = [], []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in public_functions(ast.parse(path.read_text(encoding="utf-8"))):
                if node.name.startswith("_") or declared_only(node) or registered_command(node):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                doc = ast.get_docstring(node)
                if not doc:
                    undocumented.append(where)
                elif any(isinstance(n, ast.Raise) and n.exc is not None for n in ast.walk(node)) \
                        and "raise" not in doc.lower():
                    silent.append(where)
    assert undocumented == [], "public functions without a docstring"
    assert silent == [], "functions that raise without saying which error and why"
