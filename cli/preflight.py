"""Everything `cua run` can check before it starts anything, checked together: one error that
names every problem (a bad --virtual-display and a missing API key both), exit 2."""

from __future__ import annotations

import sys
from typing import Any

from ..core.errors import ConfigError


def problems_of(plan: Any, *, dry_run: bool = False) -> list[str]:
    """What stops `plan` before it starts, each in the words its own error would use. The
    settings' own problems come from load_settings; these need the settings resolved."""
    found: list[str] = []
    for check in (_credentials, _secrets, _policy_files):
        try:
            check(plan, dry_run)
        except ConfigError as exc:
            found.append(str(exc))
    return found


def raise_all(problems: list[str], plan: Any = None) -> None:
    """One error naming every problem; before it, the warning about an unknown model that the
    run would have given first (so it is not lost when the run never starts)."""
    if not problems:
        return
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.settings import SettingsError

    if plan is not None and not plan.known_model:
        _warn_about_the_model(plan)
    raise SettingsError(problems)


def _warn_about_the_model(plan: Any) -> None:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.model.context import model_warning
    from ..core.model.providers import resolve_endpoint

    s = plan.settings
    try:
        endpoint = resolve_endpoint(
            provider=s.provider, model=s.model, model_is_default=plan.model_is_default,
            region=s.region, project=s.project, base_url=s.base_url, headers=plan.headers,
            env=plan.env)
    except ConfigError:
        return  # reported among the problems
    model = endpoint.model
    warning = model_warning(model.canonical or model.id, s.tool_version)
    if warning is not None:
        where = "" if endpoint.provider == "anthropic" else f"{endpoint.label}: "
        sys.stderr.write(f"cua: warning: {where}{warning}\n")


def _credentials(plan: Any, dry_run: bool) -> None:
    """The Anthropic API key (a cloud provider's credentials are resolved when its client is
    made). A dry run asks no model; a replay asks only if it hands over, so it only warns."""
    s = plan.settings
    if dry_run or plan.base_url or s.provider != "anthropic" or plan.api_key:
        return
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.model.providers import client_spec, resolve_endpoint

    endpoint = resolve_endpoint(
        provider=s.provider, model=s.model, model_is_default=plan.model_is_default,
        region=s.region, project=s.project, base_url=s.base_url, headers=plan.headers,
        env=plan.env)
    try:
        client_spec(endpoint, env=plan.env, api_key=plan.api_key)
    except ConfigError as exc:
        if not s.replay:
            raise
        if not plan.quiet:
            sys.stderr.write(f"cua: warning: {exc}; the replay runs without it, but if the "
                             "screen stops matching the recording it cannot hand over to "
                             "Claude and ends with an error\n")


def _secrets(plan: Any, dry_run: bool) -> None:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.secrets import Secrets

    Secrets.from_specs(plan.secret_specs, plan.env)


def _policy_files(plan: Any, dry_run: bool) -> None:
    # Imported here, not at the top: start-up loads only what --help needs.
    from pathlib import Path

    from ..core.safety.policy_file import default_policy_path, effective_rules

    files = list(plan.policy_files)
    if not files and (default := default_policy_path(plan.env)).is_file():
        files.append(default)
    effective_rules([Path(f) for f in files])
