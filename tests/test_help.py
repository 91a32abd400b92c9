"""Every command's --help reads plainly: argument names without typer's braces, every option's
value named in words, defaults as `[default: 50]`, no bounds in typer's `x>=1` notation."""

import re

import pytest
import typer
from claude_cua.cli import main


def every_command():
    main._register()
    group = typer.main.get_command(main.app)
    found = [("cua", group)]

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            found.append((f"{path} {name}", sub))
            walk(sub, f"{path} {name}")

    walk(group, "cua")
    return found


COMMANDS = every_command()
PLACEHOLDERS = [
    (re.compile(r"(?<!\{)\{[A-Z_]+\}(?!\})"), "a required argument in braces"),
    (re.compile(r"<[a-z ]+>"), "a type placeholder such as <str>"),
    (re.compile(r"default: \("), "a parenthesised default"),
    (re.compile(r"\bx\s*[<>]=?\s*-?\d"), "a bound written x>=N"),
]


def test_every_command_is_covered():
    names = {name for name, _ in COMMANDS}
    assert {"cua run", "cua demo", "cua doctor", "cua replay-check", "cua runs list",
            "cua runs show", "cua runs prune", "cua runs report", "cua config show",
            "cua policy show", "cua policy test"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_has_no_placeholders(name, command, capsys):
    code = main.run_cli([*name.split()[1:], "--help"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith(f"Usage: {name}")
    for pattern, what in PLACEHOLDERS:
        found = pattern.findall(out)
        assert not found, f"{name} --help shows {what}: {found}"
    for param in command.params:  # every option that takes a value names it
        if getattr(param, "is_flag", True) or getattr(param, "count", False) or param.hidden:
            continue
        option = next(o for o in param.opts if o.startswith("--"))
        assert re.search(rf"{option} [A-Z][A-Za-z_\[\]=.]*", out), (name, option)
