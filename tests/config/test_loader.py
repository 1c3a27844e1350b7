from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from vhostguard.config import ConfigError, ConfigTree, LoadOptions, load

Write = Callable[..., Path]


def names(tree: ConfigTree) -> list[str]:
    return [f"{n.name} {' '.join(n.args)}".strip() for n in tree.walk()]


def opts(**kw: object) -> LoadOptions:
    kw.setdefault("environ", {})
    kw.setdefault("env_file", "")
    return LoadOptions(**kw)  # type: ignore[arg-type]


def test_directive_names_case_insensitive_and_sources(write: Write) -> None:
    main = write("main.conf", """
        listen 80
        <virtualhost *:80>
          SERVERNAME a.example
        </VIRTUALHOST>
    """)
    tree = load(str(main), opts())
    assert tree.errors == ()
    vhost = next(tree.find("VirtualHost"))
    assert vhost.key == "virtualhost"
    assert vhost.source.line == 2 and vhost.source.file == str(main)
    assert vhost.last("ServerName").args == ("a.example",)  # type: ignore[union-attr]


def test_hash_inside_line_is_an_argument(write: Write) -> None:
    main = write("main.conf", "ServerAlias a.example #b.example\n  # a comment\n")
    tree = load(str(main), opts())
    assert names(tree) == ["ServerAlias a.example #b.example"]


def test_comment_lines_above_are_attached(write: Write) -> None:
    main = write("main.conf", "# vhostguard: ignore=VG101\n<VirtualHost *:80>\n</VirtualHost>\n")
    node = next(load(str(main), opts()).find("virtualhost"))
    assert node.comments == ("# vhostguard: ignore=VG101",)


def test_unclosed_section_names_opener(write: Write) -> None:
    main = write("main.conf", "Listen 80\n<VirtualHost *:80>\n  ServerName a\n")
    tree = load(str(main), opts())
    assert len(tree.errors) == 1
    assert tree.errors[0].source.line == 2  # type: ignore[union-attr]
    assert "never closed" in tree.errors[0].message


def test_mismatched_section_end(write: Write) -> None:
    main = write("main.conf", "<VirtualHost *:80>\n<Directory /x>\n</VirtualHost>\n</Directory>\n")
    tree = load(str(main), opts())
    assert tree.errors
    first = tree.errors[0]
    assert first.source.line == 3  # type: ignore[union-attr]
    assert "Expected </Directory> but saw </VirtualHost>" in first.message
    assert ":2" in first.message  # names the opener


def test_close_without_open(write: Write) -> None:
    tree = load(str(write("main.conf", "</VirtualHost>\n")), opts())
    assert "without matching <VirtualHost section" in tree.errors[0].message


def test_fail_fast_raises_first(write: Write) -> None:
    main = write("main.conf", "</Directory>\n</Location>\n")
    with pytest.raises(ConfigError) as caught:
        load(str(main), opts(fail_fast=True))
    assert caught.value.source.line == 1  # type: ignore[union-attr]


def test_include_relative_to_server_root_and_glob_order(write: Write, tmp_path: Path) -> None:
    write("conf.d/b.conf", "Listen 2\n")
    write("conf.d/A.conf", "Listen 1\n")
    write("conf.d/c.conf", "Listen 3\n")
    write("conf.d/.hidden.conf", "Listen 9\n")
    write("conf.d/note.txt", "Listen 8\n")
    main = write("main.conf", f"ServerRoot {tmp_path}\nInclude conf.d/*.conf\n")
    tree = load(str(main), opts())
    assert [n.args[0] for n in tree.find("listen")] == ["1", "2", "3"]
    assert [os.path.basename(f.path) for f in tree.files] == ["main.conf", "A.conf", "b.conf", "c.conf"]
    assert tree.files[1].included_from.line == 2  # type: ignore[union-attr]


def test_include_directory_reads_everything_recursively_sorted(write: Write) -> None:
    write("d/b.conf", "Listen 2\n")
    write("d/a/z.conf", "Listen 1\n")
    write("d/.dot", "Listen 3\n")
    main = write("main.conf", "Include d\n")
    tree = load(str(main), opts())
    assert [n.args[0] for n in tree.find("listen")] == ["3", "1", "2"]  # ".dot" < "a/" < "b.conf"


def test_wildcard_in_directory_component(write: Write) -> None:
    write("sites/one/site.conf", "Listen 1\n")
    write("sites/two/site.conf", "Listen 2\n")
    write("sites/file.conf", "Listen 9\n")
    main = write("main.conf", "Include sites/*/site.conf\n")
    assert [n.args[0] for n in load(str(main), opts()).find("listen")] == ["1", "2"]


