"""The command line: parse options, call one library function, print its report.

Nothing below this module prints. One place (``_run``) maps exceptions to
exit codes and one-line messages.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from vhostguard.config import ConfigError, ConfigTree, LoadOptions, find_system_config, load
from vhostguard.exitcodes import ExitCode
from vhostguard.model import ServerModel, build_model
from vhostguard.report.dump import dump_text, includes_text
from vhostguard.report.route import decision_json, explain_text, route_line
from vhostguard.report.vhosts import vhosts_json, vhosts_text
from vhostguard.routing import DEFAULT_REMOTE_IP, Decision, Request, RequestError, Router

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(Exception):
    """Bad input that is not tied to a config line."""


@dataclass(frozen=True)
class ConfigArgs:
    config: str | None
    server_root: str | None
    defines: tuple[str, ...]
    env_file: str | None

    def options(self) -> LoadOptions:
        defines: dict[str, str | None] = {}
        for item in self.defines:
            name, sep, value = item.partition("=")
            defines[name] = value if sep else None
        return LoadOptions(server_root=self.server_root, defines=defines, env_file=self.env_file)

    def main_file(self) -> str:
        if self.config:
            return self.config
        found = find_system_config()
        if found is None:
            raise UsageProblem("no Apache configuration found; pass -f /path/to/apache2.conf")
        return found


def config_options(func: F) -> F:
    """The options every command that reads a config shares (CONTRACT.md)."""
    func = click.option("--env-file", "env_file", metavar="FILE", help="Shell file of exported variables for ${VAR} (default: envvars beside the main file).")(func)
    func = click.option("-D", "defines", multiple=True, metavar="NAME[=VALUE]", help="Define a name, as apache2 -D.")(func)
    func = click.option("-d", "--server-root", "server_root", metavar="DIR", help="ServerRoot, as apache2 -d.")(func)
    func = click.option("-f", "--config", "config", metavar="FILE", help="Main config file, as apache2 -f.")(func)
    return func


def load_tree(args: ConfigArgs) -> ConfigTree:
    tree = load(args.main_file(), args.options())
    if tree.errors:
        raise _ConfigErrors(tree.errors)
    return tree


def load_model(args: ConfigArgs) -> ServerModel:
    model = build_model(load_tree(args))
    if model.errors:
        raise _ConfigErrors(model.errors)
    return model


class _ConfigErrors(Exception):
    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        super().__init__(f"{len(errors)} configuration errors")
        self.errors = errors


def _emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _warnings(tree: ConfigTree) -> None:
    for warning in tree.warnings:
        click.echo(f"warning: {warning}", err=True)


def _run(action: Callable[[], int | None]) -> None:
    """Run a command body; map problems to one-line messages and exit codes."""
    try:
        code = action()
    except _ConfigErrors as problem:
        for error in problem.errors:
            click.echo(str(error), err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except ConfigError as problem:
        click.echo(str(problem), err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except (UsageProblem, RequestError) as problem:
        click.echo(f"vhostguard: {problem}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        sys.exit(ExitCode.OK)
    sys.exit(code or ExitCode.OK)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vhostguard")
def main() -> None:
    """Understand, audit, test and monitor Apache httpd virtual-host routing."""


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Machine output (CONTRACT.md schema 1).")
def vhosts(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None, as_json: bool) -> None:
    """List address sets and virtual hosts, like apache2 -S (never runs apache2)."""

    def body() -> None:
        model = load_model(ConfigArgs(config, server_root, defines, env_file))
        _warnings(model.tree)
        if as_json:
            _emit_json(vhosts_json(model))
        else:
            click.echo(vhosts_text(model), nl=False)

    _run(body)


@main.command()
@config_options
@click.option("--includes", is_flag=True, help="Print the include tree, like apache2 -t -D DUMP_INCLUDES.")
def dump(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None, includes: bool) -> None:
    """Print the effective configuration after includes, conditionals and macros."""

    def body() -> None:
        tree = load_tree(ConfigArgs(config, server_root, defines, env_file))
        _warnings(tree)
        click.echo(includes_text(tree) if includes else dump_text(tree), nl=False)

    _run(body)


def request_options(func: F) -> F:
    """The request options of ``route`` and ``explain`` (CONTRACT.md)."""
    func = click.option("--no-host", is_flag=True, help="Send an HTTP/1.0 request without Host.")(func)
    func = click.option("--header", "headers", multiple=True, metavar="'Name: value'", help="Request header (repeatable); Host: overrides the URL's host.")(func)
    func = click.option("--method", default="GET", show_default=True, help="Request method.")(func)
    func = click.option("--sni", metavar="NAME", help="TLS server name (https only; default: the URL's host).")(func)
    func = click.option("--remote-ip", default=DEFAULT_REMOTE_IP, show_default=True, metavar="IP", help="Client address for Require ip and %{REMOTE_ADDR}.")(func)
    func = click.option("--local-ip", metavar="IP", help="Address the connection arrived on (default: from the Listen covering the port).")(func)
    return func


def _parse_headers(headers: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    parsed = []
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageProblem(f"--header {item!r}: use 'Name: value'")
        parsed.append((name.strip(), value.strip()))
    return tuple(parsed)


def default_local_ip(model: ServerModel, port: int) -> str | None:
    """The first Listen covering the port: its IP, or None for a wildcard Listen."""
    for listen in model.listens:
        if listen.port == port:
            return listen.ip
    return None


def build_request(model: ServerModel, url: str, local_ip: str | None, remote_ip: str, sni: str | None,
                  method: str, headers: tuple[str, ...], no_host: bool) -> Request:
    request = Request.from_url(url, method=method, remote_ip=remote_ip, headers=_parse_headers(headers), sni=sni, no_host=no_host)
    if local_ip is None:
        local_ip = default_local_ip(model, request.port)
    return Request.from_url(url, method=method, local_ip=local_ip, remote_ip=remote_ip,
                            headers=_parse_headers(headers), sni=sni, no_host=no_host)


def _route_command(render: Callable[[Decision], str], name: str, help_text: str) -> None:
    @main.command(name=name, help=help_text)
    @click.argument("url")
    @config_options
    @request_options
    @click.option("--json", "as_json", is_flag=True, help="Machine output (CONTRACT.md schema 1).")
    def command(url: str, config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
                local_ip: str | None, remote_ip: str, sni: str | None, method: str, headers: tuple[str, ...],
                no_host: bool, as_json: bool) -> None:
        def body() -> None:
            model = load_model(ConfigArgs(config, server_root, defines, env_file))
            _warnings(model.tree)
            request = build_request(model, url, local_ip, remote_ip, sni, method, headers, no_host)
            decision = Router(model).route(request)
            if as_json:
                _emit_json(decision_json(decision))
            else:
                click.echo(render(decision), nl=False)

        _run(body)


_route_command(lambda d: route_line(d) + "\n", "route", "Which vhost serves URL and where the request goes (one line; never runs apache2).")
_route_command(explain_text, "explain", "Every routing step for URL with the config line responsible.")
