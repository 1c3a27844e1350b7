"""find_logs on configs: nicknames per server, defaults, inheritance, piped logs, paths (no apache2 here)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vhostguard.config import LoadOptions, load
from vhostguard.logs import CLF_FORMAT, LogConfig, find_logs

Write = Callable[..., Path]


def logs_of(write: Write, text: str) -> LogConfig:
    conf = write("conf/httpd.conf", text)
    tree = load(str(conf), LoadOptions(environ={}, env_file=""))
    assert tree.errors == ()
    return find_logs(tree)


def formats(layout: LogConfig) -> dict[str, tuple[str, ...]]:
    return {Path(t.path).name: t.formats for t in layout.targets}


def test_debian_layout(write: Write, tmp_path: Path) -> None:
    layout = logs_of(write, r'''
        ServerRoot "ROOT"
        LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" vhost_combined
        LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
        LogFormat "%h %l %u %t \"%r\" %>s %O" common
        CustomLog logs/other_vhosts_access.log vhost_combined
        <VirtualHost *:80>
            ServerName www.example.com
            CustomLog logs/access.log combined
        </VirtualHost>
        <VirtualHost *:80>
            ServerName api.example.com
            CustomLog logs/access.log combined
        </VirtualHost>
    '''.replace("ROOT", str(tmp_path)))
    assert [t.path for t in layout.targets] == [str(tmp_path / "logs/other_vhosts_access.log"), str(tmp_path / "logs/access.log")]
    access = layout.targets[1]
    assert access.formats == ('%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',)
    assert len(access.servers) == 2 and len(access.sources) == 2
    assert layout.targets[0].servers == ("main",)  # vhosts with their own log do not write the main one
    assert layout.nicknames["common"] == '%h %l %u %t "%r" %>s %O'


def test_vhost_nickname_overrides_main_and_vhost_without_logs_inherits(write: Write) -> None:
    layout = logs_of(write, r'''
        LogFormat "MAIN %h" fmt
        CustomLog /var/log/x/main.log fmt
        <VirtualHost *:80>
            ServerName a
            LogFormat "A %h" fmt
            CustomLog /var/log/x/a.log fmt
        </VirtualHost>
        <VirtualHost *:80>
            ServerName b
        </VirtualHost>
    ''')
    got = formats(layout)
    assert got["a.log"] == ("A %h",)
    assert got["main.log"] == ("MAIN %h",)
    main_log = next(t for t in layout.targets if t.path.endswith("main.log"))
    assert len(main_log.servers) == 2  # main, and vhost b which has no log of its own


def test_transfer_log_uses_each_servers_default_format(write: Write) -> None:
    layout = logs_of(write, r'''
        TransferLog /l/transfer.log
        <VirtualHost *:80>
            ServerName a
            LogFormat "A-DEFAULT %h"
        </VirtualHost>
        <VirtualHost *:80>
            ServerName b
        </VirtualHost>
    ''')
    assert formats(layout)["transfer.log"] == (CLF_FORMAT, "A-DEFAULT %h")


def test_default_format_may_itself_be_a_nickname(write: Write) -> None:
    layout = logs_of(write, r'''
        LogFormat "%h %>s" short
        LogFormat short
        TransferLog /l/t.log
    ''')
    assert formats(layout)["t.log"] == ("%h %>s",)


def test_global_log_reaches_vhosts_with_their_own_logs(write: Write) -> None:
    layout = logs_of(write, r'''
        GlobalLog /l/global.log "%h"
        <VirtualHost *:80>
            ServerName a
            CustomLog /l/a.log "%h %>s"
        </VirtualHost>
    ''')
    glob = next(t for t in layout.targets if t.path.endswith("global.log"))
    assert len(glob.servers) == 2


def test_piped_logs_are_skipped_with_a_note_and_conditions_kept(write: Write) -> None:
    layout = logs_of(write, r'''
        CustomLog "|/usr/bin/rotatelogs /l/x.%Y 86400" "%h"
        CustomLog "||/usr/bin/logger" "%h"
        CustomLog /l/cond.log "%h" env=!dontlog
        CustomLog /l/expr.log "%h" "expr=%{REQUEST_STATUS} >= 400"
    ''')
    assert [Path(t.path).name for t in layout.targets] == ["cond.log", "expr.log"]
    assert layout.targets[0].conditions == ("env=!dontlog",)
    assert layout.targets[1].conditions == ("expr=%{REQUEST_STATUS} >= 400",)
    assert len([n for n in layout.notes if "piped log skipped" in n]) == 2
    assert all(":" in n.split(" ")[0] for n in layout.notes)  # file:line first


def test_undefined_nickname_is_the_format_itself(write: Write) -> None:
    assert formats(logs_of(write, "CustomLog /l/x.log combined\n"))["x.log"] == ("combined",)


def test_clf_is_a_builtin_nickname(write: Write) -> None:
    assert formats(logs_of(write, "CustomLog /l/x.log CLF\n"))["x.log"] == (CLF_FORMAT,)


def test_relative_paths_are_server_root_relative(write: Write, tmp_path: Path) -> None:
    layout = logs_of(write, f'ServerRoot "{tmp_path}/srv"\nCustomLog logs/a.log "%h"\n')
    assert layout.targets[0].path == str(tmp_path / "srv/logs/a.log")


def test_target_for_rotated_names(write: Write) -> None:
    layout = logs_of(write, 'CustomLog /var/log/apache2/access.log "%h"\n')
    for name in ("access.log", "access.log.1", "access.log.2.gz", "access.log.12.bz2"):
        assert layout.target_for(f"/var/log/apache2/{name}") is layout.targets[0], name
    assert layout.target_for("/var/log/apache2/error.log") is None


def test_same_file_with_two_formats(write: Write) -> None:
    layout = logs_of(write, r'''
        <VirtualHost *:80>
            ServerName a
            CustomLog /l/shared.log "%h A"
        </VirtualHost>
        <VirtualHost *:80>
            ServerName b
            CustomLog /l/shared.log "%h B"
        </VirtualHost>
    ''')
    assert formats(layout)["shared.log"] == ("%h A", "%h B")
