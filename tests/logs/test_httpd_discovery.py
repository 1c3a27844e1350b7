"""find_logs against the real apache2: per-server nicknames, default formats, inheritance.

httpd is the spec: each case starts apache2 on a config, sends one request
to each server and checks that the format ``find_logs`` predicts for each
file is the one httpd wrote it in.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.logs.sandbox import request, running, wait_for_lines
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.logs import LogConfig, find_logs

pytestmark = [pytest.mark.httpd, needs_apache]

CONF = r'''
Listen 127.0.0.1:{vport}
Listen 127.0.0.1:{mport}
ServerName main.test
DocumentRoot "{root}"
LogFormat "MAIN %>s" fmt
LogFormat "DEF-MAIN %>s"
CustomLog logs/shared.log fmt
TransferLog logs/transfer.log
GlobalLog logs/global.log fmt
CustomLog logs/literal.log undefined_nickname

<VirtualHost 127.0.0.1:{vport}>
    ServerName v1.test
    LogFormat "V1 %>s" fmt
</VirtualHost>
<VirtualHost 127.0.0.1:{vport}>
    ServerName v2.test
    LogFormat "V2 %>s" fmt
    LogFormat "DEF-V2 %>s"
</VirtualHost>
<VirtualHost 127.0.0.1:{vport}>
    ServerName own.test
    LogFormat "OWN %>s" fmt
    CustomLog logs/own.log fmt
</VirtualHost>
'''


@pytest.fixture(scope="module")
def written() -> Iterator[tuple[Path, LogConfig]]:
    root = Path(tempfile.mkdtemp(prefix="vhostguard-logs-discovery-"))
    root.chmod(0o755)
    try:
        vport, mport = free_port(), free_port()
        conf = root / "httpd.conf"
        conf.write_text(base_config(root) + CONF.format(vport=vport, mport=mport, root=root))
        with running(conf, vport, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}):
            for host in (b"v1.test", b"v2.test", b"own.test"):
                request(vport, b"GET / HTTP/1.1", [(b"Host", host)])
            request(mport, b"GET / HTTP/1.1", [(b"Host", b"main.test")])
            wait_for_lines(root / "logs" / "global.log", 4)
            wait_for_lines(root / "logs" / "transfer.log", 3)
        tree = load(str(conf), LoadOptions(environ={}, env_file=""))
        assert tree.errors == ()
        yield root, find_logs(tree)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _prefixes(path: Path) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in path.read_text().splitlines()}


def _predicted(layout: LogConfig, name: str) -> set[str]:
    target = next(t for t in layout.targets if t.path.endswith("/" + name))
    return {fmt.rsplit(" ", 1)[0] for fmt in target.formats}


@pytest.mark.parametrize("name", ["shared.log", "transfer.log", "global.log", "own.log", "literal.log"])
def test_predicted_formats_are_the_ones_httpd_used(written: tuple[Path, LogConfig], name: str) -> None:
    root, layout = written
    assert _prefixes(root / "logs" / name) == _predicted(layout, name)


def test_shared_main_log_takes_the_first_vhosts_nickname(written: tuple[Path, LogConfig]) -> None:
    # vhosts without logs re-resolve the shared log's nickname; the first in the file wins
    root, layout = written
    assert _prefixes(root / "logs" / "shared.log") == {"V1"}
    assert _predicted(layout, "transfer.log") == {"DEF-MAIN", "DEF-V2"}  # per request's server
    literal = next(t for t in layout.targets if t.path.endswith("/literal.log"))
    assert literal.formats == ("undefined_nickname",)  # not a nickname: httpd logs the word itself
