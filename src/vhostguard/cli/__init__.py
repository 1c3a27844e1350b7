"""The command line: each command parses its options, calls one library
function and hands the result to a reporter. Nothing below the CLI prints.

Commands live one module per family and are registered here explicitly.
"""
from __future__ import annotations

import click

from vhostguard.cli import checks, diff, inspect, routing
from vhostguard.cli import lint as lint_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vhostguard")
def main() -> None:
    """Understand, audit, test and monitor Apache httpd virtual-host routing."""


main.add_command(inspect.vhosts)
main.add_command(inspect.dump)
main.add_command(routing.route)
main.add_command(routing.explain)
main.add_command(checks.test_command)
main.add_command(lint_commands.lint)
main.add_command(lint_commands.rules)
main.add_command(diff.diff)
