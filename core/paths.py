"""cua's folders on this machine, found in one place: the user's config folder
(~/.config/cua: config.toml, policy.toml) and data folder (~/.local/share/cua: runs)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/cua when `env` sets an absolute one, else the platform's (platformdirs
    reads os.environ itself, so an injected `env` is honoured here first)."""
    if env is not None and env.get("XDG_CONFIG_HOME", "").startswith("/"):
        return Path(env["XDG_CONFIG_HOME"]) / "cua"
    # Imported here: keeps importing this module light (start-up time).
    import platformdirs

    return Path(platformdirs.user_config_dir("cua", appauthor=False))


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """$CUA_DATA_DIR when set, else the platform's user data folder for cua."""
    if env is not None and env.get("CUA_DATA_DIR"):
        return Path(env["CUA_DATA_DIR"])
    # Imported here: keeps importing this module light (start-up time).
    import platformdirs

    return Path(platformdirs.user_data_dir("cua", appauthor=False))
