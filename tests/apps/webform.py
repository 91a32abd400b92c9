"""A web form that answers a round trip later, for Debian's chromium on the test's display.

`WebForm(delay_s)` serves, on 127.0.0.1, a page with a violet Submit button (colours.SUBMIT)
that shows a black focus ring at once when clicked (so the screen changes right after the
click, then again when the answer comes, as on the page the issue was found on). Submit POSTs
to the server, which answers after `delay_s`, and the page then shows a yellow "Submitted"
banner (colours.DIALOG_OK). `chromium_argv(url, profile, proxy_port)` opens it as an --app
window that can reach nothing else (a proxy that refuses everything).
"""

from __future__ import annotations

import http.server
import threading
import time

from claude_cua.cli.demo.colours import DIALOG_OK, SUBMIT, hex_colour

PAGE = f"""<!doctype html><html><head><title>Web form</title><style>
body {{ font: 18px sans-serif; margin: 40px; background: #f2f2f2; }}
button {{ background: {hex_colour(SUBMIT)}; color: white; border: 0; width: 220px; height: 64px;
         font-size: 20px; }}
button:focus {{ outline: 4px solid #000000; }}
#banner {{ display: none; background: {hex_colour(DIALOG_OK)}; padding: 24px; margin-top: 40px;
          font-size: 28px; }}
</style></head><body>
<p>Supplier: <input id="name" value="Acme"></p>
<button id="submit">Submit</button>
<div id="banner">Submitted</div>
<script>
document.getElementById('submit').addEventListener('click', async () => {{
  const r = await fetch('/submit', {{method: 'POST', body: document.getElementById('name').value}});
  if (r.ok) document.getElementById('banner').style.display = 'block';
}});
</script></body></html>"""


class WebForm:
    def __init__(self, delay_s: float = 0.06) -> None:
        self.delay_s = delay_s
        self.posts = 0
        form = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(form.delay_s)  # the server's side of the round trip
                form.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def chromium_argv(url: str, profile: str, proxy_port: int) -> list[str]:
    return ["/usr/bin/chromium", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--password-store=basic", "--disable-features=Translate",
            f"--user-data-dir={profile}", f"--proxy-server=127.0.0.1:{proxy_port}",
            "--window-position=0,0", "--window-size=900,600", f"--app={url}"]
