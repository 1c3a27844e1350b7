"""Where alerts go: the terminal, a JSON-lines file, webhooks (generic JSON or Slack), Alertmanager.

A sink never stops the watcher: a failure is counted (``outcomes``, with
``target`` and ``last_error`` saying where and why; the watcher reports
them on stderr and in the metrics) and the watcher goes on. HTTP sinks post
from a background thread through a bounded queue (the oldest notification
is dropped when it is full), with a timeout and a bounded number of retries
after growing pauses (1 s, 2 s, ... at most BACKOFF_MAX), so a slow or dead
endpoint costs the watch loop nothing and a short outage of it loses no
alert.
"""
from __future__ import annotations

import os
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

from vhostguard.monitor.alerts import FIRING, Alert, iso
from vhostguard.safetext import json_dumps, json_line, terminal_text

USER_AGENT = "vhostguard-watch"
TIMEOUT = 5.0  # seconds per HTTP attempt
RETRIES = 3  # attempts per notification
BACKOFF = 1.0  # seconds before the second attempt, doubling
BACKOFF_MAX = 30.0  # seconds: the longest pause between two attempts
QUEUE = 1000  # notifications waiting per HTTP sink
RESEND = 60.0  # seconds between Alertmanager re-posts of firing alerts (it expires silent ones)


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one transition (firing or resolved); never raises."""

    def tick(self, wall: float, firing: Sequence[Alert]) -> None:
        """Called every loop step with the alerts firing now."""

    def outcomes(self) -> dict[str, int]:
        """Counts by outcome: sent, failed, dropped."""

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (within ``timeout`` seconds) and stop."""


def format_alert(alert: Alert) -> str:
    """One human line per alert, evidence lines indented below it."""
    state = "FIRING" if alert.state == FIRING else "RESOLVED"
    when = iso(alert.started if alert.state == FIRING else alert.resolved or alert.started)
    lines = [f"{when} {state} [{alert.severity}] {alert.rule}: {alert.summary}"]
    if alert.state == FIRING:
        lines += [f"    {line}" for line in alert.evidence]
    return "\n".join(lines)


