"""What every command shares: config options, loading, JSON output, and the
one place (``run``) that maps exceptions to exit codes and one-line messages."""
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
from vhostguard.routing import RequestError

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
        raise ConfigErrors(tree.errors)
    return tree


def load_model(args: ConfigArgs) -> ServerModel:
    model = build_model(load_tree(args))
    if model.errors:
        raise ConfigErrors(model.errors)
    return model


class ConfigErrors(Exception):
    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        super().__init__(f"{len(errors)} configuration errors")
        self.errors = errors


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def print_warnings(tree: ConfigTree) -> None:
    for warning in tree.warnings:
        click.echo(f"warning: {warning}", err=True)


def run(action: Callable[[], int | None]) -> None:
    """Run a command body; map problems to one-line messages and exit codes."""
    try:
        code = action()
    except ConfigErrors as problem:
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
