"""The policy: a pure judgement of every action Claude proposes, before cua carries it out.

`assess(proposal, rules)` walks the rules in order and the first that matches decides: `allow`
(run it), `ask` (a person decides) or `deny` (refuse it and tell Claude). When nothing matches
the action is allowed (rule "default"). The rules are the user's policy files, each in order,
then the built-in rules, so a user rule can tighten a built-in `ask` to `deny` or loosen it to
`allow`. Reading policy files, and their format, is `policy_file`'s part.

Built-in rules (all `ask`), in the order they are tried:

- `screen-injection`: any action Claude proposes after a screenshot in which the injection
  tripwire (core/safety/tripwire.py) read text that addresses the agent ("ignore previous
  instructions", "AI agent: click ...", "send your API key"). Why: text on the screen is data,
  not the user's instructions; a person checks the action is what the user asked for.

- `destructive-shell`: typed text, in any window, that looks like a destructive shell command:
  `rm` with a recursive flag, `mkfs`, `dd ... of=`, `shutdown`/`reboot`/`poweroff`/`halt`,
  `init 0`, `chmod -R`/`chown -R`, `curl ... | sh`, `sudo`, a fork bomb, a redirect onto a
  disk device, `find ... -delete`, `shred` or `kill -9 -1`. Why: one such line can destroy
  data or the machine, and where the text lands (a terminal, a run dialog, an editor that
  later runs it) is not always what Claude thinks.
  The text is matched after `normalize_text` and after shell quotes, backslashes and `${IFS}`
  are taken out, so zero-width characters, fullwidth letters, Unicode dashes or `r''m` do not
  hide a command.
- `secret-typed`: typing text that contains a secret placeholder (`{{PASSWORD}}`). Why: cua
  types the real value into whatever window has focus, so a person confirms it is the right
  one; a rule with `secret` and `window_title` allows it where it belongs.
- `terminal-command`: in a terminal window, typed text containing a newline (or followed by a
  Return key press in the same turn), or a Return/KP_Enter/ctrl+m/ctrl+j key press. Why: in a
  terminal, Return runs whatever is on the command line. Return with modifiers counts too
  (most terminals send a line end for shift+Return or alt+Return).
- `close-or-logout-keys`: key chords that close windows or tabs, quit, lock the screen, log out
  or power off (alt+F4, ctrl+q, ctrl+w, ctrl+alt+Delete, ctrl+alt+BackSpace, super+l,
  alt+SysRq, XF86PowerOff, ...), in any spelling. Why: they lose unsaved work or end the
  session cua is driving.
- `claude-requested`: Claude called `request_approval` itself. Why: it marked the next step as
  consequential (paying, deleting, sending, accepting terms).

The gate. Every action passes it before it runs: the policy's verdict, then, for `ask`, a
person. The gate never prints: asking is the job of an `Approver` the caller supplies (a
terminal prompt, `--yes`, or "nobody is here", which stops the run).

Approvals: the gate as a step meets it. `Approvals` builds the policy's Proposal for an action,
lets the Gate decide, shows the person asked a picture of the target, and ends the run when
nobody can answer. The picture is handed to the recorder as bytes on an `ApprovalPictureTaken`
event (it is written before the person is asked, so the prompt can name its path); nothing here
writes files.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..model.context import APPROVAL_TOOL_NAME as APPROVAL
from ..vocab import keys
from ..vocab.actions import Action, crop_around, crop_box, encode_png
from ..vocab.desktop import Desktop, Frame, Window
from ..vocab.events import ApprovalPictureTaken, EventSink
from ..vocab.record import (
    ActionRecord,
    ApprovalRecord,
    PolicyRecord,
    action_to_dict,
    approval_picture_name,
)

if TYPE_CHECKING:
    from .secrets import Secrets

RuleDecision = Literal["allow", "ask", "deny"]
DECISIONS: tuple[RuleDecision, ...] = get_args(RuleDecision)
BUILT_IN = "built-in"


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in screen pixels


@dataclass(frozen=True, slots=True)
class Finding:
    """Text on the screen that addresses the agent."""

    kind: str  # override | new-task | addressed-to-agent | secret-request | urgent-system |
    #            classifier (the learned model's; `matched` lists its strongest words)
    text: str  # the line(s) as read, joined with a space
    box: Box  # where on screen, in screen pixels
    matched: str  # the phrase that matched, in skeleton form
    seen_in: str = "screenshot"  # screenshot | zoom (an image the zoom action sent Claude)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "box": list(self.box),
                "matched": self.matched, "seen_in": self.seen_in}


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the policy judges: one action Claude proposed, plus what cua knows around it."""

    kind: str  # the action name as Claude gave it, or "request_approval"
    keys: str | None = None  # chord(s) of key/hold_key, or the modifier held during a click
    text: str | None = None  # typed text with {{NAME}} placeholders, never secret values
    point: tuple[int, int] | None = None  # target in screen pixels
    window: Window = field(default_factory=Window)
    step: int = 0
    secrets: frozenset[str] = frozenset()  # names of the secrets whose placeholders are in text
    followed_by_return: bool = False  # the next action of the turn presses Return
    description: str | None = None  # request_approval's description
    flagged: tuple[str, ...] = ()  # text the tripwire flagged on the screenshot Claude saw
    target: Window | None = None  # the window under `point`, when a scope rule wants it


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: RuleDecision
    rule: str  # rule name, or "default" when nothing matched
    reason: str  # one sentence saying why
    source: str  # "built-in", "<path>:<line>" of a user rule, or "default"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: a decision, why, where it comes from, and the conditions that must all hold.

    Built-in rules carry `check`, which returns the reason for a matching proposal (else None)
    and is described by `when`; rules from files use the plain conditions only.
    """

    name: str
    decision: RuleDecision
    reason: str
    source: str = BUILT_IN
    actions: frozenset[str] | None = None
    keys: frozenset[str] | None = None  # normalized chords
    text: re.Pattern[str] | None = None
    window_class: re.Pattern[str] | None = None
    window_title: re.Pattern[str] | None = None
    region: tuple[int, int, int, int] | None = None
    secret: str | None = None  # a secret name, or "*" for any
    screen_text: re.Pattern[str] | None = None  # matches text the tripwire flagged
    scope: re.Pattern[str] | None = None  # outside-scope: the windows actions may aim at
    check: Callable[[Proposal], str | None] | None = None
    when: str = ""

    def conditions(self) -> dict[str, Any]:
        """The conditions this rule sets, JSON-ready (regexes as their source text)."""
        out: dict[str, Any] = {}
        if self.actions is not None:
            out["action"] = sorted(self.actions)
        if self.keys is not None:
            out["key"] = sorted(self.keys)
        for name in ("text", "window_class", "window_title", "screen_text"):
            pattern = getattr(self, name)
            if pattern is not None:
                out[name] = pattern.pattern
        if self.region is not None:
            out["region"] = list(self.region)
        if self.secret is not None:
            out["secret"] = self.secret
        if self.scope is not None:
            out["scope_window"] = self.scope.pattern
        if self.when:
            out["when"] = self.when
        return out


# --- normalizing text and chords -------------------------------------------------------------

# Invisible characters outside category Cf: combining grapheme joiner, Hangul fillers, Khmer
# inherent vowels. Variation selectors are dropped by range below.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
# Minus signs that are not in category Pd (NFKC has already folded U+FE63 and U+FF0D to "-").
_MINUS = frozenset("\u2212\u2796\u208b\u207b")


def _is_invisible(ch: str) -> bool:
    code = ord(ch)
    return (unicodedata.category(ch) == "Cf" or ch in _INVISIBLE
            or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF)


def normalize_text(text: str) -> str:
    """Text as matching sees it: NFKC, no invisible characters, ASCII dashes and spaces."""
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        if _is_invisible(ch):
            continue
        category = unicodedata.category(ch)
        if category == "Pd" or ch in _MINUS:
            out.append("-")
        elif category == "Zs":
            out.append(" ")
        else:
            out.append(ch)
    return re.sub(r"[ \t]+", " ", "".join(out))


def normalize_chord(chord: str) -> str:
    """A canonical spelling for comparing chords: 'Delete+alt+Control_L' -> 'ctrl+alt+delete'.

    The same parser that types chords (keys.py) reads them, so both agree on every alias
    ('meta' is alt, 'alt-F4' is alt+F4). Several space-separated chords ('Tab alt+F4') are
    normalized one by one and joined with a space. Returns "" for an empty or malformed chord.
    """
    chords = []
    for one in chord.split():
        spellings = keys.chord_spellings(one)
        if not spellings:
            return ""
        chords.append(spellings[0])
    return " ".join(chords)


def _chords(keys_text: str | None) -> list[str]:
    """Every spelling the policy matches for these chords: each canonical one, plus its
    shifted twin where a capital letter makes the typing hold Shift ('ctrl+W' presses
    ctrl+shift+w)."""
    if not keys_text:
        return []
    return [spelling for one in keys_text.split() for spelling in keys.chord_spellings(one)]


# --- built-in rules --------------------------------------------------------------------------

_CMD = r"(?<![\w.-])"  # a command name starts here: not inside a word, path suffix or option
# Further words of the same simple command; bounded, so long text stays linear to search.
_ARGS = r"(?:[ \t]+[^\s;&|]+){0,40}?[ \t]+"
_END = r"(?=[\s;&|)]|$)"
_DESTRUCTIVE = re.compile("|".join((
    _CMD + r"rm" + _ARGS + r"(?:-[a-zA-Z]*[rR][a-zA-Z]*|--r[a-z]*)" + _END,
    _CMD + r"(?:mkfs(?:\.\w+)?|mke2fs|wipefs)(?![\w-])",
    _CMD + r"dd" + _ARGS + r"of=",
    _CMD + r"(?:shutdown|reboot|poweroff|halt)(?![\w-])",
    _CMD + r"(?:tel)?init[ \t]+[06](?![\w-])",
    _CMD + r"ch(?:mod|own|grp)" + _ARGS + r"(?:-[a-zA-Z]*R[a-zA-Z]*|--recursive)" + _END,
    _CMD + r"(?:curl|wget)\b[^\n;]{0,400}?\|[ \t]*(?:[\w./-]*/)?"
    r"(?:sh|bash|zsh|dash|ksh|fish|sudo|python[\d.]*|perl|ruby|node)(?![\w-])",
    _CMD + r"(?:sh|bash|zsh|dash|ksh)\b[^\n]{0,400}?(?:<\(|\$\()[ \t]*(?:curl|wget)\b",
    _CMD + r"(?:sudo|doas|pkexec)(?![\w-])",
    _CMD + r"find\b[^\n;&|]{0,400}?[ \t]-delete" + _END,
    _CMD + r"shred(?![\w-])",
    _CMD + r"kill(?:[ \t]+-\w+){0,3}[ \t]+-1[ \t]*(?=[;&|)\n]|$)",  # pid -1: every process
    r":[ \t]*\([ \t]*\)[ \t]*\{",
    r"(?P<fn>[\w:]+)[ \t]*\([ \t]*\)[ \t]*\{[^}]{0,40}?(?P=fn)[ \t]*\|[ \t]*(?P=fn)",
    r">[ \t]*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk/|mapper/|md|dm-)",
)))


def _shell_view(text: str) -> str:
    """The text as a shell would read the words: no quotes, backslashes or ${IFS} tricks."""
    text = normalize_text(text).replace("\\\n", "")
    text = re.sub(r"\$\{?IFS\}?", " ", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"['\"\\]", "", text))


def _destructive_shell(p: Proposal) -> str | None:
    if p.kind != "type" or not p.text:
        return None
    found = _DESTRUCTIVE.search(_shell_view(p.text))
    if found is None:
        return None
    fragment = found.group(0).strip()
    fragment = fragment if len(fragment) <= 60 else fragment[:57] + "..."
    return (f"typed text looks like a destructive shell command ({fragment!r}); "
            "it could destroy data or stop the machine")


def _window_label(window: Window) -> str:
    name = window.wm_class or window.instance
    if name and window.title:
        return f"{name} window {window.title!r}"
    if name or window.title:
        return f"window {name or window.title!r}"
    return "the focused window (unknown)"


def _secret_typed(p: Proposal) -> str | None:
    if not p.secrets:
        return None
    names = ", ".join("{{" + name + "}}" for name in sorted(p.secrets))
    return f"types the secret {names} into {_window_label(p.window)}; check that it belongs there"


TERMINALS = frozenset((
    "xterm", "uxterm", "rxvt", "urxvt", "rxvt-unicode", "gnome-terminal",
    "gnome-terminal-server", "konsole", "xfce4-terminal", "terminator", "tilix", "alacritty",
    "kitty", "st", "st-256color", "lxterminal", "mate-terminal", "qterminal", "wezterm",
    "org.wezfurlong.wezterm", "foot", "footclient", "terminology", "sakura", "guake", "tilda",
    "yakuake", "x-terminal-emulator", "eterm", "cool-retro-term", "ghostty",
    "com.mitchellh.ghostty", "kgx", "org.gnome.console", "ptyxis", "org.gnome.ptyxis",
))


def _runs_command(chord: str) -> bool:
    """Whether a normalized chord sends a line end: Return with any modifiers, ctrl+m, ctrl+j."""
    return chord.split("+")[-1] in ("return", "kp_enter") or chord in ("ctrl+m", "ctrl+j")


def is_terminal(window: Window) -> bool:
    """Whether the window's WM_CLASS class or instance names a known terminal emulator."""
    return window.wm_class.lower() in TERMINALS or window.instance.lower() in TERMINALS


