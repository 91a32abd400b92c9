"""Settings and their precedence: flags > environment (CUA_*) > config file > defaults."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from . import defaults
from .config_file import (
    TomlFile,
    describe,
    env_text,
    number,
    read_toml,
    table,
    text_value,
    whole_number,
)
from .errors import ConfigError
from .model.context import DEFAULT_MODEL, FLAVOURS, PROVIDERS
from .vocab.words import counted


class _Unset:
    """A flag the user did not pass (None can be a real value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class Settings:
    model: str = DEFAULT_MODEL
    tool_version: str | None = None
    max_steps: int = defaults.MAX_STEPS
    max_tokens: int = defaults.MAX_TOKENS
    monitor: int = defaults.MONITOR
    keep_images: int = defaults.KEEP_IMAGES
    settle_ceiling_s: float = 2.0
    max_retries: int = 4
    max_cost_usd: float | None = None
    provider: str = defaults.PROVIDER
    region: str | None = None
    project: str | None = None
    base_url: str | None = None
    replay: str | None = None  # a run id, prefix or folder, `latest` or `auto` (see core/replay)
    replay_wait_s: float = 10.0  # how long replay waits for the screen to match a step
    timeout_s: float | None = None  # --timeout: the run's wall-clock budget
    wait_lock_s: float = defaults.WAIT_LOCK_S  # --wait-lock: how long to wait for another run
    virtual_display: str | None = None  # --virtual-display WxH: a private Xvfb for the run
    app: str | None = None  # --app: the program started before the first screenshot
    non_interactive: bool = False  # --non-interactive: never prompt, even on a terminal
    report: bool = defaults.REPORT  # --report: write report.html when the run ends
    # --policy: policy files whose rules come before the built-in ones (CUA_POLICY: a list
    # separated by ':'; in the config file a list, relative paths from the file's folder)
    policy: tuple[str, ...] = ()


# Environment variable → setting. ANTHROPIC_API_KEY is deliberately not a setting: it comes
# only from the environment and is never stored or shown.
ENV_NAMES = {f"CUA_{f.name.upper()}": f.name for f in fields(Settings)}
DEFAULTS = Settings()  # the one place defaults are written: the dataclass above
_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any, where: str, *, typed: bool = False) -> Any:
    """`value` as setting `name`'s type. `typed` values (from TOML) must already have the
    right type; strings (environment, flags) are parsed."""
    kind = _TYPES[name]
    try:
        if typed:
            result: Any = _typed(kind, value)
        elif kind == "int":
            if isinstance(value, bool) or not re.fullmatch(r"\s*[+-]?\d{1,18}\s*", str(value)):
                raise ValueError
            result = int(value)
        elif kind in ("float", "float | None"):
            result = None if value in ("", None) and kind != "float" else float(value)
            if result is not None and not math.isfinite(result):
                raise ValueError
        elif kind == "bool":
            result = _boolean(value)
        elif kind == "tuple[str, ...]":
            result = _paths(value)
        else:
            result = None if value in ("", None) else str(value)
    except (TypeError, ValueError, OverflowError) as exc:
        if typed and str(exc):  # the validator's own words: "must be a finite number, not nan"
            raise ConfigError(f"{where}: {name} {exc}") from None
        noun = {"int": "a whole number", "float": "a number", "float | None": "a number",
                "bool": "true or false (1/0, yes/no, on/off)",
                "tuple[str, ...]": "a list of file paths"}.get(kind, "text")
        raise ConfigError(f"{where}: {name} must be {noun}, not {describe(value)}") from None
    _check(name, result, where)
    return result


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _boolean(value: Any) -> bool:
    """A flag's, a TOML or an environment variable's yes or no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError


def _paths(value: Any) -> tuple[str, ...]:
    """File paths: a list (flags, TOML) or one text of paths separated by ':' (environment)."""
    if isinstance(value, str):
        return tuple(part for part in value.split(":") if part)
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, str | Path) and str(v) for v in value):
        raise ValueError
    return tuple(str(v) for v in value)


def _typed(kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError
        return value
    if kind == "tuple[str, ...]":
        if isinstance(value, str):  # one path, as TOML `policy = "rules.toml"`
            return (value,) if value else ()
        return _paths(value)
    if kind == "int":
        return whole_number(value)
    if kind in ("float", "float | None"):
        return number(value)
    return text_value(value)


def _check(name: str, value: Any, where: str) -> None:
    if name == "tool_version" and value is not None and value not in FLAVOURS:
        raise ConfigError(f"{where}: tool_version must be one of {', '.join(FLAVOURS)}, "
                          f"not {describe(value)}")
    if name == "provider" and value not in PROVIDERS:
        raise ConfigError(f"{where}: provider must be one of {', '.join(PROVIDERS)}, "
                          f"not {describe(value)}")
    if name == "monitor" and value < 0:  # 0 is every monitor as one, as mss numbers them
        raise ConfigError(f"{where}: monitor must be 0 (all monitors) or more, not {value}")
    if name in ("max_steps", "max_tokens") and value < 1:
        raise ConfigError(f"{where}: {name} must be at least 1, not {value}")
    if name == "timeout_s" and value is not None and value <= 0:
        raise ConfigError(f"{where}: timeout_s must be more than 0 seconds, not {value}")
    if name == "virtual_display" and value:
        # Imported here: keeps importing this module light (start-up time).
        from .x11.xserver import parse_size

        try:
            parse_size(value)
        except ValueError:
            raise ConfigError(f"{where}: virtual_display must be a screen size like 1920x1080 "
                              f"(each side 1-32767), not {describe(value)}") from None
    if name == "app" and value:

        try:
            shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: app {describe(value)} is not a valid command line: "
                              f"{exc}") from None
    if name in ("keep_images", "max_retries", "settle_ceiling_s", "max_cost_usd",
                "replay_wait_s", "wait_lock_s") and (
            value is not None and value < 0):
        raise ConfigError(f"{where}: {name} must not be negative, not {value}")


# Config-file tables that are not settings: [prices."model"] (prices.parse_price_overrides) and
# [headers] (extra HTTP headers for a gateway, parse_headers).
TABLES = ("prices", "headers")


def parse_headers(table: Any, *, where: str) -> dict[str, str]:
    """The config file's [headers] table: extra HTTP headers sent with every request."""
    if not isinstance(table, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise ConfigError(f"{where}: [headers] must map header names to text values")
    bad = ", ".join(repr(k) for k in table if not k or any(c in k for c in " :\r\n"))
    if bad:
        raise ConfigError(f"{where}: [headers] has invalid header name(s) {bad}")
    return dict(table)


def read_config_file(path: Path, *, is_explicit: bool) -> dict[str, Any]:
    """The settings from a TOML file, each checked (a missing default file is simply empty);
    a ConfigError names the file, the line and the key."""
    found = read_toml(path, what="config file", is_explicit=is_explicit)
    if found is None:
        return {}
    data = found.data
    for key in data:
        if key not in _TYPES and key not in TABLES:
            raise ConfigError(f"{found.where(key)}: unknown setting {describe(key)}; known: "
                              f"{', '.join(_TYPES)}, and the tables {', '.join(TABLES)}")
    for name, value in data.items():
        if name not in TABLES:
            _coerce(name, value, f"{found.where(name)}", typed=True)
    if "prices" in data:
        check_price_tables(found)
    if "headers" in data:
        parse_headers(data["headers"], where=found.where("headers"))
    return data


def check_price_tables(found: TomlFile) -> None:
    """Each `[prices."MODEL"]` table holds exactly the four prices, finite and not negative."""
    # Imported here: keeps importing this module light (start-up time).
    from .vocab.record import PRICE_KEYS

    try:
        prices = table(found.data["prices"])
    except ValueError as exc:
        raise ConfigError(f"{found.where('prices')}: prices {exc}; write "
                          '[prices."MODEL"] tables') from None
    for model, entry in prices.items():
        where = found.where("prices", model)
        try:
            entry = table(entry)
        except ValueError as exc:
            raise ConfigError(f"{where}: prices.{describe(model)} {exc}") from None
        if set(entry) != set(PRICE_KEYS):
            raise ConfigError(f"{where}: prices.{describe(model)} needs exactly "
                              f"{', '.join(PRICE_KEYS)} (dollars per million tokens)")
        for key, value in entry.items():
            try:
                if number(value) < 0:
                    raise ValueError(f"must not be negative, not {describe(value)}")
            except ValueError as exc:
                raise ConfigError(f"{found.where('prices', model, key)}: "
                                  f"prices.{describe(model)}.{key} {exc}") from None


def resolve_settings(
    defaults: Settings,
    *,
    file: Mapping[str, Any],
    file_path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
) -> tuple[Settings, dict[str, str]]:
    """Merge the layers; returns the settings and where each value came from. Every value is
    checked before anything is reported: a SettingsError names all the bad ones at once."""
    values: dict[str, Any] = {}
    sources = {name: "default" for name in _TYPES}
    problems: list[str] = []

    def take(name: str, source: str, coerce: Callable[[], Any]) -> None:
        try:
            values[name] = coerce()
        except ConfigError as exc:
            problems.append(str(exc))
            return
        sources[name] = source

    for name, value in file.items():
        if name in TABLES:  # tables of their own, read by their own parsers
            continue
        take(name, f"config {file_path}", lambda name=name, value=value: _from_file(
            name, value, file_path))
    for var, name in ENV_NAMES.items():
        if var in env:
            text = env_text(var, env[var])
            take(name, f"env {var}", lambda name=name, text=text, var=var: _coerce(
                name, text, f"environment variable {var}"))
    for name, value in flags.items():
        if value is not UNSET:
            take(name, "flag", lambda name=name, value=value: _coerce(
                name, value, FLAG_NAMES.get(name, f"--{name.replace('_', '-')}")))
    if problems:  # with the settings the good values make, for checks that can still run
        raise SettingsError(problems, partial=(replace(defaults, **values), sources))
    return replace(defaults, **values), sources


# Settings whose `cua run` flag is not --NAME-WITH-DASHES.
FLAG_NAMES = {"max_cost_usd": "--max-cost", "timeout_s": "--timeout",
              "wait_lock_s": "--wait-lock"}


class SettingsError(ConfigError):
    """One or more bad settings, all named in one message (one per line)."""

    def __init__(self, problems: list[str], *, partial: Any = None) -> None:
        super().__init__(join_problems(problems))
        self.problems = list(problems)
        self.partial = partial  # what could be resolved without the bad values


def join_problems(problems: list[str]) -> str:
    """One problem as it is; several as a count and one indented line each."""
    if len(problems) == 1:
        return problems[0]
    return f"{counted(len(problems), 'problem')}:\n" + "\n".join(f"  - {p}" for p in problems)


def _from_file(name: str, value: Any, file_path: Path | None) -> Any:
    result = _coerce(name, value, f"config file {file_path}",
                     typed=not isinstance(value, str) or name == "policy")
    if name == "policy" and file_path is not None:  # relative to the file, not the cwd
        result = tuple(str(file_path.parent / Path(p).expanduser()) for p in result)
    return result


class LoadedSettings(NamedTuple):
    settings: Settings
    prices: dict[str, Any]
    headers: dict[str, str]
    sources: dict[str, str]


def load_settings(env: Mapping[str, str], config: Path | None,
                  flags: Mapping[str, Any]) -> LoadedSettings:
    """Settings from defaults, the config file (`config`, else $CUA_CONFIG, else config.toml in
    cua's config folder), CUA_* variables and flags, in that order; plus the config file's price
    overrides and extra headers, and where each setting came from. `cua run`, `cua config show`
    and `cua doctor` all resolve settings here."""
    # Imported here: keeps importing this module light (start-up time).
    from .paths import config_dir
    from .vocab.record import parse_price_overrides

    explicit = config or (Path(env["CUA_CONFIG"]) if env.get("CUA_CONFIG") else None)
    path = explicit if explicit is not None else config_dir(env) / "config.toml"
    problems: list[str] = []
    try:
        file = read_config_file(path, is_explicit=explicit is not None)
    except ConfigError as exc:  # reported with whatever else is wrong
        problems.append(str(exc))
        file = {}
    try:
        settings, sources = resolve_settings(DEFAULTS, file=file, file_path=path, env=env,
                                             flags=flags)
    except SettingsError as exc:
        problems += exc.problems
        settings, sources = exc.partial
    prices = parse_price_overrides(file.get("prices", {}), where=f"config file {path}")
    headers = parse_headers(file.get("headers", {}), where=f"config file {path}")
    loaded = LoadedSettings(settings, prices, headers, sources)
    if problems:
        raise SettingsError(problems, partial=loaded)
    return loaded
