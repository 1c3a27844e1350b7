"""report's host-moved view of a real apache2's access log: a wildcard ServerAlias added to another
vhost and a graceful reload make it capture the API's Host while answering 200; ``report --json`` of
the resulting log shows the move at the reload's minute, naming both vhosts, with both engines.

The setup is test_host_moved_live's (its config, load and reload helpers). The reload is timed early
in a minute, so that the captured requests are that minute's majority: the expected minute is the
reload's, known from the clock, not from the program.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.monitor.test_host_moved_live import HOST_FORMAT, ROOT, Load, _config, _graceful, _internal, site  # noqa: F401
from tests.support.alerts import wait_for
from tests.support.apache import APACHE2, CLEAN_ENV, free_port, needs_apache
from vhostguard.logs import scanner
from datetime import datetime, UTC


def _report(log: Path, engine: str) -> dict:  # type: ignore[type-arg]
    env = dict(os.environ, VHOSTGUARD_ENGINE=engine)
    done = subprocess.run([sys.executable, "-m", "vhostguard", "report", str(log), "--log-format",
                           HOST_FORMAT.replace('\\"', '"'), "--json"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.httpd
@needs_apache
def test_report_shows_the_api_host_moving_to_the_wildcard_vhost_at_the_reload_minute(site: Path) -> None:  # noqa: F811
    port = free_port()
    conf = _config(site, port)
    assert APACHE2 is not None
    server = subprocess.Popen([APACHE2, "-f", str(conf), "-DFOREGROUND"], env=CLEAN_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (site / "run" / "httpd.pid").exists(), 10), server.stderr
        with Load(port, "api.example.com") as api:
            started = time.time()
            # Early in a minute (at least 38 s of its requests come after the reload) that is not the one
            # the load started in (the minute before holds the usual mapping, over 5 requests).
            while not (2 <= time.time() % 60 <= 20 and time.time() - time.time() % 60 >= started + 1):
                time.sleep(0.2)
            with Load(port, "new.example.com"):  # a Host seen for the first time, served by its catch-all
                _internal(site, port, alias=True)
                reloaded = time.time()
                _graceful(site)
                assert wait_for(lambda: any("internal landing" in body for t, _, body in api.answers if t > reloaded),
                                10)
                while time.time() < reloaded - reloaded % 60 + 62:  # into the next minute: the new mapping holds
                    time.sleep(0.5)
        answers = list(api.answers)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    assert answers and all(status == 200 for _, status, _ in answers)
    minute = datetime.fromtimestamp(reloaded - reloaded % 60, UTC).isoformat()
    engines = ["python"] + (["c"] if scanner.compiled() else [])
    docs = {engine: _report(site / "logs" / "access.log", engine) for engine in engines}
    hosts = docs["python"]["hosts"]
    assert all(doc["hosts"] == hosts for doc in docs.values())
    assert docs[engines[-1]]["engine"] == engines[-1]
    assert hosts["available"] is True
    assert [(m["host"], m["minute"], m["from"], m["to"]) for m in hosts["moved"]] == [
        ("api.example.com", minute, "api.example.com", "internal.example.com")]
    # every request the client made for the API's Host is in the log, under the vhost that answered it
    served = {m["vhost"]: m["requests"] for m in hosts["mappings"] if m["host"] == "api.example.com"}
    assert served == {"api.example.com": sum('"api"' in body for _, _, body in answers),
                      "internal.example.com": sum("internal landing" in body for _, _, body in answers)}
    assert [m["vhost"] for m in hosts["mappings"] if m["host"] == "new.example.com"] == ["internal.example.com"]
