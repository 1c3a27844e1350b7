"""``vhostguard watch``: follow access and error logs, alert, export Prometheus metrics (docs/contract.md, ``watch``).

Logs come from ``-f CONFIG`` (every CustomLog/GlobalLog/TransferLog and
ErrorLog, with their formats) or are given as ``LOG...``; the loop itself
is ``vhostguard.monitor.watch.Watch``. Ctrl-C stops cleanly (a final
checkpoint) and exits 130.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import click

from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, load_model, load_tree, print_warnings, run
from vhostguard.cli.logs import endpoint_patterns
from vhostguard.cli.output import check_output
from vhostguard.config import find_system_config
from vhostguard.exitcodes import ExitCode
from vhostguard.logs import LogConfig, ResolveError, find_logs, resolve_files, resolve_targets
from vhostguard.model import ServerModel, build_model
from vhostguard.logs import usable_cpus
from vhostguard.monitor import SystemClock
from vhostguard.monitor import ErrorLogTarget, find_error_logs
from vhostguard.monitor import DEFAULT_METRICS_ADDR, MetricsServer, WatchMetrics, parse_addr, registry_for
from vhostguard.monitor import DEFAULT_RULES_YAML, Rules, RulesError, load_rules
from vhostguard.monitor import AlertmanagerSink, JsonLinesSink, Sink, TerminalSink, WebhookSink
from vhostguard.monitor import StateError, default_state_dir
from vhostguard.monitor import printable
from vhostguard.monitor import FIRING, Alert
from vhostguard.incidents import Event, EventStore, EventStoreError
from vhostguard.statedir import default_state_dir as shared_state_dir
from vhostguard.monitor import AccessLog, ConfigSource, Watch, WatchOptions
from vhostguard.report import plural

SHOWN_MALFORMED = 5  # per log, in the closing summary


@dataclass(frozen=True)
class _Config:
    logs: LogConfig
    model: ServerModel


@click.command(name="watch")
@click.argument("logs", nargs=-1, metavar="[LOG]...")
@config_options
@click.option("--error-log", "error_logs", multiple=True, metavar="FILE",
              help="An error log to join to alerts (repeatable; with -f, the config's ErrorLogs are added).")
@click.option("--state", "state_dir", metavar="DIR",
              help="Where read positions and windows are checkpointed, and alerts recorded as events "
                   "(default: $XDG_STATE_HOME/vhostguard; events in the state directory deploy and postmortem read).")
@click.option("--rules", "rules_file", metavar="FILE", help="Rules YAML; see --print-rules for every setting.")
@click.option("--print-rules", is_flag=True, help="Print the default rules file, documented, and exit.")
@click.option("--metrics-addr", default=DEFAULT_METRICS_ADDR, show_default=True, metavar="HOST:PORT",
              help="Serve Prometheus metrics here ('off': none).")
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="POST alerts as JSON here (repeatable).")
@click.option("--webhook-format", type=click.Choice(["auto", "json", "slack"]), default="auto", show_default=True,
              help="Webhook body: the alert JSON, or Slack's {\"text\": ...}; auto: Slack for hooks.slack.com.")
@click.option("--alertmanager", "alertmanagers", multiple=True, metavar="URL",
              help="Alertmanager base URL; alerts go to its /api/v2/alerts (repeatable).")
@click.option("--alerts-jsonl", metavar="FILE", help="Append each alert as one JSON line to FILE.")
@click.option("--endpoints", "endpoints_file", metavar="FILE", help="Endpoint templates, one per line (they win).")
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname for every LOG.")
@click.option("--from-start", is_flag=True, help="Read what the logs already hold first (default: only new lines).")
@click.option("--once", is_flag=True, help="Read what is there, evaluate, checkpoint and exit.")
@click.option("--for", "duration", type=click.FloatRange(min=0), metavar="SECONDS", help="Stop after SECONDS.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print alerts on the terminal.")
@click.option("--max-endpoints", type=click.IntRange(min=1), default=200, show_default=True, metavar="N",
              help="Endpoints kept per vhost; rarer ones are counted as {other} (bounded metric labels).")
@click.option("-j", "--jobs", type=click.IntRange(min=1, max=2), default=None, metavar="N",
              help="Processes: 2 parses a backlog's lines in a second process (logs the compiled scanner "
                   "does not count), 1 does all in one [default: 2 when 2 CPUs are usable].")
@click.option("--gc", "gc_mode", type=click.Choice(["tuned", "default"]), default="tuned", hidden=True)
def watch(logs: tuple[str, ...], config: str | None, server_root: str | None, defines: tuple[str, ...],
          env_file: str | None, error_logs: tuple[str, ...], state_dir: str | None, rules_file: str | None,
          print_rules: bool, metrics_addr: str, webhooks: tuple[str, ...], webhook_format: str,
          alertmanagers: tuple[str, ...], alerts_jsonl: str | None, endpoints_file: str | None,
          log_format: str | None, from_start: bool, once: bool, duration: float | None, quiet: bool,
          max_endpoints: int, jobs: int | None, gc_mode: str) -> None:
    """Follow access logs (like tail -F) and alert on broken endpoints, SLO burn, moved traffic, 404 surges,
    slowdowns, and a Host served by another vhost than usual.

    LOG... are access logs; with -f CONFIG and no LOG, the logs the
    configuration writes. Alerts go to the terminal, --alerts-jsonl,
    --webhook and --alertmanager; metrics to --metrics-addr.
    """

    def body() -> int:
        if print_rules:
            click.echo(DEFAULT_RULES_YAML, nl=False)
            return ExitCode.OK
        if alerts_jsonl:
            check_output("--alerts-jsonl", alerts_jsonl, append=True)
        configured = _load_config(config, server_root, defines, env_file, logs)
        rules = _rules(rules_file, configured)
        inputs = _access_logs(logs, configured, log_format)
        targets = _error_logs(error_logs, configured)
        options = WatchOptions(rules=rules, state_dir=state_dir or default_state_dir(), from_start=from_start,
                               follow_wall=not once, endpoints=endpoint_patterns(endpoints_file), gc=gc_mode,
                               max_per_vhost=max_endpoints, jobs=jobs or min(2, usable_cpus()),
                               config=_config_source(configured, ConfigArgs(config, server_root, defines, env_file)))
        return _run(inputs, targets, options, _sinks(quiet, alerts_jsonl, webhooks, webhook_format, alertmanagers, state_dir),
                    metrics_addr, once, duration)

    run(body)


def _load_config(config: str | None, server_root: str | None, defines: tuple[str, ...],
                 env_file: str | None, files: tuple[str, ...] = ()) -> _Config | None:
    if config is None and (files or find_system_config() is None):  # no LOG, no -f: the system's, as every command
        return None
    tree = load_tree(ConfigArgs(config, server_root, defines, env_file))
    print_warnings(tree)
    layout = find_logs(tree)
    for note in layout.notes:
        click.echo(f"note: {note}", err=True)
    return _Config(layout, build_model(tree))


def _config_source(configured: _Config | None, args: ConfigArgs) -> ConfigSource | None:
    """The config for host-moved: its model now, and how to read it again when httpd reloads."""
    if configured is None:
        return None
    return ConfigSource(configured.model, lambda: load_model(args))


def _rules(path: str | None, configured: _Config | None) -> Rules:
    try:
        rules = load_rules(path)
    except OSError as problem:
        raise UsageProblem(f"--rules {path}: {problem.strerror or problem}") from None
    except RulesError as problem:
        raise UsageProblem(str(problem)) from None
    if configured is None:
        return rules
    # Misrouted requests land on the default vhost of their address set: its 404s matter most.
    return rules.with_default_vhosts(aset.default.server_name for aset in configured.model.address_sets)


def _access_logs(files: tuple[str, ...], configured: _Config | None, log_format: str | None) -> list[AccessLog]:
    """Each log with its format, as ``logs`` and ``report`` resolve them (``vhostguard.logs.resolve``)."""
    layout = configured.logs if configured else None
    if not files and layout is None:
        raise UsageProblem("give access logs to watch, or -f CONFIG to watch the logs it writes")
    if not files and layout is not None and not layout.targets:
        raise UsageProblem("the configuration writes no access log (no CustomLog, GlobalLog or TransferLog)")
    try:
        found = resolve_files(files, layout, log_format) if files or layout is None else resolve_targets(layout, log_format)
    except ResolveError as problem:
        raise UsageProblem(str(problem)) from None
    for item in found:
        if item.note and files:
            click.echo(f"note: {item.note}", err=True)
    return [AccessLog(os.path.abspath(item.path), item.parser, _vhost_of(item.path, configured)) for item in found]


def _vhost_of(path: str, configured: _Config | None) -> str | None:
    """The vhost whose requests a log holds, when exactly one vhost writes it (for formats without %v)."""
    if configured is None:
        return None
    target = configured.logs.target_for(path)
    if target is None or len(target.servers) != 1 or target.servers[0] == "main":
        return None
    server = configured.model.vhost(target.servers[0])
    return server.server_name if server is not None else None


def _error_logs(files: tuple[str, ...], configured: _Config | None) -> list[ErrorLogTarget]:
    targets: list[ErrorLogTarget] = []
    if configured is not None:
        found, notes = find_error_logs(configured.model)
        targets += found
        for note in notes:
            click.echo(f"note: {note}", err=True)
    known = {os.path.abspath(t.path) for t in targets}
    targets += [ErrorLogTarget(os.path.abspath(path)) for path in files if os.path.abspath(path) not in known]
    return targets


class EventSink:
    """Each alert transition into the event store (source ``watch``, kinds ``alert-firing`` and
    ``alert-resolved``, the alert's JSON as data), where ``events`` and ``postmortem`` read it. The
    store is opened per alert (alerts are rare; a deploy may write meanwhile); a failure is counted
    and said once, never stops the watcher."""

    name = "events"

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self._counts = {"sent": 0, "failed": 0, "dropped": 0}
        self._said = False

    def send(self, alert: Alert) -> None:
        document = alert.to_json()
        firing = alert.state == FIRING
        when = document["started"] if firing else (document["resolved"] or document["started"])
        event = Event(str(when), "watch", "alert-firing" if firing else "alert-resolved", alert.id, document)
        try:
            with EventStore(self.state_dir) as store:
                store.append([event])
        except EventStoreError as problem:
            self._counts["failed"] += 1
            if not self._said:
                click.echo(f"vhostguard: alerts not recorded as events: {problem}", err=True)
                self._said = True
            return
        self._counts["sent"] += 1

    def tick(self, wall: float, firing: Sequence[Alert]) -> None:
        """Nothing to repeat."""

    def outcomes(self) -> dict[str, int]:
        return dict(self._counts)

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued."""


def _sinks(quiet: bool, jsonl: str | None, webhooks: tuple[str, ...], style: str,
           alertmanagers: tuple[str, ...], state_dir: str | None) -> list[Sink]:
    sinks: list[Sink] = [] if quiet else [TerminalSink(sys.stdout)]
    # As `deploy --state DIR` keeps its events in DIR, `watch --state DIR` records its alerts there,
    # so `postmortem --state DIR` sees both on one clock.
    sinks.append(EventSink(state_dir or shared_state_dir()))
    if jsonl:
        sinks.append(JsonLinesSink(jsonl))
    sinks += [WebhookSink(url, style) for url in webhooks]
    sinks += [AlertmanagerSink(url, time.time) for url in alertmanagers]
    return sinks


def _serve(addr: str, metrics: WatchMetrics) -> MetricsServer | None:
    if addr.lower() in ("", "off", "none"):
        return None
    try:
        host, port = parse_addr(addr)
        return MetricsServer(registry_for(metrics), host, port)
    except (ValueError, OSError) as problem:
        if isinstance(problem, OSError) and problem.errno == errno.EADDRINUSE:
            raise UsageProblem(f"--metrics-addr {addr}: the port is in use (another vhostguard watch?); pass "
                               "--metrics-addr HOST:PORT with a free port, or --metrics-addr off") from None
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else problem
        raise UsageProblem(f"--metrics-addr {addr}: {reason}") from None


@contextmanager
def _signals(stop: threading.Event) -> Iterator[dict[str, bool]]:
    """SIGINT and SIGTERM end the loop between two steps (never in the middle of counting a chunk)."""
    seen = {"interrupted": False}

    def on_interrupt(signum: int, frame: object) -> None:
        seen["interrupted"] = True
        stop.set()

    def on_term(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGINT, on_interrupt)
        signal.signal(signal.SIGTERM, on_term)
    try:
        yield seen
    finally:
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


def _run(inputs: list[AccessLog], targets: list[ErrorLogTarget], options: WatchOptions, sinks: list[Sink],
         metrics_addr: str, once: bool, duration: float | None) -> int:
    metrics = WatchMetrics()
    stop = threading.Event()
    # The metrics port first: a second watcher on a busy port stops here, with one line, before it
    # takes a state or prints anything else.
    try:
        server = _serve(metrics_addr, metrics)
    except UsageProblem:
        for sink in sinks:
            sink.close(timeout=0)
        raise
    watcher = Watch(inputs, targets, sinks, options, SystemClock(wake=stop), metrics, report=_note)
    try:
        watcher.start()
    except StateError as problem:
        if server is not None:
            server.close()
        raise UsageProblem(str(problem)) from None
    try:
        _announce(inputs, targets, options, server)
        with _signals(stop) as seen:
            watcher.run(duration=duration, stop=stop, once=once)
    finally:
        watcher.close()
        if server is not None:
            server.close()
        code = _summarize(watcher, once)
    if seen["interrupted"]:
        return ExitCode.INTERRUPTED
    return code


def _announce(inputs: list[AccessLog], targets: list[ErrorLogTarget], options: WatchOptions,
              server: MetricsServer | None) -> None:
    for log in inputs:
        click.echo(f"watching {printable(log.path)}" + ("" if os.path.exists(log.path) else " (not there yet)"),
                   err=True)
    for target in targets:
        click.echo(f"joining errors from {printable(target.path)}", err=True)
    if server is not None:
        click.echo(f"metrics on {server.url}", err=True)
    click.echo(f"state in {options.state_dir}", err=True)


def _summarize(watcher: Watch, once: bool) -> int:
    """Print per-log counts and what went wrong; the exit code.

    2 when a log's lines were read and not one matches its format, or (``--once``) when nothing at
    all was read; 1 when (``--once``) alerts could not be delivered; else 0.
    """
    summary = watcher.summary()
    for note in summary.notes:
        _note(note)
    for path, lines, malformed, samples in summary.logs:
        click.echo(f"{printable(path)}: {plural(lines, 'line')}, {malformed:,} malformed", err=True)
        for bad in samples[:SHOWN_MALFORMED]:
            click.echo(f"  line {bad.line}: {bad.error}", err=True)
    for trouble in summary.undelivered:
        click.echo(f"vhostguard: {trouble}", err=True)
    if summary.unreadable:
        for entry in summary.unreadable:
            click.echo(f"vhostguard: {entry} (pass --log-format, or fix the LogFormat)", err=True)
        return ExitCode.BAD_INPUT
    if once and not summary.read_now:
        click.echo(f"vhostguard: nothing read: {'; '.join(summary.nothing_read) or 'no log'}", err=True)
        return ExitCode.BAD_INPUT
    # A batch run (--once) tells its caller; a service stop does not fail for a webhook that was
    # down once (stderr and vhostguard_alert_notifications_total said it when it happened).
    return ExitCode.FINDINGS if once and summary.undelivered else ExitCode.OK


if __name__ == "__main__":  # python -m vhostguard.cli.watch (before the command is registered, and for benchmarks)
    watch()  # pylint: disable=no-value-for-parameter
