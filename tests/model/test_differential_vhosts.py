"""Differential tests: our vhost model against the real ``apache2 -t -D DUMP_VHOSTS``.

Every case writes a config into its own ``tmp_path`` (the sandbox preamble of
``tests.support.apache.base_config`` plus the case's text and extra files),
asks the installed apache2 for its vhost table, and compares:

* the address sets, as a set of address strings (httpd prints its IP hash
  table in hash order);
* per set, the default vhost (name and file:line);
* per name-based set, every vhost in order with its file:line and its
  aliases (plain aliases, then wild aliases, as httpd prints them).

A vhost expanded from a mod_macro ``Use`` is printed by httpd as
``macro 'name' (defined on line N of "F") used on line M of "F":K``; our model
keeps the ``Use`` line as the vhost id and that text in ``source.macro``.

Each case also checks a few ``model.match`` answers that follow from the
dump (which set a connection lands in, which vhost a Host picks, the default
for an unknown Host), and some cases run ``vhostguard vhosts --json`` too.

Cases that show a bug in src/ are strict xfails; the reason names the bug.
Cases whose ``found`` names a bug are regression tests for discrepancies this
file found (at commit 44a19a2) and that src/ fixed since.
``-t`` starts no server: no port has to be free.
"""
from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.apache import DumpedSet, base_config, needs_apache, parse_dump_vhosts, run_apache
from vhostguard.cli import main as cli_main
from vhostguard.config import LoadOptions, load
from vhostguard.model import Server, ServerModel, build_model
from vhostguard.model.addresses import local_host_name

pytestmark = [pytest.mark.httpd, needs_apache]

P = 18080  # ports in the configs: P, P+1, ... (nothing binds with -t)
ROOT = "@ROOT@"  # replaced by the case's tmp_path in every file


# -- the cases ------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """``model.match(ip, port, host)`` must land in dump set ``address`` (None: the
    main server) on the first vhost of that set named ``name``."""

    ip: str | None
    port: int
    host: str | None
    address: str | None
    name: str


@dataclass(frozen=True)
class Case:
    id: str
    main: str  # appended to the sandbox preamble (and "ServerName main.example" unless main_name=False)
    expect: tuple[Expect, ...]
    files: dict[str, str] = field(default_factory=dict)
    defines: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    main_name: bool = True
    xfail: str | None = None  # a bug in src/ this case still shows: strict xfail
    found: str | None = None  # a bug this case found in src/ (fixed since): kept as a regression test


def vh(addresses: str, *body: str) -> str:
    """A ``<VirtualHost>`` block."""
    inner = "".join(f"    {line}\n" for line in body)
    return f"<VirtualHost {addresses}>\n{inner}</VirtualHost>\n"


def named(addresses: str, name: str, *body: str) -> str:
    return vh(addresses, f"ServerName {name}", *body)


def _httpd_local_host_name() -> str:
    """What httpd's ``ap_get_local_host`` picks when the main server has no ServerName:
    the reverse name of the host name's address if it has a dot, else the host
    name if it has a dot, else that address as text."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    except OSError:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
        except OSError:
            return "127.0.0.1"
    ip = str(infos[0][4][0])
    try:
        reverse = socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0]
    except OSError:
        reverse = ""
    if "." in reverse:
        return reverse
    if "." in name:
        return name
    return ip


LOCAL_NAME_DIFFERS = _httpd_local_host_name() != local_host_name()

