"""The README's commands are the ones CI runs, and --help stays honest."""

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Using it")]
    return re.findall(r"```sh\n(.*?)\n```", quick_start, re.S)


def test_ci_runs_the_readme_commands_exactly():
    commands = _readme_commands()
    assert len(commands) == 3, commands  # install + demo, install + tests, replay
    assert "cua demo" in commands[0] and "pytest" in commands[1]
    # the quick start ends with the command that shows replay working offline
    assert commands[-1] == "~/.local/bin/cua demo --replay"
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci_lines


def test_ci_runs_the_quick_start_with_the_system_python():
    """CI must see what a stock Debian user sees: its own python3, no private interpreter."""
    ci = (ROOT / ".ci" / "run").read_text()
    path = re.search(r"^PATH=(\S+)$", ci, re.M)
    assert path, ".ci/run must set PATH itself"
    dirs = path[1].split(":")
    assert not [d for d in dirs if "pyenv" in d or "local" in d or "$" in d], dirs
    python3 = shutil.which("python3", path=path[1])
    if python3 is not None:  # on Debian this is /usr/bin/python3, which PEP 668 guards
        assert Path(python3).parent in (Path("/usr/bin"), Path("/bin"), Path("/usr/sbin"))
    assert "unset VIRTUAL_ENV" in ci
    assert re.search(r"^HOME=\$\(mktemp -d\)$", ci, re.M), "CI starts from an empty home"


def test_setup_never_pip_installs_into_the_system_python():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    pip_lines = [line for line in setup.splitlines()
                 if "pip install" in line and not line.lstrip().startswith("#")]
    assert pip_lines
    assert all(line.strip().startswith('"$venv/bin/python" -m pip') for line in pip_lines)
    for package in ("x11-apps", "python3-venv", "python3-tk", "xvfb", "openbox"):
        assert package in setup


def test_the_readme_examples_programs_are_installed_by_setup():
    """Every program an example starts with --app comes from a package setup.sh installs."""
    readme = (ROOT / "README.md").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    provided_by = {"xterm": "xterm", "xedit": "x11-apps", "xeyes": "x11-apps",
                   "xclock": "x11-apps", "xcalc": "x11-apps"}
    programs = {m.split()[0] for m in re.findall(r'--app "([^"]+)"', readme)} - {"CMD"}
    assert programs
    for program in programs:
        assert program in provided_by, f"README's --app {program!r}: which package has it?"
        assert provided_by[program] in setup


def test_readme_exit_codes_match_the_cli_table():
    from claude_cua.cli.main import BUG_EXIT, ERROR_EXIT, STATUS_EXIT

    readme = (ROOT / "README.md").read_text()
    codes = {int(c) for c in re.findall(r"^\| (\d+) \|", readme, re.M)}
    assert codes == {*STATUS_EXIT.values(), *(c for _, c in ERROR_EXIT), BUG_EXIT, 2}


def test_setup_installs_the_tripwire_ocr_unless_told_not_to():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    for package in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-chi-sim"):
        assert package in setup
    assert 'extras="${extras:+$extras,}ocr"' in setup
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(d.startswith("tesserocr") for d in extras["ocr"])


def _table_keys(readme: str, heading: str) -> set[str]:
    """The keys a README table lists: every `name` in the first column of the table under
    `heading` (a line of its own)."""
    lines = readme[readme.index(heading):].splitlines()[1:]
    rows = []
    for line in lines:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return {key for row in rows[2:] for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


def test_the_readme_lists_every_key_of_a_real_run_json(api, capsys, monkeypatch,
                                                       isolated_environment):
    """run.json is a contract: the README's table names every key a run writes."""
    import json

    from claude_cua.cli.demo.fakeapi import Reply
    from claude_cua.cli.demo.policies import report
    from helpers import InProcessCli

    cua = InProcessCli.against(api, capsys, monkeypatch, isolated_environment,
                               key="sk-ant-docs-0123456789")
    api.queue(Reply([report("success", "nothing to do")]))
    code, summary, _ = cua.json("run", "--json", "--desktop", "fake", "--model",
                                "claude-sonnet-5-5", "look")
    assert code == 0
    written = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    listed = _table_keys((ROOT / "README.md").read_text(), "`run.json` (`RunHeader`):")
    assert set(written) - listed == set(), "run.json keys the README does not list"
    assert listed - set(written) == set(), "README keys run.json does not have"


def test_setup_says_what_it_does_before_every_long_step():
    """apt-get, venv and every pip install take seconds to minutes: each is announced on
    stderr first, so a new user never watches a silent terminal wonder whether it hangs."""
    lines = (ROOT / "scripts" / "setup.sh").read_text().splitlines()
    long_steps = [i for i, line in enumerate(lines) if not line.lstrip().startswith("#") and (
        "pip install" in line or "apt-get install" in line or " -m venv " in line)]
    assert len(long_steps) >= 5
    for i in long_steps:
        before = [line for line in lines[max(0, i - 8):i] if not line.lstrip().startswith("#")]
        assert any('echo "setup.sh: ' in line for line in before), lines[i]
    editable = next(i for i in long_steps if " -e " in lines[i])
    assert 'PYTHONWARNINGS="ignore:Editable installation"' in "\n".join(lines[:editable])
