"""doctor's ranking: causes before the symptoms they explain."""
from __future__ import annotations

from vhostguard.diagnose import Finding, Severity
from vhostguard.diagnose.rank import CAUSE_ORDER, rank


def finding(kind: str, severity: Severity = Severity.CRITICAL, summary: str = "") -> Finding:
    return Finding("x", kind, severity, summary or kind, "cause")


def test_causes_rank_before_their_symptoms() -> None:
    found = [finding("backend-down"), finding("listener-missing"), finding("lint-error", Severity.WARNING),
             finding("config-stale", Severity.WARNING), finding("server-down"), finding("config-invalid")]
    assert [f.kind for f in rank(found)] == ["config-invalid", "server-down", "config-stale", "listener-missing",
                                             "backend-down", "lint-error"]


def test_same_cause_by_severity_then_as_found() -> None:
    found = [finding("config-unreadable", Severity.WARNING, "a"), finding("config-unreadable", Severity.CRITICAL, "b"),
             finding("config-unreadable", Severity.WARNING, "c"), finding("something-new", Severity.CRITICAL, "d")]
    assert [f.summary for f in rank(found)] == ["b", "a", "c", "d"]


def test_severity_is_ordered() -> None:
    assert Severity.CRITICAL > Severity.WARNING > Severity.INFO
    assert max([Severity.INFO, Severity.CRITICAL, Severity.WARNING]) is Severity.CRITICAL
    assert len(set(CAUSE_ORDER)) == len(CAUSE_ORDER)


def test_a_misrouted_host_ranks_before_the_backend_and_lint_findings_it_explains() -> None:
    # the seed: the wrong vhost's backend fails, lint calls the API vhost unreachable, an expectation fails
    found = [finding("backend-down"), finding("lint-error", Severity.WARNING), finding("expectation-failed", Severity.WARNING),
             finding("host-misrouted"), finding("listener-missing")]
    assert [f.kind for f in rank(found)] == ["host-misrouted", "listener-missing", "backend-down", "expectation-failed",
                                             "lint-error"]
    # a server not running its config explains a misroute the files do not predict
    assert rank([finding("host-misrouted"), finding("config-stale", Severity.WARNING)])[0].kind == "config-stale"