CASES: list[Case] = [
    Case(
        "name-vhosts-one-port",
        named(f"*:{P}", "first.example")
        + named(f"*:{P}", "a.example", "ServerAlias alias.example *.wild.example ?.q.example")
        + named(f"*:{P}", "b.example", "ServerAlias a.example"),
        (
            Expect(None, P, "unknown.example", f"*:{P}", "first.example"),
            Expect(None, P, None, f"*:{P}", "first.example"),
            Expect(None, P, "A.Example.", f"*:{P}", "a.example"),  # earlier name beats the later alias
            Expect(None, P, "x.y.wild.example", f"*:{P}", "a.example"),
            Expect(None, P, "z.q.example", f"*:{P}", "a.example"),
            Expect(None, P, "b.example:9999", f"*:{P}", "b.example"),
            Expect(None, P + 1, "a.example", None, "main.example"),  # no vhost on the port
        ),
    ),
    Case(
        "name-vhosts-two-ports",
        f"Listen {P + 1}\n"
        + named(f"*:{P}", "a.example")
        + named(f"*:{P + 1}", "c.example")
        + named(f"*:{P}", "b.example")
        + named(f"*:{P + 1}", "d.example"),
        (
            Expect(None, P, "d.example", f"*:{P}", "a.example"),
            Expect(None, P, "b.example", f"*:{P}", "b.example"),
            Expect(None, P + 1, "nothing", f"*:{P + 1}", "c.example"),
            Expect(None, P + 1, "d.example", f"*:{P + 1}", "d.example"),
        ),
    ),
    Case(
        "ip-vhost-hides-wildcard",
        named(f"*:{P}", "a.example")
        + named(f"*:{P}", "b.example")
        + named(f"127.0.0.2:{P}", "ip.example"),
        (
            Expect("127.0.0.2", P, "b.example", f"127.0.0.2:{P}", "ip.example"),
            Expect("127.0.0.2", P, None, f"127.0.0.2:{P}", "ip.example"),
            Expect("127.0.0.3", P, "b.example", f"*:{P}", "b.example"),
            Expect(None, P, "zzz", f"*:{P}", "a.example"),
        ),
    ),
    Case(
        "ip-name-vhosts-and-wildcard-same-port",
        named(f"127.0.0.2:{P}", "ip1.example")
        + named(f"*:{P}", "w1.example")
        + named(f"127.0.0.2:{P}", "ip2.example", "ServerAlias w1.example")
        + named(f"*:{P}", "w2.example"),
        (
            Expect("127.0.0.2", P, "w1.example", f"127.0.0.2:{P}", "ip2.example"),
            Expect("127.0.0.2", P, "w2.example", f"127.0.0.2:{P}", "ip1.example"),
            Expect("127.0.0.2", P, "ip2.example", f"127.0.0.2:{P}", "ip2.example"),
            Expect("10.1.1.1", P, "w2.example", f"*:{P}", "w2.example"),
            Expect("10.1.1.1", P, "ip2.example", f"*:{P}", "w1.example"),
        ),
    ),
    Case(
        "ip-vhost-on-other-port-does-not-hide",
        f"Listen {P + 1}\n" + named(f"127.0.0.2:{P + 1}", "ip.example") + named(f"*:{P}", "w.example"),
        (
            Expect("127.0.0.2", P, "ip.example", f"*:{P}", "w.example"),
            Expect("127.0.0.2", P + 1, "w.example", f"127.0.0.2:{P + 1}", "ip.example"),
            Expect(None, P + 1, "w.example", None, "main.example"),
        ),
    ),
    Case(
        "default-is-alias-of-star",
        named(f"_default_:{P}", "dflt.example") + named(f"*:{P}", "star.example") + named(f"_DEFAULT_:{P}", "upper.example"),
        (
            Expect(None, P, "nope", f"*:{P}", "dflt.example"),
            Expect(None, P, "star.example", f"*:{P}", "star.example"),
            Expect(None, P, "upper.example", f"*:{P}", "upper.example"),
        ),
    ),
    Case(
        "star-star-and-exact-port",
        f"Listen {P + 1}\n"
        + named("*:*", "any.example")
        + named(f"*:{P}", "exact.example")
        + named("_default_:*", "any2.example"),
        (
            Expect(None, P, "any.example", f"*:{P}", "exact.example"),  # exact port set first
            Expect(None, P + 1, "whatever", "*:*", "any.example"),
            Expect(None, P + 1, "any2.example", "*:*", "any2.example"),
        ),
    ),
    Case(
        "wildcard-port-after-exact-port",
        named(f"*:{P}", "a.example") + named("*:*", "star.example") + named(f"*:{P}", "c.example"),
        (
            Expect(None, P, "c.example", f"*:{P}", "c.example"),
            Expect(None, P, "star.example", f"*:{P}", "a.example"),
            Expect(None, 9, "c.example", "*:*", "star.example"),
        ),
    ),
    Case(
        "ip-star-port",
        f"Listen {P + 1}\n"
        + named("127.0.0.2:*", "ipany.example")
        + named(f"127.0.0.2:{P}", "ip80.example")
        + named("127.0.0.2:*", "ipany2.example")
        + named(f"*:{P + 1}", "w.example"),
        (
            Expect("127.0.0.2", P, "ipany.example", f"127.0.0.2:{P}", "ip80.example"),
            Expect("127.0.0.2", P + 1, "w.example", "127.0.0.2:*", "ipany.example"),
            Expect("127.0.0.2", P + 1, "ipany2.example", "127.0.0.2:*", "ipany2.example"),
            Expect("127.0.0.3", P + 1, "ipany.example", f"*:{P + 1}", "w.example"),
        ),
    ),
    Case(
        "no-port-no-main-port",
        named("*", "star.example")
        + named("_default_", "dflt.example")
        + named("127.0.0.2", "ip.example")
        + named(f"*:{P}", "p.example"),
        (
            Expect("127.0.0.2", 1234, None, "127.0.0.2:*", "ip.example"),
            Expect(None, 1234, "dflt.example", "*:*", "dflt.example"),
            Expect(None, P, "dflt.example", f"*:{P}", "p.example"),
        ),
    ),
    Case(
        "no-port-takes-main-servername-port",
        f"ServerName main.example:{P + 9}\n"
        + named("127.0.0.2", "ip.example")
        + named("_default_", "dflt.example")
        + named(f"*:{P + 9}", "other.example"),
        (
            Expect("127.0.0.2", P + 9, "other.example", f"127.0.0.2:{P + 9}", "ip.example"),
            Expect(None, P + 9, "other.example", f"*:{P + 9}", "other.example"),
            Expect(None, P + 9, "x", f"*:{P + 9}", "dflt.example"),
            Expect("127.0.0.2", P, "x", None, "main.example"),
        ),
    ),
    Case(
        "bare-star-ignores-main-port",
        f"ServerName main.example:{P + 9}\n" + named("*", "star.example"),
        (Expect(None, 1234, "x", "*:*", "star.example"),),
        found="bare '*' in <VirtualHost> means port '*' in httpd (get_addresses: a one-character "
        "'*' sets wild_port); addresses.parse_vhost_address gives it the main server's port",
    ),
    Case(
        "main-port-only-applies-to-later-vhosts",
        named("127.0.0.2", "before.example")
        + f"ServerName main.example:{P + 9}\n"
        + named("127.0.0.3", "after.example"),
        (
            Expect("127.0.0.2", 1234, None, "127.0.0.2:*", "before.example"),
            Expect("127.0.0.3", P + 9, None, f"127.0.0.3:{P + 9}", "after.example"),
        ),
        found="httpd takes the default port from the main server's ServerName as read so far; "
        "build._vhost uses the last main ServerName of the whole config",
    ),
    Case(
        "several-addresses-on-one-line",
        f"Listen {P + 1}\n"
        + named(f"*:{P} *:{P + 1}", "both.example")
        + named(f"*:{P}", "a.example")
        + named(f"*:{P + 1} 127.0.0.2:{P}", "mixed.example")
        + named(f"127.0.0.2:{P}", "ip.example"),
        (
            Expect(None, P + 1, "a.example", f"*:{P + 1}", "both.example"),
            Expect(None, P + 1, "mixed.example", f"*:{P + 1}", "mixed.example"),
            Expect(None, P, "a.example", f"*:{P}", "a.example"),
            Expect("127.0.0.2", P, "both.example", f"127.0.0.2:{P}", "mixed.example"),
            Expect("127.0.0.2", P, "ip.example", f"127.0.0.2:{P}", "ip.example"),
        ),
    ),
    Case(
        "duplicate-addresses-on-one-line",
        named(f"*:{P} *:{P}", "dupwild.example")
        + named(f"*:{P} 127.0.0.2:{P} *:{P}", "sandwich.example")
        + named(f"127.0.0.2:{P} 127.0.0.2:{P}", "dupip.example")
        + named(f"0.0.0.0:{P} *:{P}", "zero-star.example"),
        (
            Expect(None, P, "zero-star.example", f"*:{P}", "zero-star.example"),
            Expect(None, P, "none", f"*:{P}", "dupwild.example"),
            Expect("127.0.0.2", P, "dupip.example", f"127.0.0.2:{P}", "dupip.example"),
            Expect("127.0.0.2", P, "none", f"127.0.0.2:{P}", "sandwich.example"),
        ),
    ),
    Case(
        "no-servername-wildcard-inherits-main",
        vh(f"*:{P}", "DocumentRoot /srv/a")
        + named(f"*:{P}", "b.example")
        + vh(f"_default_:{P + 1}"),
        (
            Expect(None, P, "main.example", f"*:{P}", "main.example"),
            Expect(None, P + 1, None, f"*:{P + 1}", "main.example"),
        ),
    ),
    Case(
        "no-servername-ip-reverse-dns",
        vh(f"127.0.0.2:{P}")  # no reverse name: bogus_host_without_reverse_dns
        + vh(f"127.0.0.1:{P}")  # localhost
        + vh(f"127.0.0.2:{P + 1} *:{P + 1}")  # any wildcard address: the main server's name
        + vh(f"[::1]:{P}"),
        (
            Expect("127.0.0.2", P, "x", f"127.0.0.2:{P}", "bogus_host_without_reverse_dns"),
            Expect("127.0.0.1", P, None, f"127.0.0.1:{P}", "localhost"),
            Expect(None, P + 1, None, f"*:{P + 1}", "main.example"),
            Expect("::1", P, None, f"[::1]:{P}", "bogus_host_without_reverse_dns"),
        ),
    ),
    Case(
        "no-servername-anywhere",
        vh(f"*:{P}") + named(f"*:{P}", "b.example"),
        (
            Expect(None, P, "b.example", f"*:{P}", "b.example"),
            Expect(None, P, "zzz", f"*:{P}", _httpd_local_host_name()),
        ),
        main_name=False,
        xfail=(
            f"main server without ServerName: httpd's ap_get_local_host gives {_httpd_local_host_name()!r} "
            f"(reverse name only if it has a dot, else the address), addresses.local_host_name gives "
            f"{local_host_name()!r} (socket.getfqdn)"
        )
        if LOCAL_NAME_DIFFERS
        else None,
    ),
    Case(
        "ipv6-addresses",
        named(f"[::1]:{P}", "six1.example")
        + named(f"[::1]:{P}", "six2.example")
        + named(f"[0:0::1]:{P + 1}", "six-long.example")
        + named(f"*:{P}", "w.example")
        + named("[::1]:*", "six-any.example"),
        (
            Expect("::1", P, "six2.example", f"[::1]:{P}", "six2.example"),
            Expect("::1", P, "w.example", f"[::1]:{P}", "six1.example"),
            Expect("0::1", P + 1, None, f"[::1]:{P + 1}", "six-long.example"),
            Expect("::1", 9, None, "[::1]:*", "six-any.example"),
            Expect("127.0.0.1", P, "six1.example", f"*:{P}", "w.example"),
        ),
    ),
    Case(
        "unspecified-addresses-are-wildcards",
        named(f"0.0.0.0:{P}", "v4any.example") + named(f"[::]:{P}", "v6any.example") + named(f"*:{P}", "star.example"),
        (
            Expect(None, P, "v6any.example", f"*:{P}", "v6any.example"),
            Expect("127.0.0.9", P, "q", f"*:{P}", "v4any.example"),
        ),
    ),
    Case(
        "servername-with-scheme-and-port",
        named(f"*:{P}", "https://Secure.Example:8443", "ServerAlias Alt.Example")
        + named(f"*:{P}", "http://plain.example")
        + named(f"*:{P}", "port.example:81"),
        (
            Expect(None, P, "secure.example", f"*:{P}", "Secure.Example"),
            Expect(None, P, "alt.example", f"*:{P}", "Secure.Example"),
            Expect(None, P, "plain.example", f"*:{P}", "plain.example"),
            Expect(None, P, "port.example:81", f"*:{P}", "port.example"),
        ),
    ),
    Case(
        "last-servername-wins",
        vh(f"*:{P}", "ServerName one.example", "ServerName two.example")
        + vh(f"*:{P}", "ServerName three.example", "ServerAlias one.example", "ServerName four.example"),
        (
            Expect(None, P, "one.example", f"*:{P}", "four.example"),  # first name lost, alias kept
            Expect(None, P, "two.example", f"*:{P}", "two.example"),
            Expect(None, P, "three.example", f"*:{P}", "two.example"),
        ),
    ),
    Case(
        "serveralias-spread-with-wildcards",
        named(f"*:{P}", "first.example")
        + vh(
            f"*:{P}",
            "ServerAlias *.a.example b.example",
            "ServerName s.example",
            "ServerAlias ??.c.example",
            "ServerAlias d.example *e.example F.Example",
        )
        + named(f"*:{P}", "later.example", "ServerAlias b.example x.later.example"),
        (
            Expect(None, P, "deep.sub.a.example", f"*:{P}", "s.example"),
            Expect(None, P, "xy.c.example", f"*:{P}", "s.example"),
            Expect(None, P, "xyz.c.example", f"*:{P}", "first.example"),
            Expect(None, P, "e.example", f"*:{P}", "s.example"),  # '*' matches the empty string
            Expect(None, P, "f.example", f"*:{P}", "s.example"),
            Expect(None, P, "b.example", f"*:{P}", "s.example"),
            Expect(None, P, "x.later.example", f"*:{P}", "later.example"),
        ),
    ),
    Case(
        "serveralias-continued-over-lines",
        named(f"*:{P}", "first.example")
        + f"<VirtualHost *:{P}>\n  ServerName cont.example\n  ServerAlias one.example \\\n     two.example \\\n  *.three.example\n</VirtualHost>\n",
        (
            Expect(None, P, "two.example", f"*:{P}", "cont.example"),
            Expect(None, P, "a.three.example", f"*:{P}", "cont.example"),
        ),
    ),
    Case(
        "include-glob-order",
        "Include conf.d/*.conf\n" + named(f"*:{P}", "after.example"),
        (
            Expect(None, P, "nothing", f"*:{P}", "02-a.example"),
            Expect(None, P, "upper.example", f"*:{P}", "upper.example"),
        ),
        files={
            "conf.d/10-b.conf": named(f"*:{P}", "10-b.example"),
            "conf.d/02-a.conf": named(f"*:{P}", "02-a.example"),
            "conf.d/100-c.conf": named(f"*:{P}", "100-c.example"),
            "conf.d/B.conf": named(f"*:{P}", "upper.example"),
            "conf.d/a.conf": named(f"*:{P}", "lower.example"),
            "conf.d/.hidden.conf": named(f"*:{P}", "hidden.example"),
            "conf.d/skip.conf.bak": named(f"*:{P}", "bak.example"),
        },
    ),
    Case(
        "include-directory-recursive",
        f"Include {ROOT}/sites\n",
        (
            Expect(None, P, "sub.example", f"*:{P}", "sub.example"),
            Expect(None, P, "nothing", f"*:{P}", "a.example"),
        ),
        files={
            "sites/b.conf": named(f"*:{P}", "b.example"),
            "sites/a.conf": named(f"*:{P}", "a.example"),
            "sites/sub/z.conf": named(f"*:{P}", "sub.example"),
            "sites/c.txt": named(f"127.0.0.2:{P}", "txt.example"),
            "sites/.dot.conf": named(f"127.0.0.3:{P}", "dot.example"),
            "sites/sub/.dot/y.conf": named(f"127.0.0.4:{P}", "dotdir.example"),
        },
    ),
    Case(
        "include-nested-and-glob-in-directory-part",
        "Include vhosts/*/enabled/*.conf\n",
        (
            Expect(None, P, "x", f"*:{P}", "one.example"),
            Expect(None, P, "nested.example", f"*:{P}", "nested.example"),
        ),
        files={
            "vhosts/a/enabled/one.conf": named(f"*:{P}", "one.example") + "Include vhosts/inner.inc\n",
            "vhosts/inner.inc": named(f"*:{P}", "nested.example"),
            "vhosts/b/enabled/two.conf": named(f"*:{P}", "two.example"),
            "vhosts/b/disabled/three.conf": named(f"*:{P}", "three.example"),
        },
    ),
    Case(
        "includeoptional",
        "IncludeOptional missing/*.conf\n"
        "IncludeOptional opt/*.conf\n"
        "IncludeOptional opt/none-*.conf\n"
        "IncludeOptional nowhere.conf\n" + named(f"*:{P}", "main-file.example"),
        (Expect(None, P, None, f"*:{P}", "opt.example"),),
        files={"opt/x.conf": named(f"*:{P}", "opt.example")},
    ),
    Case(
        "ifmodule-true-and-false",
        "<IfModule mod_alias.c>\n" + named(f"*:{P}", "alias-not-loaded.example") + "</IfModule>\n"
        "<IfModule authz_core_module>\n" + named(f"*:{P}", "authz.example") + "</IfModule>\n"
        "<IfModule !mod_ssl.c>\n" + named(f"*:{P}", "no-ssl.example") + "</IfModule>\n"
        "<IfModule mod_version.c>\n" + named(f"*:{P}", "version-static.example") + "</IfModule>\n"
        "<IfModule mod_headers.c>\n" + named(f"*:{P}", "headers.example") + "</IfModule>\n"
        + vh(f"*:{P}", "<IfModule mod_headers.c>", "ServerName inner-true.example", "</IfModule>",
             "<IfModule mod_rewrite.c>", "ServerAlias inner-false.example", "</IfModule>"),
        (
            Expect(None, P, "alias-not-loaded.example", f"*:{P}", "authz.example"),
            Expect(None, P, "headers.example", f"*:{P}", "headers.example"),
            Expect(None, P, "inner-true.example", f"*:{P}", "inner-true.example"),
        ),
        modules=("headers",),
    ),
    Case(
        "ifdefine-with-command-line-define",
        "<IfDefine FOO>\n" + named(f"*:{P}", "foo.example") + "</IfDefine>\n"
        "<IfDefine !FOO>\n" + named(f"*:{P}", "not-foo.example") + "</IfDefine>\n"
        "<IfDefine BAR>\n" + named(f"*:{P}", "bar.example") + "</IfDefine>\n"
        "<IfDefine !BAR>\n" + named(f"127.0.0.2:{P}", "not-bar.example")
        + "<IfDefine FOO>\n" + named(f"127.0.0.2:{P}", "foo-and-not-bar.example") + "</IfDefine>\n"
        "</IfDefine>\n",
        (
            Expect(None, P, "nothing", f"*:{P}", "foo.example"),
            Expect("127.0.0.2", P, "foo-and-not-bar.example", f"127.0.0.2:{P}", "foo-and-not-bar.example"),
        ),
        defines=("FOO",),
    ),
    Case(
        "ifversion",
        "<IfVersion >= 2.4>\n" + named(f"*:{P}", "new.example") + "</IfVersion>\n"
        "<IfVersion < 2.4>\n" + named(f"*:{P}", "old.example") + "</IfVersion>\n"
        "<IfVersion ~ ^2\\.4\\.>\n" + named(f"*:{P}", "regex.example") + "</IfVersion>\n",
        (Expect(None, P, "regex.example", f"*:{P}", "regex.example"),),
    ),
    Case(
        "define-variables-in-addresses-and-names",
        f"Define vport {P + 5}\nDefine vip 127.0.0.2\nDefine dom example.org\n"
        "Listen ${vport}\n"
        + named("*:${vport}", "www.${dom}", "ServerAlias ${dom} *.${dom}")
        + named("${vip}:${vport}", "ip.${dom}")
        + vh("*:${vport}", "Define dom example.net", "ServerName www.${dom}")
        + named("*:${vport}", "late.${dom}"),
        (
            Expect(None, P + 5, "a.example.org", f"*:{P + 5}", "www.example.org"),
            Expect(None, P + 5, "late.example.net", f"*:{P + 5}", "late.example.net"),
            Expect("127.0.0.2", P + 5, None, f"127.0.0.2:{P + 5}", "ip.example.org"),
        ),
    ),
    Case(
        "continued-virtualhost-opener",
        named(f"*:{P}", "first.example")
        + f"<VirtualHost \\\n    *:{P}>\n  ServerName two-lines.example\n</VirtualHost>\n"
        + f"<VirtualHost *:{P} \\\n   127.0.0.2:{P} \\\n   >\n  ServerName three-lines.example\n</VirtualHost>\n",
        (
            Expect(None, P, "two-lines.example", f"*:{P}", "two-lines.example"),
            Expect("127.0.0.2", P, None, f"127.0.0.2:{P}", "three-lines.example"),
        ),
    ),
    Case(
        "quoted-and-lowercase-sections",
        f'<virtualhost "*:{P}">\n  servername quoted.example\n</virtualhost>\n'
        f"<VIRTUALHOST *:{P} >\n  SERVERNAME upper.example\n  serveralias 'q.example'\n</VIRTUALHOST>\n",
        (Expect(None, P, "q.example", f"*:{P}", "upper.example"),),
    ),
    Case(
        "macro-lower-case-name",
        "<Macro site $name $port>\n<VirtualHost *:$port>\n  ServerName $name\n  ServerAlias www.$name\n</VirtualHost>\n</Macro>\n"
        + named(f"*:{P}", "plain.example")
        + f"Use site m1.example {P}\nUse site m2.example {P}\n",
        (
            Expect(None, P, "www.m2.example", f"*:{P}", "m2.example"),
            Expect(None, P, "nothing", f"*:{P}", "plain.example"),
        ),
        modules=("macro",),
    ),
    Case(
        "macro-defined-in-other-file",
        "Include macros/*.conf\n" + "Use ipsite 127.0.0.2 m.example\nUse ipsite 127.0.0.2 n.example\n",
        (Expect("127.0.0.2", P, "n.example", f"127.0.0.2:{P}", "n.example"),),
        files={
            "macros/ip.conf": f"# macros\n<Macro ipsite $ip $name>\n\n<VirtualHost \\\n  $ip:{P}>\n\n  ServerName $name\n</VirtualHost>\n</Macro>\n"
        },
        modules=("macro",),
    ),
    Case(
        "macro-upper-case-name",
        f"<Macro Site $n>\n<VirtualHost *:{P}>\n  ServerName $n\n</VirtualHost>\n</Macro>\nUse Site a.example\nUse SITE b.example\n",
        (Expect(None, P, "b.example", f"*:{P}", "b.example"),),
        modules=("macro",),
        found="mod_macro prints the macro name lower-cased (macro 'site' ...); macros.Macro.description "
        "keeps the name as written (macro 'Site' ...)",
    ),
    Case(
        "macro-body-with-comment-lines",
        f"<Macro comments $n>\n\n  # a comment\n\n<VirtualHost *:{P}>\n  ServerName $n\n</VirtualHost>\n</Macro>\nUse comments a.example\n",
        (Expect(None, P, "a.example", f"*:{P}", "a.example"),),
        modules=("macro",),
        found="mod_macro drops comment lines from a macro body (blank lines stay), so httpd numbers "
        "the vhost ':3'; macros.Macro.expand counts the comment line too (':4')",
    ),
    Case(
        "localhost-as-address",
        named(f"localhost:{P}", "lh.example")
        + named(f"127.0.0.1:{P}", "ip.example")
        + named(f"*:{P}", "w.example"),
        (
            Expect("127.0.0.1", P, "ip.example", f"127.0.0.1:{P}", "ip.example"),
            Expect("127.0.0.1", P, "w.example", f"127.0.0.1:{P}", "lh.example"),
            Expect("127.0.0.1", P, "localhost", f"127.0.0.1:{P}", "lh.example"),
        ),
    ),
    Case(
        "many-vhosts-from-generated-files",
        "IncludeOptional many/*.conf\n",
        (
            Expect(None, P, "site17.example", f"*:{P}", "site17.example"),
            Expect(None, P, "www.site03.example", f"*:{P}", "site03.example"),
            Expect(None, P, "nothing", f"*:{P}", "site00.example"),
            Expect("127.0.0.2", P, "site01.example", f"127.0.0.2:{P}", "ip00.example"),
        ),
        files={
            **{
                f"many/{i:02d}.conf": named(f"*:{P}", f"site{i:02d}.example", f"ServerAlias www.site{i:02d}.example")
                for i in range(25)
            },
            **{f"many/ip{i}.conf": named(f"127.0.0.2:{P}", f"ip{i:02d}.example") for i in range(3)},
        },
    ),
    Case(
        "wildcard-ports-everywhere",
        named("*:*", "any.example")
        + named("127.0.0.2:*", "ip-any.example")
        + named("[::1]:*", "six-any.example")
        + named("127.0.0.2:*", "ip-any2.example", "ServerAlias *.two.example"),
        (
            Expect("127.0.0.2", 5, "a.two.example", "127.0.0.2:*", "ip-any2.example"),
            Expect("127.0.0.2", 5, None, "127.0.0.2:*", "ip-any.example"),
            Expect("::1", 5, "any.example", "[::1]:*", "six-any.example"),
            Expect("127.0.0.9", 5, "ip-any.example", "*:*", "any.example"),
        ),
    ),
    Case(
        "main-servername-with-scheme",
        "ServerName http://main.example\n" + vh(f"*:{P}") + named(f"*:{P}", "b.example"),
        (Expect(None, P, "zz", f"*:{P}", "main.example"),),
        main_name=False,
    ),
    Case(
        "nested-conditionals-around-include",
        "<IfDefine SITES>\n<IfModule authz_core_module>\nInclude sites/*.conf\n</IfModule>\n</IfDefine>\n"
        "<IfDefine !SITES>\nInclude never/*.conf\n</IfDefine>\n",
        (Expect(None, P, "x", f"*:{P}", "s1.example"),),
        files={
            "sites/1.conf": named(f"*:{P}", "s1.example"),
            "sites/2.conf": "<IfDefine OTHER>\n" + named(f"*:{P}", "other.example") + "</IfDefine>\n"
            + named(f"*:{P}", "s2.example"),
        },
        defines=("SITES", "OTHER"),
    ),
    Case(
        "main-servername-after-the-vhosts",
        vh(f"*:{P}") + named(f"*:{P}", "b.example") + "ServerName early.example\nServerName late.example\n",
        (Expect(None, P, "late.example", f"*:{P}", "late.example"), Expect(None, P, "b.example", f"*:{P}", "b.example")),
        main_name=False,
    ),
    Case(
        "names-from-include-and-use-inside-vhost",
        "<Macro aliases $d>\n  ServerAlias www.$d *.$d\n</Macro>\n"
        + named(f"*:{P}", "first.example")
        + vh(f"*:{P}", "Include names/inc.conf", "ServerAlias after.example")
        + vh(f"*:{P}", "ServerName m.example", "Use aliases m.example", "ServerAlias last.example"),
        (
            Expect(None, P, "x.inc.example", f"*:{P}", "inc.example"),
            Expect(None, P, "after.example", f"*:{P}", "inc.example"),
            Expect(None, P, "www.m.example", f"*:{P}", "m.example"),
            Expect(None, P, "a.m.example", f"*:{P}", "m.example"),
        ),
        files={"names/inc.conf": "ServerName inc.example\nServerAlias *.inc.example\nServerAlias plain.inc.example\n"},
        modules=("macro",),
    ),
    Case(
        "nested-macros",
        "<Macro inner $n $p>\n<VirtualHost *:$p>\n  ServerName $n\n</VirtualHost>\n</Macro>\n"
        "<Macro outer $n>\n  Use inner $n " + str(P) + "\n  Use inner www.$n " + str(P) + "\n</Macro>\n"
        "Use outer a.example\nUse outer b.example\n",
        (Expect(None, P, "www.b.example", f"*:{P}", "www.b.example"), Expect(None, P, "c", f"*:{P}", "a.example")),
        modules=("macro",),
        found="nested Use: httpd names the outer expansion as the file of the inner Use (macro 'inner' (...) "
        "used on line 1 of \"macro 'outer' (...) used on line M of \"F\"\":1); Source.macro names the "
        "outermost Use's file and line instead (used on line M of \"F\":1)",
    ),
    Case(
        "iffile-ifdirective-ifsection-undefine",
        "Define GONE\nUndefine GONE\n"
        "<IfDefine GONE>\n" + named(f"*:{P}", "gone.example") + "</IfDefine>\n"
        f"<IfFile {ROOT}/main.conf>\n" + named(f"*:{P}", "iffile.example") + "</IfFile>\n"
        "<IfFile !/nonexistent/file>\n" + named(f"*:{P}", "iffile-not.example") + "</IfFile>\n"
        "<IfDirective ServerAlias>\n" + named(f"*:{P}", "ifdirective.example") + "</IfDirective>\n"
        "<IfDirective ProxyPass>\n" + named(f"*:{P}", "proxy.example") + "</IfDirective>\n"
        "<IfSection VirtualHost>\n" + named(f"*:{P}", "ifsection.example") + "</IfSection>\n",
        (Expect(None, P, "proxy.example", f"*:{P}", "iffile.example"),),
    ),
    Case(
        "address-spellings",
        f"Listen {P + 1}\n"
        + named(f"*:0{P}", "leading-zero.example")
        + named(f"[::ABCD]:{P}", "upper-hex.example")
        + named(f"LOCALHOST:{P + 1}", "upper-localhost.example")
        + named(f"127.000.000.002:{P}", "zero-padded.example"),
        (
            Expect(None, P, "x", f"*:{P}", "leading-zero.example"),
            Expect("::abcd", P, None, f"[::abcd]:{P}", "upper-hex.example"),
            Expect("127.0.0.1", P + 1, None, f"127.0.0.1:{P + 1}", "upper-localhost.example"),
        ),
    ),
    Case(
        "vhosts-httpd-ignores",
        named(f"nonexistent.invalid:{P}", "unresolvable.example")
        + named('""', "empty.example")
        + named(f"*:{P}", "kept.example")
        + named(f"nonexistent.invalid:{P} 127.0.0.2:{P}", "half.example"),
        (
            Expect(None, P, "unresolvable.example", f"*:{P}", "kept.example"),
            Expect("127.0.0.2", P, None, f"127.0.0.2:{P}", "half.example"),
        ),
    ),
    Case(
        "ipv4-mapped-ipv6-address",
        named(f"[::ffff:127.0.0.2]:{P}", "mapped.example") + named(f"*:{P}", "w.example"),
        (Expect("127.0.0.2", P, None, f"127.0.0.2:{P}", "mapped.example"),),
        found="APR turns an IPv4-mapped IPv6 literal into the IPv4 address (httpd prints 127.0.0.2:P and "
        "a connection to 127.0.0.2 gets the vhost); addresses.parse_vhost_address keeps [::ffff:7f00:2]:P",
    ),
    Case(
        "ipv6-without-brackets",
        named(f"::1:{P}", "v6-port.example") + named("::1", "v6-bare.example") + named(f"*:{P}", "w.example"),
        (Expect("::1", P, None, f"[::1]:{P}", "v6-port.example"),),
        found="apr_parse_addr_port takes the digits after the last ':' as the port: httpd reads '::1:P' "
        "as [::1]:P and '::1' as host ':' port 1 (unresolvable, ignored); addresses.split_host_port "
        "treats any text with two colons as a bare IPv6 host without port",
    ),
    Case(
        "main-port-tracks-servername-as-read",
        "Include name.conf\n"
        + named("127.0.0.2", "a.example")
        + named(f"127.0.0.3:{P}", f"b.example:{P + 15}")  # a vhost's ServerName port is its own
        + named("127.0.0.4", "c.example")
        + "ServerName reset.example\n"  # no port: port-less vhosts get '*' again
        + named("127.0.0.5", "d.example")
        + f"<IfDefine !NOPE>\nServerName cond.example:{P + 12}\n</IfDefine>\n"
        + named("127.0.0.6 *", "e.example"),
        (
            Expect("127.0.0.4", P + 11, None, f"127.0.0.4:{P + 11}", "c.example"),
            Expect("127.0.0.5", 7, None, "127.0.0.5:*", "d.example"),
            Expect("127.0.0.6", P + 12, None, f"127.0.0.6:{P + 12}", "e.example"),
            Expect("127.0.0.6", P + 11, None, "*:*", "e.example"),
        ),
        files={"name.conf": f"ServerName inc.example:{P + 11}\n"},
        main_name=False,
    ),
    Case(
        "ipv6-scope-id",
        named(f"[fe80::1%lo]:{P}", "scoped.example") + named(f"*:{P}", "w.example"),
        (Expect(None, P, "x", f"*:{P}", "w.example"),),  # httpd keeps the scope id: [fe80::1%lo]:P in apache2 -S
    ),
    Case(
        "non-numeric-port-is-a-hostname",
        named(f"*:{P}", "w.example") + named("*:abc", "abc.example"),
        (Expect(None, P, "abc.example", f"*:{P}", "w.example"),),
        found="httpd reads '*:abc' as the host name '*:abc' (no trailing digits, so no port), fails to "
        "resolve it and ignores the vhost (AH00547, exit 0); we report 'The address or port is invalid'",
    ),
]