def _terminal_command(p: Proposal) -> str | None:
    if not is_terminal(p.window):
        return None
    where = _window_label(p.window)
    if p.kind == "type" and p.text and ("\n" in p.text or "\r" in p.text or p.followed_by_return):
        return f"types a command and presses Return in terminal {where}, which runs it"
    pressed = [c for c in _chords(p.keys) if _runs_command(c)]
    if p.kind in ("key", "hold_key") and pressed:
        return (f"presses {pressed[0]} in terminal {where}, which runs whatever is on its "
                "command line")
    return None


_CLOSE_KEYS = {
    "alt+f4": "closes the window", "ctrl+f4": "closes the tab or document",
    "ctrl+q": "quits the program", "ctrl+shift+q": "quits the program",
    "ctrl+w": "closes the tab or window", "ctrl+shift+w": "closes the window",
    "ctrl+alt+delete": "logs out or reboots", "ctrl+alt+kp_delete": "logs out or reboots",
    "ctrl+alt+backspace": "kills the X server", "ctrl+alt+escape": "kills a window",
    "super+l": "locks the screen", "ctrl+alt+l": "locks the screen",
    "xf86poweroff": "powers off", "xf86powerdown": "powers off", "xf86logoff": "logs out",
    "xf86sleep": "suspends", "xf86suspend": "suspends", "xf86hibernate": "hibernates",
    "xf86standby": "suspends", "xf86screensaver": "locks the screen",
}


