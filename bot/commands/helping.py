"""`help`: lists only what the caller may run, so nobody is shown a door they cannot open."""
from __future__ import annotations

from bot import messages as M
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.replies import HelpEntry, Reply


@REGISTRY.command("help", usage="help [command]", summary="What you can type here.",
                  text="the command", optional_text=True, writes=False, aliases=("?",))
def help_(ctx: Context) -> Reply:
    word = ctx.call.text.strip().lower()
    if word:
        spec = REGISTRY.get(word.lstrip("/"))
        if spec is None:
            return Reply.refuse(M.HELP_UNKNOWN.format(word=word[:40]))
        who = f"Who may run it: {spec.role.value}."
        example = f"Example: `{spec.example}`" if spec.example else ""
        return Reply(spec.summary, help=(HelpEntry(spec.usage, spec.summary),), detail="\n".join(filter(None, [who, example])))
    allowed = [s for s in REGISTRY if s.role is not Role.TECHNICIAN or ctx.is_technician]
    return Reply(M.HELP_HEADER, help=tuple(HelpEntry(s.usage, s.summary) for s in allowed), detail=M.HELP_FOOTER)
