"""What every command shares: config options, loading, JSON output, and the
one place (``run``) that maps exceptions to exit codes and one-line messages."""
from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from itertools import islice
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from vhostguard.cli.output import OutputPathError, guarded_output, raw_stream
from vhostguard.config import ConfigError, ConfigTree, LoadOptions, find_system_config, load
from vhostguard.exitcodes import ExitCode, Terminated
from vhostguard.model import ServerModel, build_model
from vhostguard.speed import bulk_build
from vhostguard.safetext import json_safe

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(Exception):
    """Bad input that is not tied to a config line."""


@dataclass(frozen=True)
class ConfigArgs:
    config: str | None
    server_root: str | None
    defines: tuple[str, ...]
    env_file: str | None
    # --trust-env travels in the click context (see config_options), so that the
    # commands built on config_options need no parameter of their own for it.
    trust_env: bool = field(default_factory=lambda: _trust_env_given())

    def options(self) -> LoadOptions:
        defines: dict[str, str | None] = {}
        for item in self.defines:
            name, sep, value = item.partition("=")
            defines[name] = value if sep else None
        if self.trust_env and not self.env_file:
            raise UsageProblem("--trust-env needs --env-file FILE: only a file you name is run by /bin/sh")
        return LoadOptions(server_root=self.server_root, defines=defines, env_file=self.env_file, trust_env=self.trust_env)

    def main_file(self) -> str:
        if self.config is not None:
            if not self.config.strip():
                raise UsageProblem("-f names no file (an empty name); pass -f /path/to/apache2.conf")
            return self.config
        found = find_system_config()
        if found is None:
            raise UsageProblem("no Apache configuration found; pass -f /path/to/apache2.conf")
        return found


_TRUST_ENV = "vhostguard.trust_env"


def _trust_env_given() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().meta.get(_TRUST_ENV))


