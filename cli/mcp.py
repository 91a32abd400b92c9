"""`cua mcp`: serve cua's tools over the Model Context Protocol (stdio, or Streamable HTTP on
loopback with a bearer token). The server itself is mcp_server.py; this module parses the
command line, checks the optional `mcp` extra is installed, and keeps stdout for the protocol."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

HELP = """\
Serve cua to MCP clients (Claude Code, Claude Desktop, any MCP client): the tool run_task hands a whole GUI task to cua, and list_runs / show_run read its run records.

Serves MCP over stdio by default; with --http HOST:PORT, Streamable HTTP at http://HOST:PORT/mcp on loopback only, every request needing the bearer token printed on stderr at start (or given in CUA_MCP_TOKEN). In stdio mode nothing but protocol messages reaches stdout: cua's own lines go to stderr.

Every run gets a private virtual display of its own (run_task's virtual_display, else the virtual_display setting, else 1280x800) unless --allow-desktop is given: then a call without virtual_display runs on this server's $DISPLAY, the user's own desktop. The API key and endpoint come from this server's environment and config file, never from a tool call. Actions cua's policy wants approved are asked through the client (MCP elicitation); an unanswered question, or a client that cannot ask, leaves the action undone and the run ends needs_approval.

Needs the optional extra: pip install 'claude-cua[mcp]' (or CUA_EXTRAS=mcp sh scripts/setup.sh).

\b
Examples:
  claude mcp add cua -- cua mcp
  cua mcp --http 127.0.0.1:8765 --max-concurrent 3
"""

INSTALL = "pip install 'claude-cua[mcp]' (or CUA_EXTRAS=mcp sh scripts/setup.sh)"


def mcp(
    http: Annotated[str | None, typer.Option(
        "--http", help="Serve Streamable HTTP at HOST:PORT (or PORT, on 127.0.0.1) instead of stdio. Loopback addresses only; PORT 0 picks a free port.",
        metavar="HOST:PORT")] = None,
    allow_desktop: Annotated[bool, typer.Option(
        "--allow-desktop", help="Let a run_task call without virtual_display drive this server's own $DISPLAY (the user's desktop) instead of a private virtual display.")] = False,
    max_concurrent: Annotated[int, typer.Option(
        help="Runs carried out at once (1 to 64), each on its own display; further calls wait, and their progress says so.",
        metavar="N")] = 2,
    approval_timeout: Annotated[float, typer.Option(
        help="Seconds (at least 1) to wait for the client's answer to an approval question; then the action is not carried out and the run ends needs_approval.",
        metavar="SECONDS")] = 300.0,
    config: Annotated[Path | None, typer.Option(
        help="Config file (TOML) instead of ~/.config/cua/config.toml (env CUA_CONFIG).",
        metavar="FILE")] = None,
    policy: Annotated[list[Path] | None, typer.Option(
        help="Policy file whose rules come before the built-in ones, for every run; repeatable (default: the policy setting, else policy.toml in the config directory).",
        metavar="FILE")] = None,
    desktop: Annotated[str | None, typer.Option("--desktop", hidden=True)] = None,
) -> int:
    try:
        import mcp.server  # noqa: F401  (the optional extra)
    except ImportError as exc:
        sys.stderr.write(f"cua mcp needs the optional MCP support, which is not installed "
                         f"({exc}): {INSTALL}\n")
        return 2
    if not 1 <= max_concurrent <= 64:
        raise typer.BadParameter(f"give 1 to 64 runs at once, not {max_concurrent}",
                                 param_hint="--max-concurrent")
    if not approval_timeout >= 1:  # NaN too
        raise typer.BadParameter(f"give at least 1 second, not {approval_timeout:g}",
                                 param_hint="--approval-timeout")
    address = parse_address(http) if http is not None else None
    # Imported here, not at the top: start-up loads only what --help needs.
    from .mcp_server import ServerOptions

    env = {k: v for k, v in os.environ.items() if k != "CUA_MCP_TOKEN"}
    options = ServerOptions(env=env, config=config, policy_files=tuple(policy or ()),
                            allow_desktop=allow_desktop, max_concurrent=max_concurrent,
                            approval_timeout_s=approval_timeout, desktop=desktop)
    # Imported here, not at the top: start-up loads only what --help needs.
    from . import mcp_transport

    if address is None:
        return mcp_transport.serve_stdio(options)
    return mcp_transport.serve_http(options, *address, token=os.environ.get("CUA_MCP_TOKEN"))


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or PORT) for --http; loopback hosts only."""
    host, colon, port_text = text.rpartition(":")
    host = host.strip("[]") if colon else "127.0.0.1"
    port_text = port_text if colon else text
    if not port_text.isdigit() or int(port_text) > 65535:
        raise typer.BadParameter(f"{text!r}: give HOST:PORT or PORT, e.g. 127.0.0.1:8765",
                                 param_hint="--http")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise typer.BadParameter(
                f"{host} is not a loopback address: cua mcp listens on 127.0.0.1, ::1 or "
                "localhost only (reach it from elsewhere through an SSH tunnel)",
                param_hint="--http")
    return host, int(port_text)