def _close_meaning(chord: str) -> str | None:
    if chord in _CLOSE_KEYS:
        return _CLOSE_KEYS[chord]
    names = chord.split("+")
    # Magic SysRq: alt+SysRq+<letter>, where SysRq is also alt+Print on most keyboards.
    if "alt" in names and ("sys_req" in names or ("print" in names and len(names) > 2)):
        return "sends a magic SysRq command to the kernel"
    return None


def _close_or_logout(p: Proposal) -> str | None:
    if p.kind not in ("key", "hold_key"):
        return None
    for chord in _chords(p.keys):
        meaning = _close_meaning(chord)
        if meaning is not None:
            return f"key {chord} {meaning}; unsaved work or the session could be lost"
    return None


def _screen_injection(p: Proposal) -> str | None:
    if not p.flagged:
        return None
    shown = p.flagged[0] if len(p.flagged[0]) <= 120 else p.flagged[0][:117] + "..."
    more = f" (and {len(p.flagged) - 1} more)" if len(p.flagged) > 1 else ""
    return (f"the screen shows text addressed to the agent, a possible prompt injection: "
            f"{shown!r}{more}; check this {p.kind} is what the user asked for")


def _claude_requested(p: Proposal) -> str | None:
    if p.kind != "request_approval":
        return None
    return f"Claude asked for approval: {p.description or '(no description given)'}"


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("screen-injection", "ask",
         "Text on the screen that addresses the agent (ignore previous instructions, your task "
         "has changed, AI agent: click ..., send your API key) may be a prompt injection; a "
         "person confirms the actions Claude proposes after seeing it.",
         check=_screen_injection,
         when="the screenshot Claude saw has text the injection tripwire flagged"),
    Rule("destructive-shell", "ask",
         "Typed text that looks like a destructive shell command (recursive rm, mkfs, dd of=, "
         "shutdown, sudo, curl | sh, ...) can destroy data or the machine in one line.",
         check=_destructive_shell, when="typed text matches a destructive shell command"),
    Rule("secret-typed", "ask",
         "Typing a secret puts its real value into whatever window has focus, so a person "
         "confirms that window is the right one.",
         check=_secret_typed, when="typed text contains a {{SECRET}}"),
    Rule("terminal-command", "ask",
         "In a terminal, Return runs whatever is on the command line.",
         check=_terminal_command,
         when="terminal window: typed text ending a line, or a Return key press"),
    Rule("close-or-logout-keys", "ask",
         "These key chords close windows or tabs, quit programs, lock the screen, log out or "
         "power off, losing unsaved work or the session cua drives.",
         check=_close_or_logout, when="key chord such as alt+F4, ctrl+q, ctrl+w, super+l"),
    Rule("claude-requested", "ask",
         "Claude marked the next step as consequential and asked for approval.",
         check=_claude_requested, when="Claude called request_approval"),
)