def _remember_trust_env(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        context.find_root().meta[_TRUST_ENV] = True


def config_options(func: F) -> F:
    """The options every command that reads a config shares (docs/contract.md)."""
    func = click.option(
        "--trust-env", "trust_env", is_flag=True, expose_value=False, callback=_remember_trust_env,
        help="Source the --env-file with /bin/sh, as apache2ctl does (it runs whatever the file says).",
    )(func)
    func = click.option(
        "--env-file", "env_file", metavar="FILE",
        help="Debian-style envvars file for ${VAR} (default: envvars beside the main file), read without running it.",
    )(func)
    func = click.option("-D", "defines", multiple=True, metavar="NAME[=VALUE]", help="Define a name, as apache2 -D.")(func)
    func = click.option("-d", "--server-root", "server_root", metavar="DIR", help="ServerRoot, as apache2 -d.")(func)
    func = click.option("-f", "--config", "config", metavar="FILE", help="Main config file, as apache2 -f.")(func)
    return func


def load_tree(args: ConfigArgs) -> ConfigTree:
    with bulk_build():
        tree = load(args.main_file(), args.options())
    if tree.errors:
        raise ConfigErrors(tree.errors)
    return tree


def load_model(args: ConfigArgs) -> ServerModel:
    with bulk_build():
        model = build_model(load_tree(args))
    if model.errors:
        raise ConfigErrors(model.errors)
    return model


class ConfigErrors(Exception):
    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        super().__init__(f"{len(errors)} configuration errors")
        self.errors = errors


def emit_json(document: Any) -> None:
    """Print ``document`` as JSON (see ``json_lines``), a batch of lines at a time."""
    lines = json_lines(document)
    # JSON escapes every control character itself: no need for the terminal guard's scan.
    out = raw_stream(sys.stdout)
    while batch := list(islice(lines, _JSON_BATCH)):
        click.echo("".join(batch), nl=False, file=out)


# Levels of a document written one item per line; anything deeper is compact.
_INDENTED_LEVELS = 2
_JSON_BATCH = 1024  # lines per write: few writes, and never the whole text in memory


def json_lines(document: Any) -> Iterator[str]:
    """``document`` as JSON text, line by line (each with its newline): the outer
    two levels indented by two spaces, each deeper value compact on its item's
    line (one vhost, one finding per line).

    Not ``json.dumps(indent=2)``: any ``indent`` selects the pure-Python encoder,
    about ten times slower than the C one, and building the whole text at once
    holds several copies of it (+20-30 MiB for 10,000 vhosts). Only the outer
    levels are written here; the C encoder writes each value below them. The
    parsed document is the same.

    Strings are encoded by ``vhostguard.safetext.json_safe``'s rule: the text is
    always valid UTF-8, an undecodable byte 0xhh travels as ``\\udchh``.
    """
    raw = json.JSONEncoder(ensure_ascii=False).encode

    def encode(value: Any) -> str:
        return json_safe(raw(value))

    return _json_lines(document, encode, 0, "", "\n")


def _json_lines(value: Any, encode: Callable[[Any], str], level: int, head: str, tail: str) -> Iterator[str]:
    """``value``'s lines at ``level``; ``head`` (its key) starts the first, ``tail`` ends the last."""
    pad = "  " * level
    if not _spread(value, level):
        yield f"{pad}{head}{encode(value)}{tail}"
        return
    last = len(value) - 1
    if isinstance(value, dict):
        yield f"{pad}{head}{{\n"
        for index, (key, item) in enumerate(value.items()):
            yield from _json_lines(item, encode, level + 1, f"{encode(key)}: ", ",\n" if index < last else "\n")
        yield f"{pad}}}{tail}"
    else:
        yield f"{pad}{head}[\n"
        for index, item in enumerate(value):
            yield from _json_lines(item, encode, level + 1, "", ",\n" if index < last else "\n")
        yield f"{pad}]{tail}"


def _spread(value: Any, level: int) -> bool:
    """Is ``value`` written one item per line (else compact on one line)?"""
    if level == _INDENTED_LEVELS or not value or not isinstance(value, (dict, list, tuple)):
        return False
    # Keys other than str are converted by json itself, in the compact form.
    return not isinstance(value, dict) or all(isinstance(key, str) for key in value)


def print_warnings(tree: ConfigTree) -> None:
    for warning in tree.warnings:
        click.echo(f"warning: {warning}", err=True)


def _is_request_error(problem: ValueError) -> bool:
    """Is this routing's RequestError? Checked without importing routing (~20 ms
    that ``vhosts`` and ``dump`` do not need): unless routing was imported, no
    RequestError can have been raised."""
    request = sys.modules.get("vhostguard.routing.request")
    return request is not None and isinstance(problem, request.RequestError)


def run(action: Callable[[], int | None]) -> None:
    """Run a command body; map problems to one-line messages and exit codes.

    Everything printed meanwhile, error messages included, goes through the
    terminal guard (``cli.output``): control characters from a config or a log
    are escaped.
    """
    with guarded_output():
        code = _outcome(action)
    sys.exit(code)


def _outcome(action: Callable[[], int | None]) -> int:
    try:
        code = _run_action(action)
    except ConfigErrors as problem:
        for error in problem.errors:
            click.echo(str(error), err=True)
        return int(ExitCode.BAD_INPUT)
    except ConfigError as problem:
        click.echo(str(problem), err=True)
        return int(ExitCode.BAD_INPUT)
    except UsageProblem as problem:
        click.echo(f"vhostguard: {problem}", err=True)
        return int(ExitCode.BAD_INPUT)
    except OutputPathError as problem:
        click.echo(f"vhostguard: {problem}", err=True)
        return int(ExitCode.BAD_INPUT)
    except ValueError as problem:
        if not _is_request_error(problem):
            return _internal_error(problem)
        click.echo(f"vhostguard: {problem}", err=True)
        return int(ExitCode.BAD_INPUT)
    except Terminated as stop:
        return stop.exit_status
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click's own: usage errors and exits are click's to report
    except Exception as problem:
        return _internal_error(problem)
    return int(code or ExitCode.OK)


def _internal_error(problem: Exception) -> int:
    """A bug of ours: one line and exit 70, never 1, which a CI job would read
    as "findings" or "changes". ``VHOSTGUARD_TRACEBACK=1`` re-raises it."""
    if os.environ.get("VHOSTGUARD_TRACEBACK"):
        raise problem
    where = ""
    if problem.__traceback__ is not None:
        frame = traceback.extract_tb(problem.__traceback__)[-1]
        where = f" at {os.path.basename(frame.filename)}:{frame.lineno}"
    click.echo(
        f"vhostguard: internal error{where}: {type(problem).__name__}: {problem}"
        " (a bug: please report it; VHOSTGUARD_TRACEBACK=1 shows the traceback)",
        err=True,
    )
    return int(ExitCode.INTERNAL_ERROR)


def _run_action(action: Callable[[], int | None]) -> int | None:
    try:
        return action()
    finally:
        gc.unfreeze()  # what bulk_build froze goes back to the collector