CASE_BY_ID = {c.id: c for c in CASES}


# -- running one case -----------------------------------------------------------


@dataclass
class Built:
    conf: Path
    dumped: list[DumpedSet]
    model: ServerModel


def _write_case(case: Case, root: Path) -> Path:
    modules = ("mpm_event", "authz_core", *case.modules)
    text = base_config(root, modules) + f"Listen {P}\n"
    if case.main_name:
        text += "ServerName main.example\n"
    text += case.main
    for relative, body in case.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.replace(ROOT, str(root)))
    conf = root / "main.conf"
    conf.write_text(text.replace(ROOT, str(root)))
    return conf


def _apache_dump(conf: Path, defines: tuple[str, ...]) -> list[DumpedSet]:
    args = [arg for name in defines for arg in ("-D", name)]
    done = run_apache(conf, *args, "-t", "-D", "DUMP_VHOSTS")
    assert done.returncode == 0, f"apache2 rejected {conf}: {done.stderr.strip()}"
    assert "VirtualHost configuration:" in done.stdout, done.stdout
    return parse_dump_vhosts(done.stdout)


def build(case: Case, root: Path) -> Built:
    conf = _write_case(case, root)
    dumped = _apache_dump(conf, case.defines)
    tree = load(str(conf), LoadOptions(environ={}, env_file="", defines={name: None for name in case.defines}))
    assert tree.errors == (), [str(e) for e in tree.errors]
    model = build_model(tree)
    assert model.errors == (), [str(e) for e in model.errors]
    return Built(conf, dumped, model)


