"""``vhostguard route`` and ``vhostguard explain``: where a request goes, and why."""
from __future__ import annotations

from collections.abc import Callable

import click

from vhostguard.cli.common import (
    ConfigArgs, UsageProblem, F, config_options, emit_json, load_model, print_warnings, run,
)
from vhostguard.model import ServerModel
from vhostguard.checks import Comparison, compare
from vhostguard.report import decision_json, explain_text, live_json, live_text, route_line
from vhostguard.routing import DEFAULT_REMOTE_IP, Decision, Request, Router, is_ip_address


def request_options(func: F) -> F:
    """The request options of ``route`` and ``explain`` (docs/contract.md)."""
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
    return model.default_local_ip(port)


def build_request(model: ServerModel, url: str, local_ip: str | None, remote_ip: str, sni: str | None,
                  method: str, headers: tuple[str, ...], no_host: bool) -> Request:
    for option, value in (("--local-ip", local_ip), ("--remote-ip", remote_ip)):
        if value is not None and not is_ip_address(value):
            raise UsageProblem(f"{option} {value!r}: not an IP address (10.0.0.5, ::1)")
    request = Request.from_url(url, method=method, remote_ip=remote_ip, headers=_parse_headers(headers), sni=sni, no_host=no_host)
    if local_ip is None:
        local_ip = default_local_ip(model, request.port)
    return Request.from_url(url, method=method, local_ip=local_ip, remote_ip=remote_ip,
                            headers=_parse_headers(headers), sni=sni, no_host=no_host)


def _live_comparison(args: ConfigArgs, request: Request, decision: Decision) -> Comparison:
    """Start a sandboxed apache2 on the same config, send the request, compare."""
    from vhostguard.live import Sandbox, SandboxError  # only --live needs the real server

    headers = list(request.headers) + ([("Host", request.host)] if request.host is not None else [])
    try:
        with Sandbox(args.main_file(), server_root=args.server_root, defines=args.options().defines,
                     env_file=args.env_file) as sandbox:
            result = sandbox.request(request.url, local_ip=request.local_ip, method=request.method,
                                     headers=headers, sni=request.sni, no_host=request.host is None,
                                     http10=request.http10)
    except SandboxError as problem:
        raise UsageProblem(f"--live: {problem}") from None
    return compare(decision, result)


def _route_command(render: Callable[[Decision], str], name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    @click.argument("url")
    @config_options
    @request_options
    @click.option("--live", is_flag=True, help="Also send the request to a sandboxed real apache2 and compare.")
    @click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
    def command(url: str, config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
                local_ip: str | None, remote_ip: str, sni: str | None, method: str, headers: tuple[str, ...],
                no_host: bool, live: bool, as_json: bool) -> None:
        def body() -> int:
            args = ConfigArgs(config, server_root, defines, env_file)
            model = load_model(args)
            print_warnings(model.tree)
            request = build_request(model, url, local_ip, remote_ip, sni, method, headers, no_host)
            decision = Router(model).route(request)
            comparison = _live_comparison(args, request, decision) if live else None
            if as_json:
                document = decision_json(decision)
                if comparison is not None:
                    document["live"] = live_json(comparison)
                emit_json(document)
            else:
                click.echo(render(decision), nl=False)
                if comparison is not None:
                    click.echo(live_text(comparison), nl=False)
            return 1 if comparison is not None and not comparison.agree else 0

        run(body)

    return command


route = _route_command(lambda d: route_line(d) + "\n", "route", "Which vhost serves URL and where the request goes (one line; never runs apache2).")
explain = _route_command(explain_text, "explain", "Every routing step for URL with the config line responsible.")
