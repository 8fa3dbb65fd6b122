"""The command grammar: registered once, the same from every adapter.

Grouped as people think of them: opening a ticket, working it, its files, escalating it,
closing it, the knowledge base, major incidents, and the read-only lists and help."""
from bot.commands.registry import REGISTRY, Call, CommandSpec, Role, Source

# Importing the modules registers their commands (help lists them in this order).
from bot.commands import opening, working, files, knowledge, closing, escalating, incidents, listing, helping  # noqa: E402,F401

__all__ = ["REGISTRY", "Call", "CommandSpec", "Role", "Source"]
