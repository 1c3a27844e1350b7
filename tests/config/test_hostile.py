"""Hostile config trees (issue 17): each reads fast to an answer or a one-line error, never a traceback."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main as cli_main
from vhostguard.config import LoadOptions, load, loader

Write = Callable[..., Path]
MACRO = "LoadModule mpm_event_module modules/mod_mpm_event.so\nLoadModule macro_module modules/mod_macro.so\n"


def opts() -> LoadOptions:
    return LoadOptions(environ={}, env_file="")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stderr


def test_thousand_nested_ifmodule_read_as_apache2_reads_them(write: Write) -> None:
    # apache2 -t: Syntax OK.
    depth = 1000
    main = write("main.conf", "<IfModule !mod_nothing.c>\n" * depth + "ServerName deep.example\n" + "</IfModule>\n" * depth)
    tree = load(str(main), opts())
    assert tree.errors == ()
    node = next(tree.find("servername"))
    assert node.args == ("deep.example",) and node.source.line == depth + 1 and len(node.conditions) == depth
    code, _ = run("vhosts", "-f", str(main))
    assert code == 0


def test_thousand_nested_sections_keep_their_children(write: Write) -> None:
    depth = 1000
    # <Files> inside <Files> is accepted by apache2 -t (nested <Location> is not)
    main = write("main.conf", "<Files a>\n" * depth + "Require all denied\n" + "</Files>\n" * depth)
    tree = load(str(main), opts())
    assert tree.errors == ()
    node = tree.nodes[0]
    for _ in range(depth - 1):
        assert node.children is not None and len(node.children) == 1
        node = node.children[0]
    assert node.children is not None and node.children[0].name == "Require"


def test_six_hundred_deep_macro_chain(write: Write) -> None:
    # apache2 -t: Syntax OK.
    depth = 600
    lines = [MACRO.rstrip()]
    lines += [f"<Macro M{i}>\nUse M{i + 1}\n</Macro>" for i in range(depth)]
    lines += [f"<Macro M{depth}>\nServerName chain.example\n</Macro>", "Use M0"]
    main = write("main.conf", "\n".join(lines) + "\n")
    tree = load(str(main), opts())
    assert tree.errors == ()
    assert [n.args for n in tree.find("servername")] == [("chain.example",)]


def test_deeply_nested_include_chain_stops_at_httpds_depth(write: Write, tmp_path: Path) -> None:
    for i in range(200):
        write(f"inc/{i}.conf", f"Include {tmp_path}/inc/{i + 1}.conf\n")
    write("inc/200.conf", "ServerName never.example\n")
    main = write("main.conf", f"Include {tmp_path}/inc/0.conf\n")
    tree = load(str(main), opts())
    assert [e.message for e in tree.errors] == ["Exceeded maximum include depth of 128, There appears to be a recursion."]


@pytest.mark.parametrize("directive", ["Include", "IncludeOptional"])
def test_directory_with_two_symlinks_to_itself_stops_at_the_first_loop(directive: str, write: Write, tmp_path: Path) -> None:
    write("inc/a.conf", "ServerAlias a.example\n")
    os.symlink(".", tmp_path / "inc" / "s1")
    os.symlink(".", tmp_path / "inc" / "s2")
    main = write("main.conf", f"{directive} {tmp_path}/inc\n")
    started = time.monotonic()
    tree = load(str(main), opts())
    assert time.monotonic() - started < 5
    assert len(tree.errors) == 1
    # apache2: "Could not open configuration file .../inc/s1/s1/...: Too many levels of symbolic links"
    message = tree.errors[0].message
    assert message.startswith(f"Could not open configuration file {tmp_path}/inc/s1/s1/")
    assert message.endswith(": Too many levels of symbolic links")
    assert tree.errors[0].source is not None and tree.errors[0].source.line == 1


def test_wildcards_over_self_links_are_bounded(write: Write, tmp_path: Path) -> None:
    write("inc/a.conf", "ServerAlias a.example\n")
    for name in ("s1", "s2", "s3"):
        os.symlink(".", tmp_path / "inc" / name)
    main = write("main.conf", f"IncludeOptional {tmp_path}/inc/{'*/' * 14}*.conf\n")
    started = time.monotonic()
    tree = load(str(main), opts())
    assert time.monotonic() - started < 20
    assert len(tree.errors) == 1 and "directory entries" in tree.errors[0].message


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_device_include_is_refused_as_httpd_does(device: str, write: Write) -> None:
    main = write("main.conf", f"Listen 80\nInclude {device}\n")
    tree = load(str(main), opts())
    # apache2: AH00554: Access to file /dev/zero denied by server: not a regular file
    assert [(e.source.line, e.message) for e in tree.errors] == [  # type: ignore[union-attr]
        (2, f"Access to file {device} denied by server: not a regular file")
    ]


def test_device_or_fifo_as_main_file_exits_2(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/urandom", str(fifo)):
        code, err = run("lint", "-f", path)
        assert code == 2
        assert err.strip() == f"Access to file {path} denied by server: not a regular file"


def test_doubling_define_chain_is_capped(write: Write) -> None:
    main = write("main.conf", "Define A xxxxxxxxxxxxxxxx\n" + "Define A ${A}${A}\n" * 40 + "ServerName ${A}\n")
    started = time.monotonic()
    tree = load(str(main), opts())
    assert time.monotonic() - started < 10
    assert tree.errors and tree.errors[0].message.startswith("Line too long after ${VAR} expansion")
    code, err = run("vhosts", "-f", str(main))
    assert code == 2 and "main.conf:" in err


def test_exponential_macro_expansion_is_capped(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real cap (a million lines) takes a minute to reach; the test lowers it.
    monkeypatch.setattr(loader, "MAX_MACRO_LINES", 50_000)
    levels = 25  # 2**25 Use lines at the bottom
    lines = [MACRO.rstrip()]
    lines += [f"<Macro L{i}>\nUse L{i + 1}\nUse L{i + 1}\n</Macro>" for i in range(levels)]
    lines += [f"<Macro L{levels}>\nServerAlias x.example\n</Macro>", "Use L0"]
    main = write("main.conf", "\n".join(lines) + "\n")
    started = time.monotonic()
    tree = load(str(main), opts())
    assert time.monotonic() - started < 30
    assert len(tree.errors) == 1 and "macro expansions make more than 50000 lines" in tree.errors[0].message


def test_bom_is_part_of_the_first_word_as_in_httpd(write: Write, tmp_path: Path) -> None:
    main = tmp_path / "main.conf"
    main.write_bytes(b"\xef\xbb\xbfServerName bom.example\nListen 80\n")
    tree = load(str(main), opts())
    # apache2 -t: Invalid command '\xef\xbb\xbfServerName', perhaps misspelled or defined by a module ...
    assert [(e.source.line, e.message.split(" (")[0]) for e in tree.errors] == [  # type: ignore[union-attr]
        (1, "Invalid command '\\xef\\xbb\\xbfServerName', perhaps misspelled or defined by a module not included "
            "in the server configuration")
    ]
    code, err = run("vhosts", "-f", str(main))
    assert code == 2 and err.startswith(f"{main}:1: Invalid command")


def test_empty_config_name_is_bad_input(write: Write) -> None:
    code, err = run("lint", "-f", "")
    assert code == 2 and "-f names no file" in err
    with pytest.raises(Exception, match="main config file name is empty"):
        load("", LoadOptions(environ={}, env_file="", fail_fast=True))


def test_macro_without_mod_macro_is_an_invalid_command(write: Write) -> None:
    # apache2 -t: Invalid command '<Macro', perhaps misspelled or defined by a module not included ...
    main = write("main.conf", "<Macro VHost $n>\n<VirtualHost *:80>\nServerName $n\n</VirtualHost>\n</Macro>\n"
                              "Use VHost a.example\nListen 80\n")
    tree = load(str(main), opts())
    assert [(e.source.line, e.message.split(",")[0]) for e in tree.errors] == [  # type: ignore[union-attr]
        (1, "Invalid command '<Macro'"), (6, "Invalid command 'Use'"),
    ]
    assert list(tree.find("virtualhost")) == [] and [n.args for n in tree.find("listen")] == [("80",)]


def test_control_characters_from_the_config_are_escaped_in_messages(write: Write, tmp_path: Path) -> None:
    # Found by test_fuzz_config (seeds 100137, 100392): an escape sequence in a
    # section name reached the terminal as is.
    main = tmp_path / "main.conf"
    main.write_bytes(b"<IfModule !x.c>\n<Loc\x1b[2Jation /a>\n</Location>\n</IfModule>\nListen 80\xff\r\x00\n")
    main.write_bytes(main.read_bytes().replace(b"\x00", b""))
    code, err = run("vhosts", "-f", str(main))
    assert code == 2
    assert "\x1b" not in err and "\r" not in err
    assert f"{main}:3: Expected </Loc\\x1b[2Jation> but saw </Location>" in err


def test_empty_config_is_an_error(write: Write, tmp_path: Path) -> None:
    # Found by test_fuzz_config (seed 200272): a truncated apache2.conf crashed lint (VG308's anchor).
    main = write("main.conf", "# nothing but a comment\n")
    tree = load(str(main), opts())
    assert [(e.source.line, e.message) for e in tree.errors] == [  # type: ignore[union-attr]
        (1, "the configuration has no directive at all (empty, comments only, or all inside false conditions);"
            " httpd would not start with it")
    ]
    for command in ("lint", "vhosts"):
        code, err = run(command, "-f", str(main))
        assert code == 2 and err.startswith(f"{main}:1: the configuration has no directive")