def test_include_missing_file_is_error_optional_silent(write: Write) -> None:
    main = write("main.conf", "Include nope.conf\nIncludeOptional nope2.conf\nIncludeOptional none/*.conf\n")
    tree = load(str(main), opts())
    assert len(tree.errors) == 1
    assert tree.errors[0].source.line == 1  # type: ignore[union-attr]
    assert "Could not open configuration file" in tree.errors[0].message


def test_include_wildcard_matching_nothing_is_error(write: Write) -> None:
    write("conf.d/x.txt", "")
    main = write("main.conf", "Include conf.d/*.conf\n")
    tree = load(str(main), opts())
    assert "No matches for the wildcard '*.conf'" in tree.errors[0].message


def test_include_loop_detected(write: Write) -> None:
    write("a.conf", "Include b.conf\n")
    write("b.conf", "Include a.conf\n")
    main = write("main.conf", "Include a.conf\n")
    tree = load(str(main), opts())
    assert tree.errors and "include loop" in tree.errors[0].message
    assert tree.errors[0].source.file.endswith("b.conf")  # type: ignore[union-attr]


def test_binary_file_is_error(write: Write, tmp_path: Path) -> None:
    (tmp_path / "bin.conf").write_bytes(b"Listen 80\n\x00\x01\x02")
    main = write("main.conf", "Include bin.conf\n")
    tree = load(str(main), opts())
    assert tree.errors[0].source.line == 2  # type: ignore[union-attr]
    assert "NUL" in tree.errors[0].message