def where(server: Server) -> str:
    """A vhost's position as ``apache2 -S`` prints it."""
    assert server.source is not None
    if server.source.macro:
        return server.source.macro
    return f"{server.source.file}:{server.source.line}"


_MACRO_USE = re.compile(r'used on line (\d+) of "(/[^"]*)"')


def _expected_id(dump_where: str) -> str:
    """The vhost id our model must give a vhost printed at ``dump_where``: for a macro
    expansion, the ``Use`` line in a real file (the outermost one when macros nest)."""
    if not dump_where.startswith("macro '"):
        return dump_where
    uses = _MACRO_USE.findall(dump_where)
    assert uses, dump_where
    line, file = uses[-1]
    return f"{file}:{line}"


def _use_line_id(server: Server) -> str | None:
    """Our id without the ``+N`` that tells apart several vhosts of one ``Use``."""
    if server.id is None or server.source is None or not server.source.macro:
        return server.id
    return re.sub(r"\+\d+$", "", server.id)


def _by_address(dumped: list[DumpedSet]) -> dict[str, DumpedSet]:
    addresses = [d.address for d in dumped]
    assert len(addresses) == len(set(addresses)), f"httpd printed an address twice: {addresses}"
    return {d.address: d for d in dumped}


def compare_model(built: Built) -> None:
    ids = [s.id for s in built.model.vhosts]
    assert len(ids) == len(set(ids)), f"vhost ids must be unique (they key vhosts --json): {ids}"
    theirs = _by_address(built.dumped)
    ours = {aset.address: aset for aset in built.model.address_sets}
    assert len(ours) == len(built.model.address_sets), "our model has an address twice"
    assert set(ours) == set(theirs)
    for address, dset in theirs.items():
        aset = ours[address]
        assert (aset.default.server_name, where(aset.default)) == dset.default, address
        assert _use_line_id(aset.default) == _expected_id(dset.default[1]), address
        if len(dset.names) == 1:  # printed on one line: an IP-based (single) vhost, no aliases shown
            assert len(aset.servers) == 1, address
            continue
        got = [(s.server_name, where(s), list(s.all_aliases)) for s in aset.servers]
        assert got == dset.names, address
        assert [_use_line_id(s) for s in aset.servers] == [_expected_id(w) for _, w, _ in dset.names], address


