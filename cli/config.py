"""`cua config show`: every setting `cua run` would use, and where its value came from."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer

HELP_SHOW = (
    "Print every setting a `cua run` here would use and where its value came from: a CUA_* "
    "environment variable, the config file (~/.config/cua/config.toml, or --config / "
    "CUA_CONFIG), or the default. Flags given to `cua run` come before all of these."
)


def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Config file (TOML) instead of ~/.config/cua/config.toml (env CUA_CONFIG).",
        metavar="FILE")] = None,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.settings import ENV_NAMES, Settings, load_settings

    loaded = load_settings(dict(os.environ), config, {})
    env_of = {name: var for var, name in ENV_NAMES.items()}
    rows = [{"name": f.name, "value": getattr(loaded.settings, f.name),
             "source": loaded.sources[f.name], "env": env_of[f.name]}
            for f in fields(Settings)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    width = max(len(r["name"]) for r in rows)
    value_width = max(len(_shown(r["value"])) for r in rows)
    for r in rows:
        sys.stdout.write(f"{r['name']:<{width}}  {_shown(r['value']):<{value_width}}  "
                         f"{r['source']}\n")
    return 0


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)
