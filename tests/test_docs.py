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
    assert len(commands) == 2, commands  # install + demo, install + tests
    assert "cua demo" in commands[0] and "pytest" in commands[1]
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
    assert any(d.startswith("pytesseract") for d in extras["ocr"])
