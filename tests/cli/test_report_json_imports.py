"""``report --json`` writes its document without importing rich (~0.1 s of a report's start-up):
only the tables and the HTML page need it. Checked in a fresh interpreter, whose modules are its own."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INCIDENT = Path(__file__).resolve().parents[2] / "examples" / "incident"

SCRIPT = """
import io, json, sys
from contextlib import redirect_stdout
from vhostguard.cli import main
out = io.StringIO()
with redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
loaded = sorted(name for name in sys.modules if name == "rich" or name.startswith("rich."))
print(json.dumps({"code": code, "loaded": loaded, "document": json.loads(out.getvalue())}))
"""


def _report(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, "report", str(INCIDENT / "access.log"),
                           "-f", str(INCIDENT / "before" / "apache2.conf"), *args],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_report_json_loads_no_rich() -> None:
    lines = (INCIDENT / "access.log").read_text().splitlines()
    result = _report("--json")
    assert result["code"] == 0
    assert result["document"]["lines"] == len(lines) and result["document"]["endpoints"]
    assert result["loaded"] == []
