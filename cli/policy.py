"""`cua policy show|test`: the rules every action is judged by, and a dry run of one action."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.errors import ConfigError

if TYPE_CHECKING:
    from ..core.safety.policy import Proposal, Rule, Verdict

HELP_SHOW = """\
Show the rules cua judges every action with, in the order they are tried: the rules of your
policy files first, then the built-in ones. The first rule that matches decides: allow, ask (a
person approves) or deny; an action no rule matches is allowed.

\b
Examples:
  cua policy show
  cua policy show --policy job.toml --json
"""

HELP_TEST = """\
Judge one action with the policy, without touching the desktop. ACTION_JSON is a computer-tool
input as Claude sends it, with coordinates in screen pixels; a JSON list of them is one turn
(so a type followed by a Return key press is judged as such).

Exit status, so a script can assert a verdict: 0 allow, 10 ask, 11 deny (for a list, the
strictest of its verdicts); 2 for a bad ACTION_JSON or policy file.

\b
Examples:
  cua policy test '{"action": "key", "text": "alt+F4"}'
  cua policy test '{"action": "type", "text": "rm -rf ~/build\\n"}' --window-class XTerm
  cua policy test '{"action": "type", "text": "{{PASSWORD}}"}' --secret PASSWORD \\
      --window-title 'Sign in'
  cua policy test '{"action": "request_approval", "description": "pay the invoice"}'
"""

PolicyOption = Annotated[list[Path] | None, typer.Option(
    "--policy", help="Policy file (TOML) whose rules come before the built-in ones; "
    "repeatable (env CUA_POLICY; config policy). Default: policy.toml in the config "
    "directory, if it exists.",
    metavar="FILE")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]

_EXAMPLE = '{"action": "left_click", "coordinate": [100, 200]}'
# `cua policy test` exits with the verdict; strictest first, so a list exits with its worst.
VERDICT_EXIT = {"deny": 11, "ask": 10, "allow": 0}


def _policy_files(policy: list[Path] | None) -> list[Path]:
    """The files `cua run` would use: --policy, else CUA_POLICY, else the config file's
    `policy`, else the default file if it exists."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.policy_file import default_policy_path
    from ..core.settings import load_settings

    if not policy:
        policy = [Path(p) for p in load_settings(os.environ, None, {}).settings.policy]
    if policy:
        return list(policy)
    default = default_policy_path(os.environ)
    return [default] if default.is_file() else []


def _short(conditions: dict[str, Any]) -> str:
    parts = []
    for key, value in conditions.items():
        if key == "when":
            parts.append(str(value))
        elif key in ("text", "window_class", "window_title"):
            parts.append(f"{key}~{value!r}")
        elif isinstance(value, list):
            parts.append(f"{key}={','.join(map(str, value))}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts) or "(every action)"


def _rule_row(position: int, rule: Rule) -> dict[str, Any]:
    return {"position": position, "name": rule.name, "verdict": rule.decision,
            "conditions": rule.conditions(), "reason": rule.reason, "source": rule.source}


def policy_show(policy: PolicyOption = None, as_json: JsonOption = False) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.policy_file import default_policy_path, effective_rules

    files = _policy_files(policy)
    rows = [_rule_row(i, rule) for i, rule in enumerate(effective_rules(files), start=1)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    if files:
        sys.stdout.write(f"policy files: {', '.join(map(str, files))}\n")
    else:
        sys.stdout.write(f"policy files: none (rules in {default_policy_path(os.environ)} "
                         "would be used)\n")
    table = [("#", "NAME", "VERDICT", "CONDITIONS", "SOURCE")]
    table += [(str(r["position"]), r["name"], r["verdict"], _short(r["conditions"]), r["source"])
              for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for n, row in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[4]]) + "\n")
        if n:
            sys.stdout.write(f"{'':{widths[0]}}  {rows[n - 1]['reason']}\n")
    return 0


