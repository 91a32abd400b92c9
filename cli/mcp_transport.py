"""How `cua mcp` reaches its client: stdio (stdout kept for protocol messages alone) or
Streamable HTTP on loopback behind a bearer token."""

from __future__ import annotations

import contextlib
import hmac
import io
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio

from ..core.vocab.words import counted
from .mcp_server import CuaMcp, ServerOptions


def keep_stdout_for_protocol() -> tuple[int, int]:
    """Take fds 0 and 1 for the protocol and point them elsewhere: fd 1 (and sys.stdout) at
    stderr, fd 0 at /dev/null. Whatever else writes to stdout then (a library's print, a
    warning, a child process such as Xvfb or --app) lands on stderr, never between protocol
    messages. Returns the protocol's (input fd, output fd)."""
    sys.stdout.flush()
    protocol_out = os.dup(1)
    protocol_in = os.dup(0)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd in (protocol_in, protocol_out):
        os.set_inheritable(fd, False)
    sys.stdout = sys.stderr
    return protocol_in, protocol_out


def serve_stdio(options: ServerOptions) -> int:
    protocol_in, protocol_out = keep_stdout_for_protocol()
    stopped_by: list[int] = []

    async def main() -> None:
        # Imported here: an optional extra, needed only on this path.
        from mcp.server.stdio import stdio_server

        cua = CuaMcp(options)
        server = cua.server()
        stdin = anyio.wrap_file(io.TextIOWrapper(os.fdopen(protocol_in, "rb", buffering=0),
                                                 encoding="utf-8", errors="replace"))
        stdout = anyio.wrap_file(io.TextIOWrapper(os.fdopen(protocol_out, "wb"),
                                                  encoding="utf-8", newline="\n"))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_until_signal, stopped_by, tg.cancel_scope.cancel)
                async with stdio_server(stdin=stdin, stdout=stdout) as (read, write):
                    await server.run(read, write, server.create_initialization_options())
                tg.cancel_scope.cancel()  # the client closed stdin: done
        finally:
            await cua.stop_all("the MCP client went away" if not stopped_by else
                               f"cua mcp got {signal.Signals(stopped_by[0]).name}")

    _log(f"cua mcp: serving MCP on stdio ({_limits(options)})")
    anyio.run(main)
    return _exit_code(stopped_by)


def serve_http(options: ServerOptions, host: str, port: int, *, token: str | None) -> int:
    # Imported here: an optional extra, needed only on this path.
    import uvicorn

    printed = token is None
    token = token or secrets.token_urlsafe(32)
    cua = CuaMcp(options)
    app = BearerGate(cua.server().streamable_http_app(host=host), token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # before the address is printed: a client may connect at once
    bound = sock.getsockname()[1]
    where = f"[{host}]" if ":" in host else host
    _log(f"cua mcp: serving MCP (Streamable HTTP) at http://{where}:{bound}/mcp "
         f"({_limits(options)})")
    _log(f"cua mcp: bearer token: {token}" if printed else
         "cua mcp: bearer token: the value of CUA_MCP_TOKEN")
    server = _uvicorn_server()(uvicorn.Config(app, log_level="warning", lifespan="on",
                                     timeout_graceful_shutdown=5))
    stopped_by: list[int] = []

    def stop() -> None:
        server.should_exit = True

    async def main() -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_until_signal, stopped_by, stop)
                await server.serve(sockets=[sock])
                tg.cancel_scope.cancel()
        finally:
            await cua.stop_all("cua mcp is shutting down")

    anyio.run(main)
    return _exit_code(stopped_by)


def _uvicorn_server() -> type:
    # Imported here: an optional extra, needed only on this path.
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: `cua mcp` stops it, after its runs."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


async def _until_signal(stopped_by: list[int], stop: Callable[[], None]) -> None:
    """Wait for SIGINT, SIGTERM or SIGHUP; note it and `stop` the server (whose runs are then
    cancelled, each ending as Ctrl-C ends a run)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            stopped_by.append(signum)
            _log(f"cua mcp: {signal.Signals(signum).name}: stopping every run, then the server")
            stop()
            return


def _exit_code(stopped_by: list[int]) -> int:
    """0 when the client went away; 130, 143 or 129 when a signal stopped the server."""
    codes = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
    return codes[signal.Signals(stopped_by[0])] if stopped_by else 0


class BearerGate:
    """ASGI middleware: an HTTP request without `Authorization: Bearer TOKEN` gets 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            body = b'{"error": "unauthorized: send Authorization: Bearer <the cua mcp token>"}'
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"www-authenticate", b'Bearer realm="cua mcp"'),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: dict[str, Any]) -> bool:
        given = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                given = value
        return hmac.compare_digest(given, self.expected)


def _limits(options: ServerOptions) -> str:
    where = ("private virtual displays; the desktop when a call asks for no virtual_display"
             if options.allow_desktop else "private virtual displays only")
    return f"{where}, up to {counted(options.max_concurrent, 'run')} at once"


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
