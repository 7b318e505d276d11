#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive a headless Chromium through its DevTools protocol (Python's
standard library only: a minimal WebSocket client) for tests/loktd's
dashboard test:

    devtools.py CHROMIUM URL SCREENSHOT -- CMD...

opens URL, waits until the page says its event stream is live, marks the
window (a reload would drop the mark), runs CMD (which takes a lock named
by $DASH_LOCK), then measures how long the page takes to show that lock
without a reload, and saves a screenshot as PNG. Prints one JSON object:
{"live": bool, "seen_ms": int or null, "reloaded": bool, "screenshot": bool,
"nojs_tables": bool, "nojs_status": text}: first, with JavaScript off, does
the page hold the locks table with $NOJS_EXPECT in it.
"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise OSError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("websocket handshake refused: %r" % head[:200])
        self.next_id = 0

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise OSError("websocket closed")
            buf += chunk
        return buf

    def send(self, text):
        data = text.encode()
        head = bytes([0x81])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            if b0 & 0x0F in (0x9, 0xA):  # ping, pong: not for us
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def call(self, method, **params):
        self.next_id += 1
        self.send(json.dumps({"id": self.next_id, "method": method,
                              "params": params}))
        while True:
            msg = json.loads(self.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")


def start_chromium(chromium, profile):
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-port=0", "--remote-allow-origins=*",
         f"--user-data-dir={profile}", "--window-size=1100,800",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if lines:
                port = lines[0]
                targets = json.load(urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/json/list", timeout=10))
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return proc, pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chromium did not open its DevTools port")


def wait_until(ws, expr, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ws.js(expr):
            return True
        time.sleep(0.05)
    return False


def main():
    chromium, url, shot = sys.argv[1:4]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    lock = os.environ["DASH_LOCK"]
    out = {"live": False, "seen_ms": None, "reloaded": None,
           "screenshot": False}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc, ws_url = start_chromium(chromium, profile)
        try:
            ws = WebSocket(ws_url)
            ws.call("Page.enable")
            # First without JavaScript: the plain tables must be there.
            ws.call("Emulation.setScriptExecutionDisabled", value=True)
            ws.call("Page.navigate", url=url)
            wait_until(ws, "document.readyState === 'complete'", 20)
            doc = ws.call("DOM.getDocument")
            html = ws.call("DOM.getOuterHTML",
                           nodeId=doc["root"]["nodeId"])["outerHTML"]
            out["nojs_tables"] = ("<table id=\"locks\">" in html and
                                  os.environ.get("NOJS_EXPECT", "") in html)
            out["nojs_status"] = ws.js(
                "document.getElementById('live-status').textContent")
            ws.call("Emulation.setScriptExecutionDisabled", value=False)
            ws.call("Page.navigate", url=url)
            out["live"] = wait_until(
                ws, "document.readyState === 'complete' && "
                "document.getElementById('live-status') && "
                "document.getElementById('live-status').textContent === 'live'",
                20)
            ws.js("window.__loktd_mark = 42")
            seen = ("(function(){var t=document.getElementById('locks');"
                    f"return !!t && t.textContent.indexOf({json.dumps(lock)}) >= 0;}})()")
            if ws.js(seen):
                out["error"] = "the lock was shown before it was taken"
            subprocess.run(cmd, check=True)
            t0 = time.monotonic()
            if wait_until(ws, seen, 5):
                out["seen_ms"] = int((time.monotonic() - t0) * 1000)
            out["reloaded"] = ws.js("window.__loktd_mark") != 42
            time.sleep(0.3)  # let the bars settle for the picture
            png = ws.call("Page.captureScreenshot", format="png")
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png["data"]))
            out["screenshot"] = True
        finally:
            # chromium's helpers are in the session it leads: end them all
            os.killpg(proc.pid, 9)
            proc.wait()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
