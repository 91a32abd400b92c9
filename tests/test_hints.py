"""Every hint cua prints names an option that exists for the command that prints it.

The hints are read from the sources: each string in a `raise`, a write to stdout or stderr, or a
doctor check's fix, in cli/ and core/. A hint that names its command (`cua run --virtual-display
WxH`) is checked against that command; one that names an option alone is checked against every
command whose code reaches the module it is in (by the modules each command imports), since any
of them may print it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer
from claude_cua.cli import main

ROOT = Path(main.__file__).resolve().parents[1]
OPTION = re.compile(r"(?<![\w{-])--[a-z][a-z0-9-]*")
NAMED = re.compile(r"cua ((?:runs|config|policy) [a-z]+|[a-z][a-z-]*)\b[^`;,.()]*?$")
# Another program's command line inside a hint (`ray start --address …`, `pip install …`): its
# options are that program's.
OTHER = re.compile(r"\b(?:ray|pip|apt-get|xdotool|chmod|claude|ssh) [a-z][a-z-]*\b[^`;,.()]*?$")
# Not cua's options: another program's (xdotool, the bundled form), or CSS custom properties.
ELSEWHERE = {"cli/demo/supplier_form.py", "core/report/page.py"}


def commands() -> dict[str, tuple[set[str], str]]:
    """`run`, `runs list`, …: each command's options and the module of its function."""
    main._register()
    group = typer.main.get_command(main.app)
    found = {}

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            if hasattr(sub, "commands"):
                walk(sub, [*path, name])
            else:
                options = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)}
                found[" ".join([*path, name])] = (options | {"--help", "-h"},
                                                  sub.callback.__name__)
    walk(group, [])
    return found


def _strings(node: ast.AST) -> list[str]:
    """The text of every string literal under `node` (f-strings' literal parts joined; a
    format spec such as the `g` of `{x:g}` is not text)."""
    specs = {id(c) for sub in ast.walk(node) if isinstance(sub, ast.FormattedValue)
             and sub.format_spec is not None for c in ast.walk(sub.format_spec)}
    out = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in specs:
            out.append(sub.value)
    return out


def _is_message(node: ast.AST) -> bool:
    if isinstance(node, ast.Raise):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("write", "print", "Check", "_write_fd", "echo")
    return False


def hints() -> list[tuple[str, int, str]]:
    """(file, line, text) of every message in cli/ and core/ that names an option."""
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = str(path.relative_to(ROOT))
        if relative in ELSEWHERE or not relative.startswith(("cli/", "core/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_message(node):
                text = "".join(_strings(node))
                if OPTION.search(text):
                    found.append((relative, node.lineno, text))
    return found


def test_every_hint_names_an_option_that_exists_for_the_command_it_names():
    """An option a message names exists: for the command it names (`cua run --app CMD`), else
    for some command (a message with no command is printed by the command that takes it)."""
    known = commands()
    every = set().union(*(options for options, _ in known.values()))
    wrong = set()
    found = hints()
    for relative, line, text in found:
        for match in OPTION.finditer(text):
            option = match.group()
            other = OTHER.search(text[:match.start()])
            named = NAMED.search(text[:match.start()])
            if other is not None and (named is None or other.start() > named.start()):
                continue  # another program's option
            command = named.group(1) if named else None
            if command is not None and command not in known:
                command = command.split()[0] if command.split()[0] in known else None
            options = known[command][0] if command else every
            if option not in options:
                where = f"`cua {command}`" if command else "any command"
                wrong.add(f"{relative}:{line}: {where} has no {option}: {text!r}")
    assert len(found) > 40  # the hints were found: the test reads the sources it means to
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("env", [{}, {"WAYLAND_DISPLAY": "wayland-0"}])
@pytest.mark.parametrize("argv", [("replay-check", "latest"), ("doctor",), ("run", "x")])
def test_the_display_hints_of_each_command_name_its_own_options(argv, env, capsys, monkeypatch,
                                                                isolated_environment, tmp_path):
    """Without a display each command says what to do with options it has (replay-check
    suggested --virtual-display, which only `cua run` and `cua demo` take)."""
    from claude_cua.cli.main import run_cli

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-hints-0123456789")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if argv[0] == "replay-check":
        _a_replayable_run(tmp_path, monkeypatch)
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    assert code in (1, 2, 5), (code, out, err)
    known = commands()
    for match in OPTION.finditer(out + err):
        before = (out + err)[:match.start()]
        named = NAMED.search(before.splitlines()[-1] if before.splitlines() else "")
        command = named.group(1) if named and named.group(1) in known else argv[0]
        assert match.group() in known[command][0], (argv, out + err)


def _a_replayable_run(tmp_path, monkeypatch):
    """A recorded success with its screenshots, under CUA_DATA_DIR (made by a fake-desktop run
    against the fake Messages API)."""
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
    from claude_cua.cli.demo.policies import computer_call, report
    from claude_cua.cli.main import run_cli

    with FakeMessagesAPI() as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]),
                  Reply([report("success", "done")]))
        assert run_cli(["run", "--desktop", "fake", "--model", "claude-sonnet-5-5", "-q",
                        "click"]) == 0


COUNTED = re.compile(r"\{[^{}]*\}\s+(?:(?:recorded|older|more|such|other) ){0,2}"
                     r"(steps|runs|problems|captures|lines)\b(?!\.)")


def test_no_message_writes_a_count_before_a_plural_noun():
    """`1 steps`: every count of steps, runs, problems… in a message goes through
    core.words.counted, which says `1 step`."""
    from claude_cua.core.vocab.words import counted

    assert (counted(0, "step"), counted(1, "step"), counted(2, "run")) == (
        "0 steps", "1 step", "2 runs")
    wrong = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted(ROOT.glob("c*/**/*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if COUNTED.search(line)]
    assert not wrong, "\n".join(wrong)
