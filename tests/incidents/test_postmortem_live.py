"""A scripted incident on a real apache2: a deploy that passes the gates (its routing change allowed)
sends the API to a closed port, real traffic fails, vhostguard's verification rolls it back; then
`vhostguard postmortem` drafts the story. The counts are checked against the access log's own lines
(parsed here with a regular expression, not with vhostguard), the order against the events' times.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.deploy.test_deploy_live import Stack, _expectations, _site, running_stack
from tests.support.apache import APACHE2, free_port

pytestmark = pytest.mark.skipif(APACHE2 is None or shutil.which("apache2ctl") is None,
                                reason="apache2 is not installed (apt-get install apache2)")

# %t to the millisecond: the deploy's events are, and a second-resolution log could not order a failure
# against a switch in the same second.
LOG_FORMAT = ('%v:%p %h %l %u [%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] \\"%r\\" %>s %O '
              '\\"%{Referer}i\\" \\"%{User-Agent}i\\" %D')
LINE = re.compile(r'^\S+ \S+ \S+ \S+ \[([^\]]+)\] "[^"]*" (\d{3}) ')


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, LOG_FORMAT) as started:
        yield started


def _log_lines(path: Path, since: float) -> list[tuple[float, int]]:
    rows = []
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        assert m, line
        moment = datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S.%f %z").timestamp()
        if moment >= since:
            rows.append((moment, int(m.group(2))))
    return rows


def test_postmortem_of_a_bad_deploy_rolled_back_automatically(stack: Stack) -> None:
    stack.traffic(5)
    assert stack.deploy(stack.candidate("first")).returncode == 0
    down = free_port()  # nothing listens there
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(_site(down))
    allow = stack.root / "allow.yaml"
    allow.write_text(f"- new_target: http://127.0.0.1:{down}/*\n")
    expect = _expectations(stack.root / "expect.yaml", stack.port, down)  # right offline: the gates pass
    stop = threading.Event()

    def users() -> None:
        while not stop.is_set():
            stack.get("/v1/users")
            stack.get("/v1/orders/<b>7</b>")  # hostile text in the log, through to the HTML
            time.sleep(0.03)

    since = time.time()
    client = threading.Thread(target=users, daemon=True)
    client.start()
    try:
        done = stack.vhostguard("deploy", str(candidate), "-f", str(stack.main), "--state", str(stack.state),
                                "--watch", "20s", "--verify", str(expect), "--allow", str(allow), "--json")
        time.sleep(0.5)  # traffic after the rollback: served again
    finally:
        stop.set()
        client.join()
    assert done.returncode == 1, done.stdout + done.stderr
    deploy_id = json.loads(done.stdout)["id"]
    drafted = stack.vhostguard("postmortem", "-f", str(stack.main), "--state", str(stack.state),
                               "--since", datetime.fromtimestamp(since).astimezone().isoformat(), "--format", "json")
    assert drafted.returncode == 0, drafted.stderr
    document = json.loads(drafted.stdout)

    rows = _log_lines(stack.root / "log" / "access.log", since)
    failures = [moment for moment, status in rows if status >= 500]
    assert failures, "the bad deploy failed no request"
    first, last = min(failures), max(failures)
    between = [status for moment, status in rows if first <= moment <= last and status >= 500]
    impact = document["impact"]
    assert impact["failed"] == len(between) == len(failures)
    assert impact["requests"] == len(rows)
    assert impact["clients"] == 1
    assert document["duration_s"] == pytest.approx(last - first, abs=0.002)

    timeline = document["timeline"]
    at = {(t["source"], t["kind"], t["id"]): i for i, t in enumerate(timeline)}
    switch = at[("deploy", "switch", deploy_id)]
    failure = at[("access-log", "first-failure", "")]
    rollback = at[("deploy", "rollback", deploy_id)]
    assert switch < failure < rollback
    assert document["resolution"]["id"] == deploy_id

    top = document["causes"][0]
    assert top["deploy_id"] == deploy_id
    # the directive as httpd reads it (through the sites-enabled link), in the tree the deploy installed
    assert any("ProxyPass" in d and f"127.0.0.1:{down}" in d and "api.conf:3" in d
               for d in top["directives"]), top

    page = stack.root / "pm.html"
    html_run = stack.vhostguard("postmortem", "-f", str(stack.main), "--state", str(stack.state),
                                "--since", datetime.fromtimestamp(since).astimezone().isoformat(),
                                "--format", "html", "-o", str(page))
    assert html_run.returncode == 0, html_run.stderr
    text = page.read_text()
    assert "<b>7</b>" not in text and "&lt;b&gt;7&lt;/b&gt;" in text
