"""``vhostguard vhosts`` and ``vhostguard dump``: what httpd reads."""
from __future__ import annotations

import click

from vhostguard.cli.common import ConfigArgs, config_options, emit_json, load_model, load_tree, print_warnings, run
from vhostguard.report import dump_text, includes_text
from vhostguard.report import vhosts_json, vhosts_text


@click.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
def vhosts(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None, as_json: bool) -> None:
    """List address sets and virtual hosts, like apache2 -S (never runs apache2)."""

    def body() -> None:
        model = load_model(ConfigArgs(config, server_root, defines, env_file))
        print_warnings(model.tree)
        if as_json:
            emit_json(vhosts_json(model))
        else:
            click.echo(vhosts_text(model), nl=False)

    run(body)


@click.command()
@config_options
@click.option("--includes", is_flag=True, help="Print the include tree, like apache2 -t -D DUMP_INCLUDES.")
def dump(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None, includes: bool) -> None:
    """Print the effective configuration after includes, conditionals and macros."""

    def body() -> None:
        tree = load_tree(ConfigArgs(config, server_root, defines, env_file))
        print_warnings(tree)
        click.echo(includes_text(tree) if includes else dump_text(tree), nl=False)

    run(body)