SCOPE_RULE = "outside-scope"


def scope_rule(pattern: str, *, source: str = "--scope-window") -> Rule:
    """The `ask` rule for a run kept to some windows: an action aimed at a window whose class,
    instance or title does not match `pattern` (re.search, case-insensitive) goes to a person.
    A pointer action aims at the window under its point; a key or typed text at the focused
    window. Raises re.error for a bad pattern."""
    scope = re.compile(pattern, re.IGNORECASE)

    def outside(p: Proposal) -> str | None:
        if p.kind == "request_approval":
            return None
        window = p.target if p.target is not None else p.window
        if any(scope.search(name) for name in (window.wm_class, window.instance, window.title)
               if name):
            return None
        return (f"{p.kind} is aimed at {_window_label(window)}, outside the scope "
                f"{pattern!r}; the run may have wandered off its task")

    return Rule(SCOPE_RULE, "ask",
                "An action aimed at a window outside the run's scope may mean the run wandered "
                "off its task (or was steered off it).",
                source=source, scope=scope, check=outside,
                when="the target window's class, instance and title all miss the scope regex")


# --- judging ---------------------------------------------------------------------------------

def _conditions_hold(rule: Rule, p: Proposal) -> bool:
    if rule.actions is not None and p.kind not in rule.actions:
        return False
    if rule.keys is not None and not rule.keys.intersection(_chords(p.keys)):
        return False
    if rule.text is not None and (p.text is None
                                  or not rule.text.search(normalize_text(p.text))):
        return False
    if rule.window_class is not None and not (rule.window_class.search(p.window.wm_class)
                                              or rule.window_class.search(p.window.instance)):
        return False
    if rule.window_title is not None and not rule.window_title.search(p.window.title):
        return False
    if rule.region is not None:
        if p.point is None:
            return False
        x0, y0, x1, y1 = rule.region
        if not (x0 <= p.point[0] < x1 and y0 <= p.point[1] < y1):
            return False
    if rule.screen_text is not None and not any(
            rule.screen_text.search(normalize_text(t)) for t in p.flagged):
        return False
    if rule.secret is not None:
        return bool(p.secrets) if rule.secret == "*" else rule.secret in p.secrets
    return True


