"""The README's commands are the ones CI runs, and --help stays honest."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    test_line = next(b for b in blocks if "pytest" in b)
    setup, _, test_command = test_line.partition(" && ")
    assert setup in ci
    assert test_command in ci.splitlines()


def test_readme_exit_codes_match_the_cli_table():
    from claude_cua.cli.main import BUG_EXIT, ERROR_EXIT, STATUS_EXIT

    readme = (ROOT / "README.md").read_text()
    codes = {int(c) for c in re.findall(r"^\| (\d+) \|", readme, re.M)}
    assert codes == {*STATUS_EXIT.values(), *(c for _, c in ERROR_EXIT), BUG_EXIT, 2}