def check_matches(case: Case, built: Built) -> None:
    theirs = _by_address(built.dumped)
    for expect in case.expect:
        got = built.model.match(expect.ip, expect.port, expect.host)
        label = f"{expect.ip}:{expect.port} Host {expect.host!r}"
        if expect.address is None:
            assert got.server.is_main, label
            assert got.server.server_name == expect.name, label
            continue
        dset = theirs[expect.address]
        wanted = next(((n, w) for n, w, _ in dset.names if n == expect.name), None)
        assert wanted is not None, f"{label}: the dump has no {expect.name} in {expect.address}"
        assert got.address_set is not None and got.address_set.address == expect.address, label
        assert (got.server.server_name, where(got.server)) == wanted, label


def _params(cases: list[Case]) -> list[object]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in cases
    ]


def test_at_least_thirty_distinct_configs() -> None:
    assert len(CASES) == len(CASE_BY_ID) >= 30


@pytest.mark.parametrize("case", _params(CASES))
def test_vhost_table_matches_apache(case: Case, tmp_path: Path) -> None:
    built = build(case, tmp_path)
    compare_model(built)
    check_matches(case, built)


# -- the same through `vhostguard vhosts --json` ----------------------------------

JSON_CASES = [
    "name-vhosts-one-port",
    "ip-name-vhosts-and-wildcard-same-port",
    "star-star-and-exact-port",
    "several-addresses-on-one-line",
    "include-glob-order",
    "ifdefine-with-command-line-define",
    "macro-lower-case-name",
    "ipv6-addresses",
    "main-port-tracks-servername-as-read",
    "nested-macros",
]


