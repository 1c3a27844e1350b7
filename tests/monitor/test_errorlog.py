"""Error-log lines as httpd 2.4 writes them, and the evidence picked for an alert."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from vhostguard.config import LoadOptions, load
from vhostguard.model import build_model
from vhostguard.monitor.errorlog import (
    NOT_FOUND_CAUSES, SERVER_ERROR_CAUSES, ErrorLogBook, ErrorLogTarget, entries_from_lines, find_error_logs,
    parse_error_line,
)

# Written by Debian's apache2 2.4 here: a refused backend, then one that never answers (ProxyTimeout 1).
REFUSED = (
    "[Wed Nov 25 13:51:24.963748 2026] [proxy:error] [pid 10271:tid 10275] (111)Connection refused: AH00957: "
    "http: attempt to connect to 127.0.0.1:49089 (127.0.0.1:49089) failed")
FAILED = (
    "[Wed Nov 25 13:51:24.963833 2026] [proxy_http:error] [pid 10271:tid 10275] [client 127.0.0.1:49832] AH01114: "
    "HTTP: failed to make connection to backend: 127.0.0.1, referer: http://x.example/")
TIMEOUT = (
    "[Wed Nov 25 13:51:25.966143 2026] [proxy_http:error] [pid 10272:tid 10293] (70007)The timeout specified has "
    "expired: [client 127.0.0.1:49850] AH01102: error reading status line from remote server 127.0.0.1:49089")
NOISE = (
    "[Wed Nov 25 13:51:25.475494 2026] [unixd:alert] [pid 10361:tid 10361] AH02155: getpwuid: couldn't determine "
    "user name from uid 4294967295, you probably need to modify the User directive")
NOTICE = ("[Wed Nov 25 13:51:23.470676 2026] [mpm_event:notice] [pid 10269:tid 10269] AH00489: Apache/2.4.71 "
          "(Debian) configured -- resuming normal operations")


def local(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def test_every_part_of_a_2_4_line() -> None:
    entry = parse_error_line(FAILED, "/var/log/apache2/error.log")
    assert entry.time == local("2026-11-25 13:51:24.963833")
    assert (entry.module, entry.level, entry.pid, entry.tid) == ("proxy_http", "error", 10271, "10275")
    assert (entry.client, entry.code, entry.status) == ("127.0.0.1:49832", "AH01114", None)
    assert entry.message == "HTTP: failed to make connection to backend: 127.0.0.1, referer: http://x.example/"
    assert entry.brief == "AH01114 HTTP: failed to make connection to backend: 127.0.0.1"


def test_the_apr_status_comes_before_the_client_and_the_code() -> None:
    refused = parse_error_line(REFUSED, "e")
    assert (refused.status, refused.code, refused.client) == ("(111)Connection refused", "AH00957", None)
    assert refused.brief == ("AH00957 (111)Connection refused: http: attempt to connect to 127.0.0.1:49089 "
                             "(127.0.0.1:49089) failed")
    timeout = parse_error_line(TIMEOUT, "e")
    assert (timeout.status, timeout.client, timeout.code) == (
        "(70007)The timeout specified has expired", "127.0.0.1:49850", "AH01102")


def test_other_shapes_parse_as_far_as_they_go() -> None:
    prefork = parse_error_line("[Mon Jan 01 00:00:01 2024] [core:crit] [pid 7] AH00000: x", "e")
    assert (prefork.pid, prefork.tid, prefork.level, prefork.code) == (7, None, "crit", "AH00000")
    old = parse_error_line("[Mon Jan 01 00:00:01 2024] [error] [client 10.0.0.1] File does not exist: /x", "e")
    assert (old.module, old.level, old.client, old.code) == (None, "error", "10.0.0.1", None)
    plain = parse_error_line("PHP Warning:  something in /var/www/x.php", "e")
    assert (plain.time, plain.level, plain.message) == (None, None, "PHP Warning:  something in /var/www/x.php")
    assert entries_from_lines(["", "  ", NOTICE], "e")[0].code == "AH00489"


def test_evidence_prefers_known_causes_and_drops_noise() -> None:
    book = ErrorLogBook()
    now = local("2026-11-25 13:51:30.0")
    failed_again = FAILED.replace("24.963833", "24.964598").replace(":49832]", ":49838]")
    book.add(entries_from_lines([NOTICE, REFUSED, FAILED, NOISE, REFUSED.replace("24.963748", "24.964550"),
                                 failed_again], "e"), now)
    picked = book.evidence(now - 60, now, "api.example.com", SERVER_ERROR_CAUSES, 3)
    assert [e.code for e in picked] == ["AH01114", "AH00957"]  # one line per kind, the startup noise left out
    assert picked[0].raw == failed_again  # the latest of its kind
    assert picked[1].raw.startswith("[Wed Nov 25 13:51:24.964550 2026]")
    assert book.evidence(now - 1, now, "api.example.com", SERVER_ERROR_CAUSES, 3) == []  # outside the range
    assert book.evidence(now - 60, now, "www.example.com", NOT_FOUND_CAUSES, 3) == []


def test_evidence_comes_from_the_vhost_s_own_error_log() -> None:
    book = ErrorLogBook([ErrorLogTarget("/logs/api-error.log", ("api.example.com",)), ErrorLogTarget("/logs/error.log")])
    now = local("2026-11-25 13:51:30.0")
    book.add(entries_from_lines([REFUSED], "/logs/error.log"), now)
    book.add(entries_from_lines([FAILED], "/logs/api-error.log"), now)
    assert [e.code for e in book.evidence(now - 60, now, "api.example.com", SERVER_ERROR_CAUSES, 3)] == ["AH01114"]
    assert [e.code for e in book.evidence(now - 60, now, "www.example.com", SERVER_ERROR_CAUSES, 3)] == ["AH00957"]


def test_old_entries_are_forgotten_and_untimed_ones_take_the_clock() -> None:
    book = ErrorLogBook(max_age=60)
    book.add(entries_from_lines([REFUSED], "e"), local("2026-11-25 13:51:30.0"))
    book.add(entries_from_lines(["[proxy_http:error] odd AH01114: custom format"], "e"), local("2026-11-25 14:00:00.0"))
    assert [when for when, _ in book.entries] == [local("2026-11-25 14:00:00.0")]


def test_error_logs_of_a_config(write) -> None:  # type: ignore[no-untyped-def]
    main = write("conf/httpd.conf", """
        ServerRoot /srv/httpd
        ErrorLog logs/error.log
        <VirtualHost *:80>
            ServerName api.example.com
            ErrorLog /var/log/api-error.log
        </VirtualHost>
        <VirtualHost *:80>
            ServerName www.example.com
        </VirtualHost>
        <VirtualHost *:80>
            ServerName piped.example.com
            ErrorLog "|/usr/bin/logger"
        </VirtualHost>
    """)
    tree = load(str(main), LoadOptions(env_file=""))
    targets, notes = find_error_logs(build_model(tree))
    assert targets == (ErrorLogTarget("/srv/httpd/logs/error.log"),
                       ErrorLogTarget("/var/log/api-error.log", ("api.example.com",)))
    assert len(notes) == 1 and "cannot be followed" in notes[0]


def test_a_config_without_errorlog_uses_httpd_s_default(tmp_path: Path) -> None:
    main = tmp_path / "httpd.conf"
    main.write_text("ServerName x\n")
    targets, _ = find_error_logs(build_model(load(str(main), LoadOptions(env_file=""))))
    assert targets == (ErrorLogTarget(str(tmp_path / "logs" / "error_log")),)


def test_the_failure_that_keeps_happening_ranks_first() -> None:
    # One request cut off as the backend went down, then every request refused: the refusals explain it.
    book = ErrorLogBook()
    now = local("2026-11-25 13:51:30.0")
    refusals = [REFUSED.replace("24.963748", f"25.{n:06d}") for n in range(5)]
    refusals += [FAILED.replace("24.963833", f"25.{n:06d}") for n in range(5)]
    book.add(entries_from_lines([TIMEOUT, *refusals], "e"), now)
    picked = book.evidence(now - 60, now, "api.example.com", SERVER_ERROR_CAUSES, 2)
    assert [e.code for e in picked] == ["AH01114", "AH00957"]
