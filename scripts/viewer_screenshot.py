"""A screenshot of `lerobot_view` in Rerun's web viewer, by headless Chromium, for docs/.

  python scripts/viewer_screenshot.py [--dataset demo_output/dataset] [--out docs/rerun_view.png]

Needs a converted dataset (scripts/demo.sh writes demo_output/dataset) and Chromium
(Debian: apt-get install chromium). Rendering runs on Chromium's software rasterizer
(SwiftShader): the viewer needs about a minute to load and play the episode here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
DEBUG_PORT = 9222


def page_socket() -> str:
    """The DevTools websocket of Chromium's first page, once it listens."""
    deadline = time.monotonic() + 20
    while True:
        try:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{DEBUG_PORT}/json"))
            return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        except (OSError, StopIteration):
            if time.monotonic() > deadline:
                raise SystemExit("Chromium's DevTools did not answer in 20 s") from None
            time.sleep(0.2)


async def capture(url: str, out: Path, wait_s: float) -> None:
    async with websockets.connect(page_socket(), max_size=None) as socket:
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params) -> dict:
            request = next(ids)
            await socket.send(json.dumps({"id": request, "method": method, "params": params}))
            while (reply := json.loads(await socket.recv())).get("id") != request:
                pass
            return reply["result"]

        await call("Page.navigate", url=url)
        await asyncio.sleep(wait_s)
        out.write_bytes(base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT / "demo_output" / "dataset")
    parser.add_argument("--profile", type=Path, default=ROOT / "config" / "so101_follower_sim.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rerun_view.png")
    parser.add_argument("--wait-s", type=float, default=75.0, help="time for the viewer to load and draw")
    args = parser.parse_args()
    view_command = [sys.executable, "-m", "lerobot_bringup.view_cli", "dataset", str(args.dataset),
                    "--profile", str(args.profile), "--web"]  # fmt: skip
    view = subprocess.Popen(view_command, stdout=subprocess.PIPE, text=True)
    chromium = None
    try:
        uri = next(line.split("?url=")[1].strip() for line in view.stdout if "?url=" in line)
        chromium = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
             "--window-size=1600,860", f"--remote-debugging-port={DEBUG_PORT}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://localhost:9090/?url={urllib.parse.quote(uri, safe='')}"
        asyncio.run(capture(url, args.out, args.wait_s))
    finally:
        for process in (chromium, view):
            if process is not None:
                process.terminate()
                process.wait(10)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
