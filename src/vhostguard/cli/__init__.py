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
from collections.abc import Mapping
from typing import Any

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
}


class LazyGroup(click.Group):
    """A click group whose commands are named up front and imported on first lookup.

    Commands added with ``add_command`` work as in any group and take precedence.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            command = self._import(cmd_name)
            self.add_command(command, cmd_name)  # later lookups find it in self.commands
        return command

    def _import(self, cmd_name: str) -> click.Command:
        module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vhostguard")
def main() -> None:
    """Understand, audit, test and monitor Apache httpd virtual-host routing."""