def assess(proposal: Proposal, rules: Sequence[Rule]) -> Verdict:
    """The verdict of the first rule that matches; allow (rule "default") when none does."""
    for rule in rules:
        if not _conditions_hold(rule, proposal):
            continue
        reason = rule.reason
        if rule.check is not None:
            found = rule.check(proposal)
            if found is None:
                continue
            reason = found
        return Verdict(rule.decision, rule.name, reason, rule.source)
    return Verdict("allow", "default", "no policy rule matched this action", "default")


def proposal_for(
    name: str,
    action: Action | None,
    *,
    window: Window,
    step: int,
    secret_names: Iterable[str],
    next_action: Action | None,
    tool_input: Mapping[str, Any] | None = None,
    flagged: tuple[str, ...] = (),
    target: Window | None = None,
) -> Proposal:
    """The Proposal for one parsed action (None for request_approval or an unparsed action)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..vocab.actions import Click, Drag, HoldKey, Key, MouseButton, MouseMove, Scroll, TypeText

    keys: str | None = None
    text: str | None = None
    point: tuple[int, int] | None = None
    match action:
        case Key(chord) | HoldKey(chord):
            keys = chord
        case TypeText(typed):
            text = typed
        case Click(at, modifiers=held) | Scroll(at, modifiers=held):
            keys, point = held, None if at is None else at.screen
        case Drag(end=end, modifiers=held):
            keys, point = held, end.screen
        case MouseMove(at) | MouseButton(at):
            point = None if at is None else at.screen
    secrets = frozenset(s for s in secret_names if text and "{{" + s + "}}" in text)
    followed = (isinstance(next_action, Key | HoldKey)
                and any(_runs_command(c) for c in _chords(next_action.chord)))
    description = (tool_input or {}).get("description")
    return Proposal(
        kind=name, keys=keys, text=text, point=point, window=window, step=step,
        secrets=secrets, followed_by_return=followed,
        description=description if isinstance(description, str) else None, flagged=flagged,
        target=target,
    )

Answer = Literal["once", "always", "deny", "abort", "stop"]
ANSWERS: tuple[Answer, ...] = ("once", "always", "deny", "abort", "stop")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One `ask`: what Claude wants to do, where, and why the policy wants a person to decide."""

    step: int
    name: str
    action: dict[str, Any]  # as recorded: typed text carries {{NAME}}, never a secret's value
    verdict: Verdict
    window: Window
    point: tuple[int, int] | None
    crop_png: bytes | None = field(default=None, repr=False)
    crop_path: str | None = None  # where crop_png was saved in the run folder
    flagged: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()  # screen text and its box


