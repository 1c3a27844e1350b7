"""Compare what routing predicts with what the real apache2 did.

The live side is read from httpd's answer: a recording stub saw the backend
request (proxy), a 3xx Location (redirect), a status (forbidden, gone, ...),
a 200 whose body names the file served (sandboxes that write
``FILE:<path>`` into their files) or the CGI script that ran (scripts that
print ``SCRIPT:<their SCRIPT_FILENAME>``) or a known handler's page, or no
HTTP exchange at all (``refused``: nothing listens, or TLS to a plain port).
"""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.live import LiveResult
from vhostguard.routing import Decision

_STATUS_KINDS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 410: "gone", 421: "misdirected"}
_HANDLER_PAGES = (
    ("Apache Server Status", "server-status"), ("Apache Server Information", "server-info"),
    ("Load Balancer Manager", "balancer-manager"),
)
_TARGETED = frozenset({"proxy", "redirect", "file", "handler", "script"})


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """The comparable part of an outcome: kind, status (None for proxy) and target."""

    kind: str
    status: int | None
    target: str | None

    def __str__(self) -> str:
        parts = [self.kind] + ([str(self.status)] if self.status is not None else []) + ([self.target] if self.target else [])
        return " ".join(parts)


def live_view(result: LiveResult) -> OutcomeView:
    if result.refused is not None:
        return OutcomeView("refused", None, None)
    status = result.status
    if result.backend is not None and status < 400:
        return OutcomeView("proxy", None, result.backend.url)
    if 300 <= status < 400:
        return OutcomeView("redirect", status, result.location)
    if status in _STATUS_KINDS:
        return OutcomeView(_STATUS_KINDS[status], status, None)
    if status >= 500:
        return OutcomeView("error", status, None)
    text = result.body.decode("utf-8", "replace")
    if text.startswith("FILE:"):
        return OutcomeView("file", status, text[5:].strip())
    if text.startswith("SCRIPT:"):
        return OutcomeView("script", status, text[7:].split("\n", 1)[0].strip())
    if "Index of" in text:
        return OutcomeView("handler", status, "autoindex")
    for marker, handler in _HANDLER_PAGES:
        if marker in text:
            return OutcomeView("handler", status, handler)
    return OutcomeView("file", status, None)  # a 200 that names nothing: served content


def offline_view(decision: Decision, *, file_targets: bool = True) -> OutcomeView:
    """The decision's outcome in the same terms (a balancer resolves to its first member)."""
    outcome = decision.outcome
    target = outcome.target if outcome.kind in _TARGETED else None
    if outcome.kind == "file" and not file_targets:
        target = None
    if outcome.kind == "proxy" and outcome.members and target:
        path = target.split("/", 3)[3] if target.count("/") >= 3 else ""
        target = outcome.members[0].rstrip("/") + "/" + path
    return OutcomeView(outcome.kind, None if outcome.kind == "proxy" else outcome.status, target)


@dataclass(frozen=True, slots=True)
class Comparison:
    offline: OutcomeView
    live: OutcomeView
    offline_vhost: str | None
    live_vhost: str | None
    vhost_known: bool  # False when httpd answered before choosing a vhost (e.g. 400)

    @property
    def same_outcome(self) -> bool:
        return self.offline == self.live

    @property
    def same_vhost(self) -> bool:
        return not self.vhost_known or self.offline_vhost == self.live_vhost

    @property
    def agree(self) -> bool:
        return self.same_outcome and self.same_vhost

    def differences(self) -> list[str]:
        found = []
        if not self.same_vhost:
            found.append(f"vhost: offline {self.offline_vhost or 'main server'}, live {self.live_vhost or 'main server'}")
        if not self.same_outcome:
            found.append(f"outcome: offline {self.offline}, live {self.live}")
        return found


def compare(decision: Decision, result: LiveResult) -> Comparison:
    """Compare one offline decision with what the sandboxed apache2 did for the same request.

    Files are compared by path only when the live body names its file
    (``FILE:<path>``); otherwise by kind and status.
    """
    live = live_view(result)
    offline = offline_view(decision, file_targets=live.target is not None or live.kind != "file")
    live_vhost = result.vhost if result.served_by == "vhost" else None
    return Comparison(offline, live, decision.server.id, live_vhost, result.served_by != "unknown")
