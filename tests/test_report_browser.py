"""The report page in a real browser: headless Chromium loads report.html, takes a screenshot
(a non-empty, non-blank PNG) and logs no console message (no error, no blocked fetch).

Chromium is Debian's `chromium` package: installed here when missing and we are root; when it
cannot be installed these tests are skipped with the reason, never passed."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_dataset_report import MANIFEST, PROVENANCE, REJECTED, SPLITS

from recipec.dataset import render_report

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
# Chromium logs each console message of the page as `...:CONSOLE:LINE] "text", source: URL`
# (older builds: `CONSOLE(LINE)`); uncaught exceptions read "Uncaught ...".
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\]|Uncaught")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found:
        return found
    reason = _install()
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"headless Chromium is unavailable: {reason}")
    return found


def _install() -> str:
    """Install Debian's chromium; the reason it could not be, or '' when it was."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root or no apt-get, so `apt-get install -y chromium` cannot run here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took over 15 minutes"
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
            return f"`{' '.join(command)}` failed: {tail[0]}"
    return ""


def load(chromium: str, page: Path, tmp: Path, height: int = 4000) -> tuple[bytes, list[str]]:
    """Screenshot of `page` at 1280 px wide, and the console lines the browser logged."""
    shot = tmp / f"{page.stem}.png"
    command = [
        chromium,
        *FLAGS,
        f"--user-data-dir={tmp / ('profile-' + page.stem)}",
        f"--screenshot={shot}",
        f"--window-size=1280,{height}",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot; chromium said:\n{done.stderr[-2000:]}"
    return shot.read_bytes(), [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG, read with struct and zlib."""
    assert data.startswith(PNG_MAGIC), "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


def test_the_console_detector_sees_errors(chromium, tmp_path):
    """A control: a throwing script and a blocked fetch must both be caught, or the check
    below could pass on a page full of errors."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><p>x</p>"
        "<script>throw new Error('boom-marker')</script></body></html>"
    )
    _, lines = load(chromium, bad, tmp_path, 300)
    assert any("boom-marker" in line for line in lines), lines
    policy = tmp_path / "policy.html"
    policy.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'none'\"></head><body><img src='blocked.png'></body></html>"
    )
    _, lines = load(chromium, policy, tmp_path, 300)
    assert any("Content Security Policy" in line for line in lines), lines


def test_the_report_loads_in_chromium(chromium, tmp_path):
    outdir = tmp_path / "out"
    render_report(MANIFEST, SPLITS, PROVENANCE, outdir, REJECTED)
    shot, console = load(chromium, outdir / "report.html", tmp_path)
    assert console == []
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 4000)
    # A readable page has text and charts: many distinct byte values, not one flat colour.
    assert len(set(pixels)) > 64
    keep = os.environ.get("RECIPEC_KEEP_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(shot)


def test_a_failed_build_report_loads_in_chromium(chromium, tmp_path):
    manifest = {"status": "failed", "stopped_early": "the judge rejected 9 of 10", "judge": None}
    render_report(manifest, {}, [], tmp_path / "out", REJECTED)
    shot, console = load(chromium, tmp_path / "out" / "report.html", tmp_path, 1200)
    assert console == []
    assert len(set(png_pixels(shot)[2])) > 16
