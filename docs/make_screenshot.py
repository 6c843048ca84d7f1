"""Draw docs/report.png, the README's picture: the HTML report of data/sample in headless
Chromium (`apt-get install -y chromium`).

    python docs/make_screenshot.py [--out docs/report.png] [--width 1200] [--height 1500]

It ingests data/sample into a temporary warehouse (`--orchestration direct`: no Prefect),
writes `steplens report --html` there and photographs the top of the page (headline
cards, step latency, where a run's time goes). Nothing is fetched: the page is
self-contained and Chromium runs with its network features off.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--force-device-scale-factor=1")


def steplens(*args: str) -> None:
    """Run the installed `steplens` command (the one beside this Python, else on PATH)."""
    exe = Path(sys.executable).with_name("steplens")
    command = [str(exe)] if exe.exists() else [shutil.which("steplens") or "steplens"]
    subprocess.run([*command, *args], check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="steplens-shot-") as tmp:
        wh, page = Path(tmp) / "wh", Path(tmp) / "report.html"
        steplens("ingest", str(ROOT / "data" / "sample"), "-w", str(wh),
                 "--orchestration", "direct")
        steplens("report", "-w", str(wh), "--html", str(page))
        # the page names its warehouse: show the one a user of the quickstart has
        page.write_text(page.read_text(encoding="utf-8").replace(str(wh), "data/warehouse"),
                        encoding="utf-8")
        subprocess.run([browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
                        f"--window-size={args.width},{args.height}",
                        f"--screenshot={args.out.resolve()}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
