"""envvars is read, never run, unless the user names it and trusts it (issue 17, item 1)."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main as cli_main
from vhostguard.config import ConfigError, LoadOptions, load
from vhostguard.config.envfile import read_env_file

Write = Callable[..., Path]
STOCK_ENVVARS = Path("/etc/apache2/envvars")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_main, list(args))
    return result.exit_code, result.stderr


def _tree(write: Write, envvars: str) -> Path:
    write("envvars", envvars)
    return write("apache2.conf", "ServerName ${APACHE_RUN_USER}.example\nListen 80\n")


def test_default_envvars_is_not_run_by_a_static_command(write: Write, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    conf = _tree(write, f"export APACHE_RUN_USER=www-data\ntouch {marker}\n")
    code, err = run("lint", "-f", str(conf))
    assert not marker.exists()
    assert code == 2
    assert err.strip().splitlines() == [
        f"{tmp_path / 'envvars'}:2: the command 'touch' is not supported in an environment file read without a "
        "shell (assignments, export, unset, '.', if [ ... ] are); pass --env-file FILE --trust-env to source it with /bin/sh"
    ]


def test_explicit_env_file_without_trust_is_not_run(write: Write, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    conf = _tree(write, f"X=$(touch {marker})\n")
    code, err = run("vhosts", "-f", str(conf), "--env-file", str(tmp_path / "envvars"))
    assert (code, marker.exists()) == (2, False)
    assert f"{tmp_path / 'envvars'}:1: '$(' (command substitution or arithmetic) is not supported" in err


def test_trusted_env_file_is_sourced_by_sh(write: Write, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    conf = _tree(write, f"touch {marker}\nexport APACHE_RUN_USER=$(echo web)\n")
    code, _ = run("vhosts", "-f", str(conf), "--env-file", str(tmp_path / "envvars"), "--trust-env", "--json")
    assert code == 0 and marker.exists()


def test_trust_env_needs_a_named_file(write: Write) -> None:
    conf = _tree(write, "export APACHE_RUN_USER=www-data\n")
    code, err = run("vhosts", "-f", str(conf), "--trust-env")
    assert code == 2 and "--trust-env needs --env-file FILE" in err


@pytest.mark.skipif(not STOCK_ENVVARS.is_file(), reason="Debian's apache2 is not installed")
@pytest.mark.parametrize("confdir", ["/etc/apache2", "/etc/apache2-second", "/srv/www/conf"])
def test_stock_envvars_reads_as_sh_sources_it(confdir: str) -> None:
    # The suffix logic of Debian's envvars (${APACHE_CONFDIR##/etc/apache2-}) in
    # each of its branches: what /bin/sh exports is what the reader gives.
    ours = read_env_file(str(STOCK_ENVVARS), confdir)
    assert ours == read_env_file(str(STOCK_ENVVARS), confdir, trusted=True)
    suffix = confdir.removeprefix("/etc/apache2") if confdir.startswith("/etc/apache2-") else ""
    assert ours["APACHE_LOG_DIR"] == f"/var/log/apache2{suffix}"


@pytest.mark.parametrize("script", [
    "A=1\nexport A\n",
    "export A='single $X' B=\"double $PATH\" C=plain\\ word\n",
    "X=abc; export Y=${X:-d} Z=${NOPE:-dflt} W=${NOPE-w} V=${X:+alt} U=${NOPE:+alt}\n",
    "E=\nexport A=${E:-empty} B=${E-set}\n",
    "P=/etc/apache2-x/y\nexport A=${P##*/} B=${P#*/} C=${P%/*} D=${P%%-*} E=${P##/etc/apache2-}\n",
    "export A=\"${APACHE_CONFDIR}/x\" L=${#APACHE_CONFDIR}\n",
    "if [ -n \"$APACHE_CONFDIR\" ]; then export A=yes; else export A=no; fi\n",
    "if [ \"x\" = y ] ; then\n export A=1\nelif [ 1 -lt 2 ]; then\n export A=2\nelse\n export A=3\nfi\n",
    "if [ -z \"$NOPE\" ]; then\n if [ ! -d /nonexistent ]; then export A=inner; fi\nfi\n",
    "export A=1 B=2\nunset A\nexport C=\"line\\\njoined\" D='multi\nline'\n",
    "# comment\nexport A=x # trailing comment\nexport B=a#b\n",
    "export HOME=/root A=$HOME\nunset HOME\n",
    "A=1 B=$A\nexport B\n",
])
def test_subset_reads_as_sh_sources_it(script: str, tmp_path: Path) -> None:
    path = tmp_path / "envvars"
    path.write_text(script)
    assert read_env_file(str(path)) == read_env_file(str(path), trusted=True)


@pytest.mark.parametrize(("script", "line", "what"), [
    ("export A=1\nrm -rf /\n", 2, "the command 'rm'"),
    ("A=`id`\n", 1, "'`'"),
    ("export A=1 | cat\n", 1, "'|'"),
    ("X=1 some_command\n", 1, "an assignment before a command"),
    ("for x in a; do :; done\n", 1, "'for'"),
    ("if true\nthen\n", 2, "an 'if' without its 'fi'"),
    ("export A=$1\n", 1, "'$1'"),
    ("export A=${X:=y}\n", 1, "'${X:'"),
    (". relative.sh\n", 1, "'. relative.sh' (a relative path)"),
    (". /etc/passwd\n", 1, "'. /etc/passwd' (a file outside the configuration tree)"),
    ("ulimit -n 65536\n", 1, "the command 'ulimit'"),
])
def test_unsupported_construct_named_at_its_line(script: str, line: int, what: str, tmp_path: Path) -> None:
    path = tmp_path / "envvars"
    path.write_text(script)
    with pytest.raises(ConfigError) as caught:
        read_env_file(str(path))
    assert caught.value.source is not None and (caught.value.source.file, caught.value.source.line) == (str(path), line)
    assert caught.value.message.startswith(what)
    assert "--trust-env" in caught.value.message


def test_dot_reads_a_file_inside_the_tree(write: Write, tmp_path: Path) -> None:
    write("conf.d/more.sh", "export B=from-more\n")
    env = write("envvars", 'export A=1\n. "$APACHE_CONFDIR/conf.d/more.sh"\nexport C="$B"\n')
    assert read_env_file(str(env)) == {"APACHE_CONFDIR": str(tmp_path), "A": "1", "B": "from-more", "C": "from-more"}


def test_dot_through_a_symlink_out_of_the_tree_is_refused(write: Write, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.sh").write_text("export B=1\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.sh").symlink_to(outside / "evil.sh")
    env = tree / "envvars"
    env.write_text(f". {tree}/link.sh\n")
    with pytest.raises(ConfigError, match="outside the configuration tree"):
        read_env_file(str(env))


def test_self_sourcing_file_stops(write: Write, tmp_path: Path) -> None:
    env = write("envvars", f". {tmp_path}/envvars\n")
    with pytest.raises(ConfigError, match="nests more than 16 files deep"):
        read_env_file(str(env))


def test_loader_reads_default_envvars_without_a_shell(write: Write, tmp_path: Path) -> None:
    conf = _tree(write, "if [ \"${APACHE_CONFDIR##*/}\" != x ]; then export APACHE_RUN_USER=www-data; fi\n")
    tree = load(str(conf), LoadOptions(environ={}))
    assert tree.errors == ()
    assert next(tree.find("servername")).args == ("www-data.example",)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(shutil.which("sleep") is None, reason="needs sleep(1)")
def test_trusted_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    env = tmp_path / "envvars"
    env.write_text(f"sleep 60 </dev/null >/dev/null 2>&1 &\necho $! > {pid_file}\nsleep 60 </dev/null >/dev/null 2>&1\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="took more than 1 s"):
        read_env_file(str(env), trusted=True, timeout=1)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(child)
    if alive:
        os.kill(child, 9)
    assert not alive, "the background child of the trusted shell survived the timeout"


def test_dot_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    env = tmp_path / "envvars"
    env.write_text(f". {tmp_path}/fifo\n")
    with pytest.raises(ConfigError, match="is not a regular file") as caught:
        read_env_file(str(env))
    assert caught.value.source is not None and caught.value.source.line == 1