Approver = Callable[[ApprovalRequest], Answer]
"""Answers an `ask`. An optional `who` attribute names it in the record ("terminal", "--yes")."""


def refuse_all(_: ApprovalRequest) -> Answer:
    """Nobody to ask: the run stops at the first `ask` with status needs_approval."""
    return "stop"


def approve_all(_: ApprovalRequest) -> Answer:
    """`--yes`: every `ask` is approved; `deny` verdicts never reach an approver."""
    return "once"


refuse_all.who = "nobody"  # type: ignore[attr-defined]
approve_all.who = "--yes"  # type: ignore[attr-defined]
REMEMBERED = "earlier approval"  # who answered when "always" covered a later action


def answerer_name(approver: Approver) -> str:
    """How the record names an approver: its `who`, else "approver"."""
    return str(getattr(approver, "who", "approver"))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided for one action."""

    verdict: Verdict
    answer: Answer | None = None  # None when nobody was asked
    answered_by: str | None = None  # the approver's `who`, or REMEMBERED
    waited_s: float = 0.0  # time spent waiting for the approver (a person at the prompt)

    @property
    def runs(self) -> bool:
        if self.verdict.decision == "allow":
            return True
        return self.verdict.decision == "ask" and self.answer in ("once", "always")

    @property
    def ends_run(self) -> bool:
        return self.answer in ("abort", "stop")

    def record(self) -> PolicyRecord:
        v = self.verdict
        return PolicyRecord(v.decision, v.rule, v.reason, v.source, self.answer,
                            self.answered_by)

    def message_for_claude(self) -> str:
        """The tool result Claude gets when the action did not run."""
        v = self.verdict
        if v.decision == "deny":
            return (f"Blocked by cua's policy (rule {v.rule}: {v.reason}). The action was not "
                    "carried out. Do not try to reach the same effect another way; pick a "
                    "different approach or call report_outcome with status \"failure\".")
        return (f"The person running cua denied this action (rule {v.rule}: {v.reason}). It was "
                "not carried out. Do not retry it; pick a different approach or call "
                "report_outcome with status \"failure\".")


class Gate:
    """Judges proposals with `rules` and asks `approver` about the ones that need a person.

    "always" approves the same rule for the same kind of action for the rest of the run; for
    rules about what a typed command does, only that same text (approving one `rm -rf` must
    not approve every other).
    """

    EXACT_TEXT_RULES = frozenset({"destructive-shell"})
    # "always" for these covers only the same flagged screen text, not every later action.
    SCREEN_TEXT_RULES = frozenset({"screen-injection"})

    def __init__(self, rules: Sequence[Rule], approver: Approver, *,
                 who: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = list(rules)
        self.approver = approver
        self.who = who or answerer_name(approver)
        self.clock = clock
        self.approved: set[tuple[str, str, str | None]] = set()

    def judge(self, proposal: Proposal, *, request: Callable[[Verdict], ApprovalRequest]
              ) -> Decision:
        verdict = assess(proposal, self.rules)
        if verdict.decision != "ask":
            return Decision(verdict)
        kind = (verdict.rule, proposal.kind,
                proposal.text if verdict.rule in self.EXACT_TEXT_RULES
                else "\n".join(proposal.flagged) if verdict.rule in self.SCREEN_TEXT_RULES
                else None)
        if kind in self.approved:
            return Decision(verdict, "always", REMEMBERED)
        asked = request(verdict)
        started = self.clock()
        answer = self.approver(asked)
        waited = self.clock() - started
        if answer not in ANSWERS:
            raise ValueError(f"approver answered {answer!r}")
        if answer == "always":
            self.approved.add(kind)
        return Decision(verdict, answer, self.who, waited)

INJECTION_RULE = "screen-injection"


class EndRun(Exception):
    """Raised inside a step when the run must end there: a person (or nobody) ended it at an
    approval (`approval` says which), or a budget ran out mid-replay."""

    def __init__(self, status: str, summary: str, approval: ApprovalRecord | None = None
                 ) -> None:
        super().__init__(summary)
        self.status, self.summary, self.approval = status, summary, approval


@dataclass(frozen=True, slots=True)
class Judged:
    """The gate's decision for one action, the window it was judged in, and the picture shown
    to the person asked (its file name in the run folder), if anyone was."""

    decision: Decision
    window: Window
    picture: str | None = None


@dataclass(slots=True)
class Screen:
    """The newest screenshot Claude was sent: the raw frame and the PNG of it."""

    frame: Frame | None = None
    png: bytes = b""
    pending: Callable[[], bytes] | None = None  # the PNG, when it is encoded only if wanted

    def picture(self) -> bytes:
        return self.png if self.pending is None else self.pending()


class Approvals:
    """Judges a step's actions through `gate`; `screen` is kept current by the step."""

    def __init__(self, gate: Gate, *, desktop: Desktop, secrets: Secrets, emit: EventSink,
                 run_dir: str, screen: Screen) -> None:
        self.gate, self.desktop, self.secrets, self.emit = gate, desktop, secrets, emit
        self.run_dir, self.screen = run_dir, screen
        self.pictures = 0
        # What the tripwire flagged on the screenshot Claude answered; set by the step.
        self.findings: tuple[Finding, ...] = ()
        self.wants_target = any(rule.scope is not None for rule in gate.rules)

    def judge_action(self, step: int, name: str, action: Action, *, tool_input: dict[str, Any],
                     next_action: Action | None) -> Judged:
        window = self.desktop.focused_window()
        proposal = proposal_for(name, action, window=window, step=step,
                                secret_names=self.secrets.names, next_action=next_action,
                                tool_input=tool_input, flagged=self._flagged())
        window_at = getattr(self.desktop, "window_at", None)
        if self.wants_target and proposal.point is not None and window_at is not None:
            proposal = replace(proposal, target=window_at(*proposal.point))
        return self._judge(step, name, proposal, action_to_dict(action))

    def _flagged(self) -> tuple[str, ...]:
        return tuple(self.secrets.redact(f.text) for f in self.findings)

    def judge_request(self, step: int, description: str) -> Judged:
        """Claude's own request_approval."""
        proposal = Proposal(kind=APPROVAL, description=description,
                            window=self.desktop.focused_window(), step=step,
                            flagged=self._flagged())
        return self._judge(step, APPROVAL, proposal,
                           {"kind": APPROVAL, "description": description})

    def _judge(self, step: int, name: str, proposal: Proposal,
               described: dict[str, Any]) -> Judged:
        """The gate's decision; ends the run (EndRun) on abort or when nobody can answer."""
        shown: list[str] = []

        def request(verdict: Verdict) -> ApprovalRequest:
            box = (self.findings[0].box if verdict.rule == INJECTION_RULE and self.findings
                   else None)
            png, path = self._picture(step, proposal.point, shown, box=box)
            return ApprovalRequest(step, proposal.kind, described, verdict, proposal.window,
                                   proposal.point, png, path,
                                   tuple((self.secrets.redact(f.text), f.box)
                                         for f in self.findings))

        decision = self.gate.judge(proposal, request=request)
        picture = shown[0] if shown else None
        if decision.ends_run:
            raise self._end(step, name, proposal, described, decision, picture)
        return Judged(decision, proposal.window, picture)

    def _picture(self, step: int, point: tuple[int, int] | None, shown: list[str], *,
                 box: tuple[int, int, int, int] | None = None
                 ) -> tuple[bytes | None, str | None]:
        """A picture of what the action targets (the whole screenshot without a point), or of
        the flagged text's `box`."""
        if self.screen.frame is None:
            return None, None
        if box is not None:
            png = encode_png(crop_box(self.screen.frame, box))
        elif point:
            png = encode_png(crop_around(self.screen.frame, point))
        else:
            png = self.screen.picture()
        if not self.run_dir:
            return png, None
        self.pictures += 1
        name = approval_picture_name(step, self.pictures)
        self.emit(ApprovalPictureTaken(step, name, png))
        shown.append(name)
        return png, str(Path(self.run_dir) / name)

    def _end(self, step: int, name: str, proposal: Proposal, described: dict[str, Any],
             decision: Decision, picture: str | None) -> EndRun:
        v = decision.verdict
        window = replace(proposal.window, title=self.secrets.redact(proposal.window.title))
        path = str(Path(self.run_dir) / picture) if picture else None
        screen_text = tuple({**f.to_dict(), "text": self.secrets.redact(f.text)}
                            for f in self.findings) if v.rule == INJECTION_RULE else ()
        approval = ApprovalRecord(step, name,
                                  ActionRecord.from_dict({"name": name, "action": described}),
                                  decision.record(), window, path, screen_text)
        if decision.answer == "abort":
            return EndRun("aborted", f"aborted at step {step} when asked to approve "
                          f"{proposal.kind} (rule {v.rule})", approval)
        return EndRun("needs_approval", (
            f"stopped before step {step}'s {proposal.kind}: rule {v.rule} asks for approval "
            f"({v.reason}) and nobody can answer; rerun on a terminal, or with --yes to approve "
            "such actions, or allow it in a --policy file"), approval)
