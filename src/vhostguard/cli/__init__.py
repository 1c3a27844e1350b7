"""The command line: each command parses its options, calls one library
function and hands the result to a reporter. Nothing below the CLI prints.

Commands live one module per family and are registered here explicitly, by
name, in ``COMMANDS``. A command's module is imported only when that command
is looked up (run, or listed by ``--help``): importing every family costs
about 0.3 s (the checks family alone pulls in live, routing, yaml, ssl and
http.client), which ``vhostguard vhosts`` and ``--version`` would otherwise
pay on every run.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

import click

# command name -> "module:attribute" of its click command
COMMANDS: Mapping[str, str] = {
    "vhosts": "vhostguard.cli.inspect:vhosts",
    "dump": "vhostguard.cli.inspect:dump",
    "route": "vhostguard.cli.routing:route",
    "explain": "vhostguard.cli.routing:explain",
    "test": "vhostguard.cli.checks:test_command",
    "lint": "vhostguard.cli.lint:lint",
    "rules": "vhostguard.cli.lint:rules",
    "diff": "vhostguard.cli.diff:diff",
    "logs": "vhostguard.cli.logs:logs",
    "report": "vhostguard.cli.report:report",
    "watch": "vhostguard.cli.watch:watch",
    "logformat": "vhostguard.cli.logformat:logformat",
    "trace": "vhostguard.cli.diagnose:trace",
    "explain-code": "vhostguard.cli.diagnose:explain_code",
    "doctor": "vhostguard.cli.diagnose:doctor",
    "deploy": "vhostguard.cli.deploy:deploy",
    "rollback": "vhostguard.cli.deploy:rollback",
    "history": "vhostguard.cli.deploy:history",
    "events": "vhostguard.cli.events:events",
    "postmortem": "vhostguard.cli.incidents:postmortem",
    "gate": "vhostguard.cli.gate:gate",
    "drift": "vhostguard.cli.drift:drift",
    "demo": "vhostguard.cli.incidents:demo",
}


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's ``commands`` mapping that imports each command on first access.

    Names (iteration, ``in``, ``len``) come from the table without importing
    anything, so click's listing and "Did you mean" suggestions see every
    command; ``add_command`` works as on a plain dict.
    """

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)  # name -> "module:attribute", not imported yet
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module_name, _, attribute = self._table[name].partition(":")  # KeyError: no such command
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._table[name]} is not a click command")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._loaded and name not in self._table:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._table.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._table), **dict.fromkeys(self._loaded)})

    def __len__(self) -> int:
        return len(self._table.keys() | self._loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._table


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # click's version_option, plus which log engine runs (the compiled scanner is optional).
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version
    from vhostguard.logs import scan_engine
    click.echo(f"vhostguard, version {version('vhostguard')} (log engine: {scan_engine()})")
    ctx.exit()


@click.group(commands=LazyCommands(COMMANDS), context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and the log engine (c or python), then exit.")
def main() -> None:
    """Understand, audit, test and monitor Apache httpd virtual-host routing."""