def _actions(action_json: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(action_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"ACTION_JSON is not valid JSON ({exc}); write it in single quotes, "
                          f"e.g. '{_EXAMPLE}'") from None
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("action"), str)):
            raise ConfigError(f"ACTION_JSON must be an object with an \"action\" name (or a list "
                              f"of them), not {json.dumps(item)}; e.g. '{_EXAMPLE}'")
    if not items:
        raise ConfigError(f"ACTION_JSON is an empty list; give at least one action, "
                          f"e.g. '{_EXAMPLE}'")
    return items


def _parse(item: dict[str, Any]) -> Any:
    """The parsed Action of one tool input (None for request_approval); coordinates as given."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from typing import get_args

    from ..core.errors import ActionError
    from ..core.vocab.actions import ActionName, ScreenSpace, parse_action

    name = item["action"]
    if name == "request_approval":
        return None
    rest = {key: value for key, value in item.items() if key != "action"}
    side = 1 << 20  # model space == screen space, large enough for any real screen
    try:
        return parse_action(name, rest, allowed=frozenset(get_args(ActionName)),
                            space=ScreenSpace(side, side, side, side))
    except ActionError as exc:
        raise ConfigError(f"invalid action in ACTION_JSON: {exc} (or request_approval)"
                          ) from None


def _proposal_json(p: Proposal) -> dict[str, Any]:
    return {"kind": p.kind, "keys": p.keys, "text": p.text,
            "point": None if p.point is None else list(p.point),
            "window": {"wm_class": p.window.wm_class, "instance": p.window.instance,
                       "title": p.window.title},
            "step": p.step, "secrets": sorted(p.secrets),
            "followed_by_return": p.followed_by_return, "description": p.description,
            "flagged": list(p.flagged)}


def _line(v: Verdict) -> str:
    return f"{v.decision}: {v.rule} — {v.reason} ({v.source})"


def policy_test(
    action_json: Annotated[str, typer.Argument(
        help=f"One computer-tool input, e.g. '{_EXAMPLE}', or a JSON list of them.",
        metavar="ACTION_JSON", show_default=False)],
    policy: PolicyOption = None,
    window_class: Annotated[str, typer.Option(
        help="WM_CLASS of the focused window, e.g. XTerm or firefox.", metavar="CLASS")] = "",
    window_title: Annotated[str, typer.Option(
        help="Title of the focused window.", metavar="TITLE")] = "",
    secret: Annotated[list[str] | None, typer.Option(
        help="A secret that exists in the run (only its NAME matters here); repeatable.",
        metavar="NAME")] = None,
    screen_text: Annotated[list[str] | None, typer.Option(
        help="A line of text on the screenshot Claude saw, judged by the injection tripwire's "
        "detector as if OCR had read it (rule screen-injection, screen_text conditions); "
        "repeatable, one line each.", metavar="TEXT")] = None,
    as_json: JsonOption = False,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.policy import assess, proposal_for
    from ..core.safety.policy_file import effective_rules
    from ..core.safety.tripwire import TextLine, scan
    from ..core.vocab.desktop import Window

    items = _actions(action_json)
    rules = effective_rules(_policy_files(policy))
    parsed = [_parse(item) for item in items]
    names = [spec.partition("=")[0] for spec in secret or ()]
    window = Window(wm_class=window_class, title=window_title)
    flagged = tuple(f.text for f in scan([TextLine(t) for t in screen_text or ()]))
    results = []
    for i, (item, action) in enumerate(zip(items, parsed, strict=True)):
        proposal = proposal_for(item["action"], action, window=window, step=0, secret_names=names,
                                next_action=parsed[i + 1] if i + 1 < len(parsed) else None,
                                tool_input=item, flagged=flagged)
        verdict = assess(proposal, rules)
        results.append({"decision": verdict.decision, "rule": verdict.rule,
                        "reason": verdict.reason, "source": verdict.source,
                        "proposal": _proposal_json(proposal)})
        if not as_json:
            prefix = f"{item['action']}: " if len(items) > 1 else ""
            sys.stdout.write(prefix + _line(verdict) + "\n")
    if as_json:
        out = results if action_json.lstrip().startswith("[") else results[0]
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return max(VERDICT_EXIT[r["decision"]] for r in results)
