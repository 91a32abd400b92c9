"""Policy files: reading the user's rules from TOML, with errors that name the file and line.

`load_policy_file(path)` returns one file's rules in order; `effective_rules(files)` returns
the rules of every file, in order, then `policy.BUILTIN_RULES`, which is what `policy.assess`
walks.

Policy files are TOML, by default `policy.toml` in cua's config directory
(`~/.config/cua/policy.toml` on Linux), or given with `--policy FILE` (repeatable):

    [[rule]]
    name = "no-terminal"        # optional; default "<file name>:<line>"
    verdict = "deny"            # required: allow | ask | deny
    reason = "terminals are off limits in this job"   # optional
    action = ["type", "key"]    # optional: action kinds; "click" stands for every click kind
    key = ["ctrl+s", "alt+F4"]  # optional: chords, any spelling (see policy.normalize_chord)
    text = 'regex'              # optional: re.search on the normalized typed text
    window_class = 'regex'      # optional: re.search, case-insensitive, on class or instance
    window_title = 'regex'      # optional: re.search, case-insensitive, on the window title
    region = [x0, y0, x1, y1]   # optional: screen pixels, x0 <= x < x1 and y0 <= y < y1
    secret = "PASSWORD"         # optional: that secret is typed ("*": any secret)
    screen_text = 'regex'       # optional: re.search, case-insensitive, on the screen text the
                                # injection tripwire flagged (so only after such a screenshot)

A file may also keep the run to some windows (as `--scope-window` does), with a top-level key
before any [[rule]]:

    scope_window = 'regex'      # actions aimed at other windows are asked (rule outside-scope)

A rule matches when every condition it gives holds. `key` matches when any chord of the action
(a key action may hold several, "ctrl+a Delete") equals one of the rule's; for clicks, scrolls and
drags the chord is the held modifier. `text` is case-sensitive unless the regex says `(?i)`. An
action without a typed text, chord or point never matches a rule that asks for one. The action
kinds are Claude's computer-tool action names plus `request_approval`; a drag's point is where
it ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from ..config_file import describe, read_toml
from ..errors import ConfigError
from .policy import BUILTIN_RULES, DECISIONS, Rule, normalize_chord, scope_rule

RULE_KEYS = ("name", "verdict", "reason", "action", "key", "text", "window_class",
             "window_title", "region", "secret", "screen_text")
CLICK_KINDS = frozenset(("left_click", "right_click", "middle_click", "double_click",
                         "triple_click"))
_SECRET_NAME = re.compile(r"\*|[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"\s*\[\[\s*[\"']?rule[\"']?\s*\]\]")


def _action_kinds() -> frozenset[str]:
    # Imported here: keeps importing this module light (start-up time).
    from ..vocab.actions import ActionName

    return frozenset((*get_args(ActionName), "request_approval"))


class _Lines:
    """Finds the line of a rule or one of its keys in the raw text, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if _HEADER.match(line)]

    def _key_line(self, key: str, start: int, stop: int) -> int | None:
        pattern = re.compile(rf"\s*\[*\s*[\"']?{re.escape(key)}[\"']?\s*[=\].]")
        return next((i for i in range(start, stop) if pattern.match(self.lines[i])), None)

    def rule(self, index: int, key: str | None = None) -> int:
        """1-based line of the index-th [[rule]] (or of `key` inside it)."""
        if index >= len(self.headers):  # rules written inline: point at the `rule` key
            return self.top("rule")
        start = self.headers[index]
        stop = next((i for i in range(start + 1, len(self.lines))
                     if self.lines[i].lstrip().startswith("[")), len(self.lines))
        found = None if key is None else self._key_line(key, start + 1, stop)
        return (start if found is None else found) + 1

    def top(self, key: str) -> int:
        found = self._key_line(key, 0, len(self.lines))
        return 1 if found is None else found + 1

    def error(self, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{line}: {message}")


def _strings(value: object) -> list[str] | None:
    """A string or a list of strings as a list; None for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _regex(value: object, flags: int = 0) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise ValueError(f"must be a regular expression in a string, not {describe(value)}")
    try:
        return re.compile(value, flags)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc}): {value!r}; "
                         "write it in single quotes so backslashes stay as they are") from None


def _kinds(value: object) -> frozenset[str]:
    kinds = _strings(value)
    if not kinds:
        raise ValueError(f"must be an action name or a list of them, not {describe(value)}")
    known = _action_kinds()
    out: set[str] = set()
    for kind in kinds:
        if kind == "click":
            out |= CLICK_KINDS
        elif kind in known:
            out.add(kind)
        else:
            raise ValueError(f"has an unknown action {kind!r}; use one of "
                             f"{', '.join(sorted(known | {'click'}))}")
    return frozenset(out)


def _key_set(value: object) -> frozenset[str]:
    chords = _strings(value)
    if not chords:
        raise ValueError("must be a chord such as \"ctrl+s\" or a list of them, "
                         f"not {describe(value)}")
    out = set()
    for chord in chords:
        normal = normalize_chord(chord)
        if not normal or " " in normal:
            raise ValueError(f"has {chord!r}, which is not one chord; write one chord per "
                             'entry, e.g. key = ["ctrl+s", "alt+F4"]')
        out.add(normal)
    return frozenset(out)


def _region(value: object) -> tuple[int, int, int, int]:
    if not (isinstance(value, list) and len(value) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"must be four whole numbers [x0, y0, x1, y1], not {describe(value)}")
    x0, y0, x1, y1 = value
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ValueError(f"{value!r} must satisfy 0 <= x0 < x1 and 0 <= y0 < y1 (screen pixels)")
    return x0, y0, x1, y1


def _secret(value: object) -> str:
    if not isinstance(value, str) or not _SECRET_NAME.fullmatch(value):
        raise ValueError(f"must be a secret's name such as \"PASSWORD\" (no braces) or \"*\" "
                         f"for any secret, not {describe(value)}")
    return value


def _text_field(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, not {describe(value)}")
    return value


_PARSERS: dict[str, Callable[[object], Any]] = {
    "name": _text_field,
    "reason": _text_field,
    "action": _kinds,
    "key": _key_set,
    "text": _regex,
    "window_class": lambda v: _regex(v, re.IGNORECASE),
    "window_title": lambda v: _regex(v, re.IGNORECASE),
    "region": _region,
    "secret": _secret,
    "screen_text": lambda v: _regex(v, re.IGNORECASE),
}
_FIELDS = {"action": "actions", "key": "keys"}


def _rule(table: Mapping[str, Any], index: int, where: _Lines) -> Rule:
    line = where.rule(index)
    unknown = [key for key in table if key not in RULE_KEYS]
    if unknown:
        raise where.error(where.rule(index, unknown[0]),
                          f"unknown key {unknown[0]!r} in [[rule]]; allowed: "
                          f"{', '.join(RULE_KEYS)}")
    verdict = table.get("verdict")
    if verdict not in DECISIONS:
        at = where.rule(index, "verdict")
        if verdict is None:
            raise where.error(at, 'this [[rule]] has no verdict; add verdict = "allow", '
                              '"ask" or "deny"')
        raise where.error(at, "verdict must be \"allow\", \"ask\" or \"deny\", "
                          f"not {describe(verdict)}")
    values: dict[str, Any] = {}
    for key, parse in _PARSERS.items():
        if key in table:
            try:
                values[_FIELDS.get(key, key)] = parse(table[key])
            except ValueError as exc:
                raise where.error(where.rule(index, key), f"{key} {exc}") from None
    name = values.pop("name", f"{where.path.name}:{line}")
    outcome = {"allow": "allowed", "ask": "needs approval", "deny": "denied"}[verdict]
    reason = values.pop("reason", f"{outcome} by rule {name!r} in {where.path}")
    return Rule(name, verdict, reason, source=f"{where.path}:{line}", **values)


def load_policy_file(path: Path) -> list[Rule]:
    """The rules of one policy file, in order; ConfigError names '<path>:<line>' and the fix."""
    try:
        found = read_toml(path, what="policy file")
    except ConfigError as exc:
        raise ConfigError(f"{exc}; see the [[rule]] example in the README, or fix the path "
                          "given with --policy") from None
    assert found is not None  # an explicit file: a missing one raised
    raw, data = found.text, found.data
    where = _Lines(path, raw)
    for key in data:
        if key not in ("rule", "scope_window"):
            raise where.error(where.top(key), f"unknown top-level key {key!r}; a policy file "
                              "holds [[rule]] tables and scope_window")
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise where.error(where.top("rule"), "rule must be an array of tables: write each "
                          "rule under its own [[rule]] header (two brackets)")
    rules = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise where.error(where.rule(index), "each rule must be a table, not "
                              f"{describe(table)}; write it under a [[rule]] header")
        rules.append(_rule(table, index, where))
    if "scope_window" in data:
        line = where.top("scope_window")
        try:
            _regex(data["scope_window"])
            rules.append(scope_rule(data["scope_window"], source=f"{path}:{line}"))
        except ValueError as exc:
            raise where.error(line, f"scope_window {exc}") from None
    return rules


def effective_rules(files: Sequence[Path]) -> list[Rule]:
    """The rules of each file in order, then the built-in rules."""
    rules = [rule for path in files for rule in load_policy_file(path)]
    return [*rules, *BUILTIN_RULES]


def default_policy_path(env: Mapping[str, str]) -> Path:
    """policy.toml in cua's user config directory ($XDG_CONFIG_HOME/cua on Linux)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..paths import config_dir

    return config_dir(env) / "policy.toml"
