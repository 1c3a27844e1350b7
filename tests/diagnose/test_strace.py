"""strace's line format, checked on real captures (tests/diagnose/data/*.strace).

The captures: ``event-static-proxy`` is ``strace -f -tt -T -yy -s 512 -o FILE -p``
on the child of an event-MPM apache2 (6 threads) serving a file, a missing
file behind an Alias, a proxied request, a proxied request to a closed port,
then three concurrent proxied requests; ``event-cgi-errors-shutdown`` the same
with a CGI script (clone/execve/wait4), a mode-0600 file read as www-data
(EACCES), a symlink loop (ELOOP), a 404, a refused backend and ``apache2 -k
stop`` while traced (signals, thread exits); ``stderr-pid-prefix`` is strace
writing to stderr (``[pid N]`` prefixes, "Process N attached" notes cutting
lines). Expected values below are read off the raw lines, quoted in comments.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.diagnose import Capture, parse_strace
from vhostguard.diagnose.strace import decode_fd, decode_string, sockaddr_address, split_args, strings_in

DATA = Path(__file__).parent / "data"


def capture(name: str) -> Capture:
    with open(DATA / f"{name}.strace", encoding="utf-8") as handle:
        return parse_strace(handle)


def at_line(parsed: Capture, line: int):
    found = [call for call in parsed.syscalls if call.line == line]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("name", ["event-static-proxy", "event-cgi-errors-shutdown", "stderr-pid-prefix", "event-dns"])
def test_every_real_line_is_understood(name: str) -> None:
    parsed = capture(name)
    assert parsed.malformed == 0, parsed.malformed_samples
    lines = (DATA / f"{name}.strace").read_text().splitlines()
    resumed = sum(1 for line in lines if "resumed>" in line)
    # every line is a call start, the end of one (resumed), a signal, an exit, or a note-split half
    notes = sum(1 for line in lines if line.startswith(" <unfinished ...>"))
    # a resumed half whose start was trimmed off (the stderr capture was cut) is a call of its own
    orphans = [call for call in parsed.syscalls if call.args == "" and "resumed>" in lines[call.line - 1]]
    assert len(orphans) == (1 if name == "stderr-pid-prefix" else 0)
    assert len(parsed.syscalls) + len(parsed.signals) + len(parsed.exits) == len(lines) - resumed - notes + len(orphans)


def test_plain_call_with_errno_and_decoded_fd() -> None:
    parsed = capture("event-static-proxy")
    # 24678 02:31:49.765079 openat(AT_FDCWD</>, "/.htaccess", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory) <0.000011>
    call = at_line(parsed, 21)
    assert (call.pid, call.name, call.value, call.errno, call.errno_text) == (24678, "openat", -1, "ENOENT", "No such file or directory")
    assert call.duration == pytest.approx(0.000011)
    assert call.time == pytest.approx(2 * 3600 + 31 * 60 + 49.765079)
    args = call.arg_list()
    assert decode_fd(args[0]).number is None and decode_fd(args[0]).path == "/"
    assert decode_string(args[1]).value == b"/.htaccess"
    # ... openat(AT_FDCWD</>, "/tmp/h8cap/srv/www/index.html", O_RDONLY|O_CLOEXEC) = 12</tmp/h8cap/srv/www/index.html> <0.000012>
    opened = at_line(parsed, 27)
    assert opened.value == 12 and opened.errno is None
    assert decode_fd(opened.result).path == "/tmp/h8cap/srv/www/index.html"


def test_accept_returns_a_decoded_connection() -> None:
    parsed = capture("event-static-proxy")
    # 24680 ... accept4(3<TCP:[127.0.0.1:18481]>, {... sin_port=htons(50058) ...}, [128 => 16], SOCK_CLOEXEC) = 11<TCP:[127.0.0.1:18481->127.0.0.1:50058]> <0.000020>
    call = at_line(parsed, 9)
    assert call.name == "accept4" and call.value == 11
    assert decode_fd(call.result).endpoints == ("127.0.0.1:18481", "127.0.0.1:50058")
    assert decode_fd(call.arg_list()[0]).protocol == "TCP"
    assert sockaddr_address(call.arg_list()[1]) == "127.0.0.1:50058"
    assert call.arg_list()[2:] == ["[128 => 16]", "SOCK_CLOEXEC"]


def test_unfinished_and_resumed_halves_join_across_interleaved_threads() -> None:
    parsed = capture("event-static-proxy")
    # 24678 02:31:49.778071 write(9<pipe:[47400]>, "\1", 1 <unfinished ...>
    # 24680 02:31:49.778201 <... epoll_wait resumed>[{events=EPOLLIN, ...}], 11, -1) = 1 <0.013645>
    # 24678 02:31:49.778233 <... write resumed>) = 1 <0.000059>
    write = at_line(parsed, 36)
    assert (write.pid, write.name, write.value) == (24678, "write", 1)
    assert write.time == pytest.approx(2 * 3600 + 31 * 60 + 49.778071)  # the start, not the resume
    assert write.duration == pytest.approx(0.000059)
    assert decode_string(write.arg_list()[1]).value == b"\x01"
    epoll = at_line(parsed, 12)  # 24680 02:31:49.764534 epoll_wait(7<anon_inode:[eventpoll]>,  <unfinished ...>
    assert epoll.pid == 24680 and epoll.value == 1 and epoll.arg_list()[1].startswith("[{events=EPOLLIN")
    # the order of calls is the order they started
    starts = [call.line for call in parsed.syscalls]
    assert starts == sorted(starts)


def test_concurrent_requests_each_stay_on_their_thread() -> None:
    parsed = capture("event-static-proxy")
    markers = {}
    for call in parsed.syscalls:
        if call.name == "read" and call.value and call.value > 0:
            text = decode_string(call.arg_list()[1])
            if text and b"X-Vhostguard-Trace: c" in text.value:
                marker = text.value.split(b"X-Vhostguard-Trace: ")[1][:2]
                markers[marker] = (call.pid, decode_fd(call.arg_list()[0]).endpoints)
    # 24679 ... <... read resumed>"GET /api/c3 ..." on 12<...->127.0.0.1:50102>? no: read(11<...50088>... see the file
    assert set(markers) == {b"c1", b"c2", b"c3"}
    assert len({pid for pid, _ in markers.values()}) == 3  # three worker threads
    assert markers[b"c3"][0] == 24679 and markers[b"c2"][0] == 24678


def test_nonblocking_connect_then_so_error() -> None:
    parsed = capture("event-static-proxy")
    # 24677 ... connect(12<TCP:[47678]>, {sa_family=AF_INET, sin_port=htons(18483), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress) <0.004474>
    connect = at_line(parsed, 193)
    assert connect.errno == "EINPROGRESS" and sockaddr_address(connect.arg_list()[1]) == "127.0.0.1:18483"
    # 24677 ... getsockopt(12<TCP:[47678]>, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0 <0.004734>
    check = at_line(parsed, 195)
    assert check.value == 0 and check.arg_list()[2:4] == ["SO_ERROR", "[ECONNREFUSED]"]


def test_writev_strings_and_truncation() -> None:
    parsed = capture("event-static-proxy")
    # 24678 ... writev(11<...>, [{iov_base="HTTP/1.1 200 OK\r\nDate: ...", iov_len=225}, {iov_base="hello\n", iov_len=6}], 2) = 231
    writev = at_line(parsed, 32)
    strings = strings_in(writev.args)
    assert strings[0].value.startswith(b"HTTP/1.1 200 OK\r\n") and strings[1].value == b"hello\n"
    assert not strings[0].truncated
    assert writev.value == 231
    lib = capture("stderr-pid-prefix")
    # [pid 28182] ... read(3</usr/lib/x86_64-linux-gnu/libc.so.6>, "\177ELF\2\1\1\3\0\0..."..., 832) = 832
    elf = next(call for call in lib.syscalls if call.name == "read" and "libc.so.6" in call.args)
    text = decode_string(elf.arg_list()[1])
    assert text.value.startswith(b"\x7fELF\x02\x01\x01\x03\x00") and text.truncated
    assert len(text.value) == 512 and elf.value == 832


def test_errors_on_files_from_the_second_capture() -> None:
    parsed = capture("event-cgi-errors-shutdown")
    # 25322 ... openat(AT_FDCWD</>, "/tmp/h8cap/srv2/www/secret.html", O_RDONLY|O_CLOEXEC) = -1 EACCES (Permission denied)
    assert at_line(parsed, 218).errno == "EACCES"
    # 25324 ... newfstatat(AT_FDCWD</>, "/tmp/h8cap/srv2/www/loop1", 0x7fce8ef5ba30, 0) = -1 ELOOP (Too many levels of symbolic links)
    assert at_line(parsed, 255).errno == "ELOOP"
    # close(6</tmp/h8cap/srv2/run/proxy.25318>(deleted)) = 0: an unlinked file's decoration
    closed = at_line(parsed, 69)
    assert closed.value == 0 and decode_fd(closed.args).path == "/tmp/h8cap/srv2/run/proxy.25318"


def test_process_events_signals_and_exits() -> None:
    parsed = capture("event-cgi-errors-shutdown")
    # 25324 ... clone(... <unfinished ...> / <... clone resumed>, child_tidptr=0x7fce8ef5c990) = 25406
    clone = at_line(parsed, 43)
    assert clone.name == "clone" and clone.value == 25406
    execve = at_line(parsed, 90)
    assert execve.pid == 25406 and decode_string(execve.arg_list()[0]).value == b"/tmp/h8cap/srv2/cgi/hello.sh"
    # 25406 ... exit_group(0 <unfinished ...> / <... exit_group resumed>) = ?
    leaving = at_line(parsed, 162)
    assert leaving.result == "?" and leaving.value is None
    # 25406 02:32:10.651869 +++ exited with 0 +++
    assert parsed.exits[0].pid == 25406 and parsed.exits[0].code == 0 and parsed.exits[0].killed_by is None
    # 25320 02:32:11.395027 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=25318, si_uid=0} ---
    first = parsed.signals[0]
    assert (first.pid, first.name, first.line) == (25320, "SIGTERM", 378) and "si_pid=25318" in first.detail
    assert {exit.pid for exit in parsed.exits} >= {25320, 25322, 25324}


def test_stderr_format_pid_prefixes_and_split_attach_notes() -> None:
    parsed = capture("stderr-pid-prefix")
    # 02:33:18.272740 vfork(strace: Process 28182 attached
    #  <unfinished ...>
    # [pid 28181] 02:33:18.273026 <... vfork resumed>) = 28182 <0.000273>
    vfork = at_line(parsed, 11)
    assert vfork.name == "vfork" and vfork.value == 28182
    # the first process has no prefix until others are traced; then [pid 28181]: the halves still join
    assert vfork.pid is None or vfork.pid == 28181
    cat = [call for call in parsed.syscalls if call.pid == 28182]
    assert cat[0].name == "rt_sigprocmask" and any(call.name == "execve" and call.value == 0 for call in cat)
    # [pid 28182] 02:33:18.281380 exit_group(1) = ?
    assert any(exit.pid == 28182 and exit.code == 1 for exit in parsed.exits)
    # --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=28182, ...} --- (no prefix: the shell)
    assert parsed.signals[0].name == "SIGCHLD" and parsed.signals[0].pid is None


def test_odd_lines_are_counted_not_fatal() -> None:
    lines = [
        "100 23:59:59.900000 read(3</etc/hosts>, \"a\\\"b) = 5\"..., 4) = 4 <0.000010>",
        "this is not strace output",
        "100 00:00:00.100000 nanosleep({tv_sec=1, tv_nsec=0},  <detached ...>",
        "101 00:00:00.200000 +++ killed by SIGKILL (core dumped) +++",
        "102 00:00:00.300000 poll([{fd=5, events=POLLOUT}], 1, 100) = 0 (Timeout) <0.100100>",
    ]
    parsed = parse_strace(lines)
    assert parsed.malformed == 1 and parsed.malformed_samples[0].line == 2
    read = parsed.syscalls[0]
    assert read.value == 4 and decode_string(read.arg_list()[1]).value == b'a"b) = 5'
    sleep = parsed.syscalls[1]
    assert sleep.result is None and sleep.name == "nanosleep"
    assert sleep.time is not None and read.time is not None and sleep.time > read.time  # across midnight
    assert parsed.exits[0].killed_by == "SIGKILL" and parsed.exits[0].core_dumped
    assert parsed.syscalls[2].value == 0 and parsed.syscalls[2].duration == pytest.approx(0.1001)


def test_split_args_keeps_nested_structures() -> None:
    assert split_args('3<TCP:[1.2.3.4:80->5.6.7.8:9]>, {a=1, b=[2, 3]}, "x, y", 4') == [
        "3<TCP:[1.2.3.4:80->5.6.7.8:9]>", "{a=1, b=[2, 3]}", '"x, y"', "4",
    ]


def test_results_found_past_look_alikes() -> None:
    """The result is read from the right: strings and decorations that look like one are not it."""
    parsed = parse_strace([
        '9 10:00:00.000000 openat(AT_FDCWD</>, "/srv/a) = 7", O_RDONLY) = 3</srv/a) = 7> <0.000010>',
        '9 10:00:00.000100 poll([{fd=3<TCP:[1.2.3.4:80->5.6.7.8:9]>, events=POLLOUT}], 1, 0) = 1 ([{fd=3, revents=POLLOUT}]) <0.000010>',
        "9 10:00:00.000200 exit_group(0)     = ?",
    ])
    assert parsed.malformed == 0
    opened, polled, leaving = parsed.syscalls
    assert opened.value == 3 and decode_fd(opened.result).path == "/srv/a) = 7"
    assert decode_string(opened.arg_list()[1]).value == b"/srv/a) = 7"
    assert polled.value == 1 and polled.arg_list()[1:] == ["1", "0"]
    assert leaving.result == "?" and leaving.args == "0"