def test_non_utf8_bytes_survive(write: Write, tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_bytes(b"ServerAlias caf\xe9.example\n")
    tree = load(str(tmp_path / "main.conf"), opts())
    assert tree.errors == ()
    assert os.fsencode(next(tree.find("serveralias")).args[0]) == b"caf\xe9.example"


def test_define_and_variables(write: Write) -> None:
    main = write("main.conf", """
        Define SITE shop
        ServerName ${SITE}.example
        ServerAlias ${FROM_ENV} ${NOPE} ${WITH?=fallback}
        UnDefine SITE
        ServerAdmin ${SITE}
    """)
    tree = load(str(main), opts(environ={"FROM_ENV": "env.example"}))
    assert names(tree)[1] == "ServerName shop.example"
    # httpd 2.4.71 has no ${X?=default} syntax: it is an undefined variable named "WITH?=fallback"
    assert names(tree)[2] == "ServerAlias env.example ${NOPE} ${WITH?=fallback}"
    assert names(tree)[4] == "ServerAdmin ${SITE}"
    assert [w.message for w in tree.warnings] == [
        "Config variable ${NOPE} is not defined", "Config variable ${WITH?=fallback} is not defined",
        "Config variable ${SITE} is not defined",
    ]
    assert tree.warnings[0].source.line == 3  # type: ignore[union-attr]


def test_variable_value_is_split_into_words(write: Write) -> None:
    main = write("main.conf", 'Define TWO "a.example b.example"\nServerAlias ${TWO}\n')
    assert names(load(str(main), opts()))[1] == "ServerAlias a.example b.example"


def test_ifdefine_with_command_line_define_and_negation(write: Write) -> None:
    main = write("main.conf", """
        <IfDefine SSL>
          Listen 443
        </IfDefine>
        <IfDefine !SSL>
          Listen 80
          Include does-not-exist.conf
        </IfDefine>
    """)
    tree = load(str(main), opts(defines={"SSL": None}))
    assert tree.errors == ()  # the false branch is never read
    assert [(n.args[0], n.conditions) for n in tree.find("listen")] == [("443", ("IfDefine SSL",))]
    assert [n.args[0] for n in load(str(main), opts()).find("listen")] == ["80"]


def test_ifmodule_forms(write: Write) -> None:
    main = write("main.conf", """
        <IfModule mod_rewrite.c>
          Listen 1
        </IfModule>
        LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
        <IfModule mod_rewrite.c>
          Listen 2
        </IfModule>
        <IfModule rewrite_module>
          Listen 3
        </IfModule>
        <IfModule !mod_proxy.c>
          Listen 4
        </IfModule>
        <IfModule mod_log_config.c>
          Listen 5
        </IfModule>
        <IfModule mod_rewrite>
          Listen 6
        </IfModule>
    """)
    assert [n.args[0] for n in load(str(main), opts()).find("listen")] == ["2", "3", "4", "5"]


def test_nested_false_conditional_skips_nested_sections(write: Write) -> None:
    main = write("main.conf", """
        <IfModule mod_nothing.c>
          <IfModule mod_other.c>
            Listen 1
          </IfModule>
          <VirtualHost *:80>
          </VirtualHost>
        </IfModule>
        Listen 2
    """)
    tree = load(str(main), opts())
    assert tree.errors == ()
    assert [n.args[0] for n in tree.find("listen")] == ["2"]


def test_ifversion_iffile_ifdirective_ifsection(write: Write, tmp_path: Path) -> None:
    write("exists.txt", "")
    main = write("main.conf", """
        <IfVersion >= 2.4>
          Listen 1
        </IfVersion>
        <IfVersion < 2.4>
          Listen 2
        </IfVersion>
        <IfVersion ~ ^2\\.4>
          Listen 3
        </IfVersion>
        <IfVersion 2.2>
          Listen 4
        </IfVersion>
        <IfFile exists.txt>
          Listen 5
        </IfFile>
        <IfFile !missing.txt>
          Listen 6
        </IfFile>
        <IfDirective ServerName>
          Listen 7
        </IfDirective>
        <IfDirective RewriteRule>
          Listen 8
        </IfDirective>
        <IfSection VirtualHost>
          Listen 9
        </IfSection>
    """)
    tree = load(str(main), opts(httpd_version="2.4.71"))
    assert tree.errors == ()
    assert [n.args[0] for n in tree.find("listen")] == ["1", "3", "5", "6", "7", "9"]


def test_macro_use_undefmacro(write: Write) -> None:
    main = write("main.conf", """
        LoadModule macro_module modules/mod_macro.so
        <Macro VHost $name $port>
          <VirtualHost *:$port>
            ServerName $name
            ServerAlias www.$name
          </VirtualHost>
        </Macro>
        Use VHost a.example 80
        Use VHost "b.example" 8080
        UndefMacro VHost
        Use VHost c.example 80
        LoadModule mpm_event_module modules/mod_mpm_event.so
    """)
    tree = load(str(main), opts())
    vhosts = list(tree.find("virtualhost"))
    assert [v.args for v in vhosts] == [("*:80",), ("*:8080",)]
    assert [v.source.line for v in vhosts] == [8, 9]
    assert vhosts[0].source.macro and vhosts[0].source.macro.startswith("macro 'vhost' (defined on line 2 of")
    assert vhosts[1].last("serveralias").args == ("www.b.example",)  # type: ignore[union-attr]
    assert len(tree.errors) == 1 and "macro 'VHost' undefined" in tree.errors[0].message
    assert tree.errors[0].source.line == 11  # type: ignore[union-attr]


def test_macro_wrong_arity_and_recursion(write: Write) -> None:
    main = write("main.conf", """
        LoadModule macro_module modules/mod_macro.so
        <Macro M $a>
          Listen $a
        </Macro>
        <Macro R>
          Use R
        </Macro>
        Use M
        Use R
    """)
    messages = [e.message for e in load(str(main), opts()).errors]
    assert any("used with 0 arguments instead of 1" in m for m in messages)
    assert any("recursive use of macro 'R'" in m for m in messages)


def test_server_root_directive_changes_later_includes(write: Write, tmp_path: Path) -> None:
    write("other/x.conf", "Listen 7\n")
    main = write("main.conf", f"Include other/x.conf\nServerRoot {tmp_path / 'other'}\nInclude x.conf\n")
    tree = load(str(main), opts())
    assert [n.args[0] for n in tree.find("listen")] == ["7", "7"]
    assert tree.server_root == str(tmp_path / "other")


def test_env_file_is_sourced_by_sh(write: Write) -> None:
    env = write("envvars", """
        export APACHE_RUN_USER=www-data
        LOCAL_ONLY=1
        export APACHE_LOG_DIR=/var/log/apache2$SUFFIX
    """)
    main = write("main.conf", "User ${APACHE_RUN_USER}\nErrorLog ${APACHE_LOG_DIR}/error.log\nX ${LOCAL_ONLY}\n")
    tree = load(str(main), LoadOptions(env_file=str(env), environ={}))
    assert names(tree) == ["User www-data", "ErrorLog /var/log/apache2/error.log", "X ${LOCAL_ONLY}"]
    # envvars beside the main file is used by default
    assert names(load(str(main), LoadOptions(environ={})))[0] == "User www-data"


def test_define_inside_directory_is_rejected(write: Write) -> None:
    main = write("main.conf", "<VirtualHost *:80>\nDefine OK 1\n</VirtualHost>\n<Directory />\nDefine NO 1\n</Directory>\n")
    errors = load(str(main), opts()).errors
    assert [(e.source.line, e.message) for e in errors] == [(5, "Define is not valid in <Directory context")]  # type: ignore[union-attr]


def test_missing_main_file(tmp_path: Path) -> None:
    tree = load(str(tmp_path / "nope.conf"), opts())
    assert "Could not open configuration file" in tree.errors[0].message