class _Counted:
    target = ""  # where alerts go (a file, a URL), for messages

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "failed": 0, "dropped": 0}
        self.last_error: str | None = None

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def outcomes(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def tick(self, wall: float, firing: Sequence[Alert]) -> None:
        """Nothing to repeat."""


class TerminalSink(_Counted):
    """Human lines on ``stream`` (the CLI passes stdout)."""

    name = "terminal"

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def send(self, alert: Alert) -> None:
        try:
            # Names and paths come from the log: no raw ESC/OSC sequence reaches the terminal.
            self.stream.write(terminal_text(format_alert(alert)) + "\n")
            self.stream.flush()
        except (OSError, ValueError) as problem:  # a closed or broken stdout must not stop the watcher
            self.last_error = str(problem)
            self._count("failed")
            return
        self._count("sent")

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued."""


class JsonLinesSink(_Counted):
    """One alert JSON object per line, appended to ``path`` (opened per alert, so rotating it is safe)."""

    name = "jsonl"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = self.target = path

    def send(self, alert: Alert) -> None:
        try:
            line = json_line(alert.to_json())
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line)  # one write with O_APPEND: a reader never sees half a line from us
            finally:
                os.close(fd)
        except (OSError, ValueError) as problem:  # ValueError: a value json cannot encode
            self.last_error = problem.strerror if isinstance(problem, OSError) and problem.strerror else str(problem)
            self._count("failed")
            return
        self._count("sent")

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued."""


Post = Callable[[str, bytes, float], None]  # (url, JSON body, timeout); raises on failure


def http_post(url: str, body: bytes, timeout: float) -> None:
    """POST JSON with urllib; raises OSError (urllib.error.URLError included) unless the answer is 2xx."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


class HttpSink(_Counted):
    """Posts JSON bodies from a background thread; subclasses say what to post."""

    name = "http"

    def __init__(self, url: str, *, post: Post = http_post, timeout: float = TIMEOUT, retries: int = RETRIES,
                 backoff: float = BACKOFF, max_backoff: float = BACKOFF_MAX, queue_size: int = QUEUE) -> None:
        super().__init__()
        self.url = self.target = url
        self._post = post
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"vhostguard-{self.name}", daemon=True)
        self._thread.start()

    def submit(self, payload: Any) -> None:
        body = json_dumps(payload).encode()
        while True:
            try:
                self._queue.put_nowait(body)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # the newest news matters most: drop the oldest
                    self._count("dropped")
                except queue.Empty:
                    pass

    def close(self, timeout: float = 5.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            self._stopping.set()
        self._thread.join(timeout)
        self._stopping.set()  # whatever is left is not retried any more
        if self._thread.is_alive():
            # Still posting after ``timeout``: what waits in the queue will never be sent. Counted
            # (and so reported), not lost without a word.
            while True:
                try:
                    body = self._queue.get_nowait()
                except queue.Empty:
                    break
                if body is not None:
                    self._count("dropped")

    def _work(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        delay = self._backoff
        for attempt in range(self._retries):
            try:
                self._post(self.url, body, self._timeout)
            except (OSError, ValueError, urllib.error.URLError) as problem:  # URLError is an OSError; explicit
                self.last_error = str(problem)
                if attempt + 1 < self._retries and not self._stopping.wait(delay):
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self._count("failed")
                return
            self._count("sent")
            return


class WebhookSink(HttpSink):
    """A generic JSON webhook (the alert's JSON as is) or a Slack-compatible one (``{"text": ...}``).

    ``style`` "auto" picks Slack for ``hooks.slack.com`` URLs.
    """

    def __init__(self, url: str, style: str = "auto", **options: Any) -> None:
        self.style = ("slack" if "hooks.slack.com" in url else "json") if style == "auto" else style
        self.name = f"webhook-{self.style}"
        super().__init__(url, **options)

    def send(self, alert: Alert) -> None:
        self.submit(slack_payload(alert) if self.style == "slack" else alert.to_json())


def slack_payload(alert: Alert) -> dict[str, Any]:
    emoji = ":rotating_light:" if alert.state == FIRING and alert.severity == "page" else (
        ":warning:" if alert.state == FIRING else ":white_check_mark:")
    text = f"{emoji} {format_alert(alert).splitlines()[0]}"
    if alert.state == FIRING and alert.evidence:
        text += "\n```" + "\n".join(alert.evidence) + "```"
    return {"text": text}


class AlertmanagerSink(HttpSink):
    """Alertmanager's v2 API (``POST /api/v2/alerts``), firing alerts re-posted every ``resend`` seconds.

    Alertmanager resolves an alert whose ``endsAt`` passes without news, so
    a firing alert is posted with ``endsAt`` a few resend intervals ahead
    and posted again while it fires (as Prometheus does); a resolved one
    with ``endsAt`` at its resolution.
    """

    name = "alertmanager"

    def __init__(self, url: str, clock: Callable[[], float], resend: float = RESEND, **options: Any) -> None:
        base = url.rstrip("/")
        super().__init__(base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts", **options)
        self._clock = clock
        self._resend = resend
        self._last_post = 0.0

    def send(self, alert: Alert) -> None:
        self.submit([self.payload(alert, self._clock())])

    def tick(self, wall: float, firing: Sequence[Alert]) -> None:
        if firing and wall - self._last_post >= self._resend:
            self._last_post = wall
            self.submit([self.payload(alert, wall) for alert in firing])

    def payload(self, alert: Alert, wall: float) -> dict[str, Any]:
        labels = {"alertname": "Vhostguard" + "".join(part.capitalize() for part in alert.rule.split("-")),
                  "rule": alert.rule, "severity": alert.severity, "vhost": alert.vhost, "source": "vhostguard"}
        if alert.method is not None:
            labels["method"] = alert.method
        if alert.endpoint is not None:
            labels["endpoint"] = alert.endpoint
        ends = alert.resolved if alert.resolved is not None else wall + 4 * self._resend
        annotations = {"summary": alert.summary, "alert_id": alert.id}
        if alert.evidence:
            annotations["evidence"] = "\n".join(alert.evidence)
        return {"labels": labels, "annotations": annotations, "startsAt": iso(alert.started), "endsAt": iso(ends)}