def _json_where(entry: dict[str, object]) -> str:
    macro = entry.get("macro")
    return str(macro) if macro else f"{entry['file']}:{entry['line']}"


def compare_json(doc: dict[str, object], dumped: list[DumpedSet]) -> None:
    theirs = _by_address(dumped)
    sets = {s["address"]: s for s in doc["address_sets"]}  # type: ignore[union-attr,index]
    vhosts = doc["vhosts"]
    assert set(sets) == set(theirs)
    for address, dset in theirs.items():
        ours = sets[address]
        default = vhosts[ours["default"]]  # type: ignore[index]
        assert (default["server_name"], _json_where(default)) == dset.default, address
        assert ours["vhosts"][0] == ours["default"], address
        listed = [(vhosts[i]["server_name"], _json_where(vhosts[i])) for i in ours["vhosts"]]  # type: ignore[index]
        assert listed == [(n, w) for n, w, _ in dset.names], address
        if len(dset.names) > 1:
            assert [vhosts[i]["aliases"] for i in ours["vhosts"]] == [a for _, _, a in dset.names], address  # type: ignore[index]


def _run_json(case: Case, conf: Path) -> dict[str, object]:
    args = ["vhosts", "-f", str(conf), "--env-file", "", "--json"]
    for name in case.defines:
        args += ["-D", name]
    result = CliRunner().invoke(cli_main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", _params([CASE_BY_ID[i] for i in JSON_CASES]))
def test_vhosts_json_matches_apache(case: Case, tmp_path: Path) -> None:
    conf = _write_case(case, tmp_path)
    compare_json(_run_json(case, conf), _apache_dump(conf, case.defines))


MACRO_TWO_VHOSTS = Case(
    "macro-two-vhosts-per-use",
    f"<macro pair $n>\n<VirtualHost *:{P}>\n  ServerName $n\n</VirtualHost>\n"
    f"<VirtualHost 127.0.0.2:{P}>\n  ServerName ip-$n\n</VirtualHost>\n</macro>\nUse pair a.example\n",
    (Expect(None, P, None, f"*:{P}", "a.example"),),
    modules=("macro",),
)


def test_macro_with_two_vhosts_model(tmp_path: Path) -> None:
    built = build(MACRO_TWO_VHOSTS, tmp_path)
    compare_model(built)
    check_matches(MACRO_TWO_VHOSTS, built)


def test_macro_with_two_vhosts_json(tmp_path: Path) -> None:
    # found at 44a19a2: one Use that expands to two <VirtualHost>s gave both the same VHOST-ID (the Use
    # line), so the 'vhosts' object of vhosts --json kept only the last one and *:P's default named the
    # wrong vhost. Ids are now unique ("file:line", then "file:line+1", ...).
    conf = _write_case(MACRO_TWO_VHOSTS, tmp_path)
    compare_json(_run_json(MACRO_TWO_VHOSTS, conf), _apache_dump(conf, ()))


# -- configs httpd refuses: we must refuse them too (same file:line) --------------

_SYNTAX_ERROR = re.compile(r"Syntax error on line (\d+) of (.*):")

# (id, config text, the bug it found if any): "xfail: ..." is a bug src/ still has (strict xfail);
# any other text is a bug found at 44a19a2 and fixed since (a regression test now).
REJECTED: list[tuple[str, str, str | None]] = [
    ("port-zero", named("*:0", "zero.example"), None),
    ("port-too-big", named("*:99999", "big.example"), None),
    ("no-address", "<VirtualHost>\n    ServerName none.example\n</VirtualHost>\n", None),
    (
        "empty-host-before-port",
        named(f":{P}", "empty.example"),
        "apr_parse_addr_port rejects ':P' (empty host): 'The address or port is invalid'; "
        "split_host_port yields host '' which fails to resolve, so we silently drop the vhost",
    ),
    (
        "nested-virtualhost",
        f"<VirtualHost *:{P}>\n    ServerName outer.example\n" + named(f"*:{P + 1}", "inner.example") + "</VirtualHost>\n",
        "httpd: '<VirtualHost> cannot occur within <VirtualHost> section'; the loader accepts the nesting",
    ),
    (
        "servername-two-arguments",
        named(f"*:{P}", "a.example b.example"),
        "httpd: 'ServerName takes one argument'; collect_names silently takes the first word",
    ),
    (
        "servername-no-argument",
        vh(f"*:{P}", "ServerName"),
        "httpd: 'ServerName takes one argument'; collect_names ignores the empty ServerName",
    ),
    ("port-only-address", named(str(P), "port.example"), None),
    ("servername-wildcard", named(f"*:{P}", "*.wild.example"), None),
    (
        "servername-ipv6-literal",
        named(f"*:{P}", "[::1]"),
        "httpd: 'Invalid ServerName \"[::1]\" use ServerAlias to set multiple server names.' (a '[' "
        "counts as a wildcard); server.py/build.py accept it",
    ),
    (
        "servername-non-numeric-port",
        named(f"*:{P}", "x.example:abc"),
        "httpd: 'The port number \"x.example:abc\" is outside the appropriate range (i.e., 1..65535).'; "
        "parse_server_name keeps 'x.example:abc' as the name",
    ),
    (
        "servername-port-out-of-range",
        named(f"*:{P}", "x.example:99999"),
        "httpd: 'The port number \"x.example:99999\" is outside the appropriate range'; we accept port 99999",
    ),
    (
        "servername-empty-port",
        named(f"*:{P}", "x.example:"),
        "httpd: 'The port number \"x.example:\" is outside the appropriate range'; "
        "parse_server_name keeps 'x.example:' as the name",
    ),
    (
        "serveralias-in-main-server",
        "ServerAlias m.example\n" + named(f"*:{P}", "a.example"),
        "httpd: 'ServerAlias only used in <VirtualHost>'; collect_names takes it as a main-server alias",
    ),
    (
        "main-servername-two-arguments",
        "ServerName one.example two.example\n" + named(f"*:{P}", "a.example"),
        "httpd: 'ServerName takes one argument' in the main server too; we accept it",
    ),
]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param(
            text,
            found,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=found[len("xfail: "):])] if found and found.startswith("xfail: ") else [],
        )
        for name, text, found in REJECTED
    ],
)
def test_config_httpd_rejects_is_an_error(text: str, found: str | None, tmp_path: Path) -> None:
    conf = tmp_path / "main.conf"
    conf.write_text(base_config(tmp_path) + f"Listen {P}\nServerName main.example\n" + text)
    done = run_apache(conf, "-t", "-D", "DUMP_VHOSTS")
    assert done.returncode != 0, f"httpd accepted it: {done.stdout}"
    where_httpd = _SYNTAX_ERROR.search(done.stderr)
    assert where_httpd is not None, done.stderr
    tree = load(str(conf), LoadOptions(environ={}, env_file=""))
    errors = tree.errors or build_model(tree).errors
    assert errors, f"we accepted what httpd rejects: {done.stderr.strip()}"
    assert errors[0].source is not None
    assert (errors[0].source.file, errors[0].source.line) == (where_httpd.group(2), int(where_httpd.group(1)))
