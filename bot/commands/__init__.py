"""The command grammar: registered once, the same from every adapter."""
from bot.commands.registry import REGISTRY, Call, CommandSpec, Role

# Importing the modules registers their commands.
from bot.commands import lifecycle, listing, helping  # noqa: E402,F401

__all__ = ["REGISTRY", "Call", "CommandSpec", "Role"]
