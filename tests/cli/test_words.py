"""Counts read as English: "1 line", "1 endpoint", never "1 lines"."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LINE = '127.0.0.1 - - [04/Dec/2026:01:00:00 +0000] "GET /a HTTP/1.1" 500 5 "-" "curl"\n'


def vg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vhostguard", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_one_line_one_endpoint(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(LINE)
    report = vg("report", str(log), "--log-format", "combined", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "1 line," in report.stdout and "1 endpoint" in report.stdout
    assert "1 lines" not in report.stdout and "1 endpoints" not in report.stdout
    watch = vg("watch", str(log), "--log-format", "combined", "--from-start", "--once", "--metrics-addr", "off",
               "--state", str(tmp_path / "state"), "--quiet", cwd=tmp_path)
    assert "1 line," in watch.stderr and "1 lines" not in watch.stderr, watch.stderr
