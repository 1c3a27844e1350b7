"""``vhostguard events``: what watch, deploy, doctor and trace recorded, on one clock; and the one
place the other commands hand their results to the event store."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import click

from vhostguard.cli.common import UsageProblem, emit_json, run
from vhostguard.cli.params import moment
from vhostguard.exitcodes import ExitCode
from vhostguard.incidents import SOURCES, Event, EventStore, EventStoreError
from vhostguard.safetext import terminal_text
from vhostguard.statedir import default_state_dir


def record(events: Callable[[], Iterable[Event]], state_dir: str | None = None) -> None:
    """Append a command's events; a store that cannot be written is said on stderr and the command's
    own result stands (a deploy that succeeded is not failed by its bookkeeping)."""
    try:
        with EventStore(state_dir or default_state_dir()) as store:
            store.append(events())
    except EventStoreError as problem:
        click.echo(f"vhostguard: events not recorded: {problem}", err=True)


@click.command()
@click.option("--since", "since", callback=moment, metavar="T", help="ISO 8601 time, or a duration back from now (2h).")
@click.option("--until", "until", callback=moment, metavar="T", help="ISO 8601 time, or a duration back from now.")
@click.option("--source", "sources", multiple=True, type=click.Choice(sorted(SOURCES)), help="Only these sources.")
@click.option("--state", "state_dir", metavar="DIR", help="The state directory (default as for deploy).")
@click.option("--json", "json_output", is_flag=True, help="The events document (docs/contract.md).")
def events(since: float | None, until: float | None, sources: tuple[str, ...], state_dir: str | None,
           json_output: bool) -> None:
    """Every recorded event in time order: alerts, deploys, diagnoses, traces."""

    def action() -> int:
        try:
            with EventStore(state_dir or default_state_dir(), retention_s=None) as store:
                found = store.events(since, until, sources)
        except EventStoreError as problem:
            raise UsageProblem(str(problem)) from None
        if json_output:
            emit_json({"schema": 1, "events": [event.to_json() for event in found]})
            return int(ExitCode.OK)
        if not found:
            click.echo("no events recorded in that window")
        for event in found:
            click.echo(terminal_text(f"{event.time}  {event.source:<6} {event.kind:<18} {event.id}  {_gist(event)}"))
        return int(ExitCode.OK)

    run(action)


def _gist(event: Event) -> str:
    """The one detail worth a column: a finding's summary, a gate's verdict, an alert's endpoint."""
    data = event.data
    for key in ("summary", "top", "detail", "reason", "outcome"):
        value = data.get(key)
        if value:
            prefix = f"{data['name']} {data.get('status')}: " if key == "detail" and "name" in data else ""
            return prefix + str(value)
    return json.dumps(dict(data), ensure_ascii=False, default=str)[:160]
