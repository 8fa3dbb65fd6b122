"""`help`: lists only what the caller may run, so nobody is shown a door they cannot open."""
from __future__ import annotations

from bot import messages as M
from bot.commands.registry import REGISTRY, CommandSpec, Role
from bot.context import Context
from bot.replies import HelpEntry, Reply


# What technicians may add to a command, shown to them only.
FOR_TECHNICIANS = {"new": HelpEntry(*M.HELP_NEW_FOR)}


def entries(spec: CommandSpec, technician: bool) -> tuple[HelpEntry, ...]:
    """A command's usage lines for the caller: technicians also see what only they may add."""
    extra = FOR_TECHNICIANS.get(spec.name) if technician else None
    return (HelpEntry(spec.usage, spec.summary), *((extra,) if extra else ()))


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
        return Reply(spec.summary, help=entries(spec, ctx.is_technician), detail="\n".join(filter(None, [who, example])))
    allowed = [s for s in REGISTRY if s.role is not Role.TECHNICIAN or ctx.is_technician]
    return Reply(M.HELP_HEADER, help=tuple(e for s in allowed for e in entries(s, ctx.is_technician)),
                 detail=M.HELP_FOOTER)
