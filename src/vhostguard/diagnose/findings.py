"""doctor's vocabulary: severities, findings, one check's result, the diagnosis, a recent change."""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.ordered import OrderedEnum
from vhostguard.diagnose.summary import DirectiveRef


class Severity(OrderedEnum):
    """Ordered: ``CRITICAL > WARNING > INFO``. critical: requests fail now;
    warning: the server is not what the config says, or a latent fault;
    info: worth knowing, nothing wrong."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """One problem doctor found.

    ``kind`` names the cause (see ``rank.CAUSE_ORDER``); ``evidence`` lines
    start with where they come from: ``file:line: text`` for a config or log
    line, ``/proc/...: text`` for the kernel's view; ``next`` is the command
    to run next.
    """

    check: str
    kind: str
    severity: Severity
    summary: str
    cause: str
    evidence: tuple[str, ...] = ()
    directives: tuple[DirectiveRef, ...] = ()
    next: str | None = None
    vhost: str | None = None
    expected_vhost: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """What one check concluded: ``status`` is ``ok``, ``problem`` or ``skipped``."""

    name: str
    status: str
    detail: str
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class ServerState:
    """The running server the config describes. Times are epoch seconds.

    ``started``: the parent's start (``/proc/<pid>/stat``); ``reloaded``: the
    last "resuming normal operations" notice of that pid in the error log
    (start or restart), None when none was found; ``config_changed``: the
    newest modification time of the config files read, ``newest_file`` which.
    """

    pid_file: str
    pid: int | None
    problem: str | None  # why there is no running server (None: it runs)
    command: str | None
    started: float | None
    reloaded: float | None
    reload_evidence: str | None
    config_changed: float | None
    newest_file: str | None
    error_log: str | None
    last_words: tuple[str, ...] = ()  # when not running: the error log's last stop notices and fatal errors

    @property
    def loaded(self) -> float | None:
        """When the running server last read its config: the later of start and reload."""
        times = [t for t in (self.started, self.reloaded) if t is not None]
        return max(times) if times else None

    @property
    def stale(self) -> bool:
        loaded = self.loaded
        return (self.pid is not None and loaded is not None and self.config_changed is not None
                and self.config_changed > loaded)


@dataclass(frozen=True)
class Diagnosis:
    """doctor's answer: the checks run, and the findings ranked (1 = most likely cause)."""

    config: str
    server: ServerState | None
    checks: tuple[CheckResult, ...]
    findings: tuple[Finding, ...]

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


@dataclass(frozen=True)
class RecentChange:
    """One deploy (or rollback) that switched the live config at ``switched_at`` (epoch seconds).

    ``rolled_back_at``/``reason``: its automatic rollback, if any; ``failures``: the verification's
    failure summaries (``api.example.com was served by A ..., now by B ...``); ``kind``: ``deploy``
    or ``rollback``."""

    id: str
    switched_at: float
    kind: str = "deploy"
    rolled_back_at: float | None = None
    reason: str | None = None
    failures: tuple[str, ...] = ()
