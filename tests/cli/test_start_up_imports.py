"""What a command imports before its work starts is part of its time: ``report --json`` writes its
document without rich (only the tables and the HTML page need it), ``diff`` replays without the live
sandbox (ssl, http) and the expectations' yaml. Checked in a fresh interpreter, whose modules are its own."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INCIDENT = Path(__file__).resolve().parents[2] / "examples" / "incident"
BEFORE, AFTER = str(INCIDENT / "before" / "apache2.conf"), str(INCIDENT / "after" / "apache2.conf")

SCRIPT = """
import io, json, sys
from contextlib import redirect_stdout
from vhostguard.cli import main
out = io.StringIO()
with redirect_stdout(out):
    try:
        main(sys.argv[2:])
    except SystemExit as done:
        code = done.code
watched = sys.argv[1].split(",")
loaded = sorted(name for name in sys.modules if any(name == w or name.startswith(w + ".") for w in watched))
print(json.dumps({"code": code, "loaded": loaded, "document": json.loads(out.getvalue())}))
"""


def _run(watched: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, watched, *args],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_report_json_loads_no_rich() -> None:
    lines = (INCIDENT / "access.log").read_text().splitlines()
    result = _run("rich", "report", str(INCIDENT / "access.log"), "-f", BEFORE, "--json")
    assert result["code"] == 0
    assert result["document"]["lines"] == len(lines) and result["document"]["endpoints"]
    assert result["loaded"] == []


def test_diff_loads_neither_the_live_sandbox_nor_yaml() -> None:
    result = _run("vhostguard.live,ssl,http,yaml", "diff", BEFORE, AFTER, "--requests",
                  str(INCIDENT / "access.log"), "--json")
    assert result["code"] == 1 and result["document"]["changed"] > 0  # the incident's misroute
    assert result["loaded"] == []
