"""Ranking: the most likely cause first.

A finding upstream in this order explains those below it, so it is read
first: a deploy that switched the config just before the failures is their
first suspect; a config apache2 rejects stops every restart (and so the server);
a server that is not running explains every missing listener; a server
running an older config than the files on disk explains listeners and
backends that differ from them; a Host served by the wrong vhost
explains why its requests fail (the wrong backend, the wrong files),
whatever else is down; a port held by another program explains
httpd not listening there; then what fails for some requests only (one
backend, a rewrite loop, a file missing or unreadable), then what could fail later (our loader's and lint's complaints).
"""
from __future__ import annotations

from collections.abc import Iterable

from vhostguard.diagnose.findings import Finding

CAUSE_ORDER = (
    "deploy-suspect",     # a deploy switched the config in the window, before the failures doctor sees
    "config-invalid",     # apache2 -t rejects the config
    "server-down",        # no httpd behind the PidFile
    "config-stale",       # files changed after the running server loaded them
    "host-misrouted",     # a Host answered by another vhost than the one naming it (an earlier wildcard alias)
    "listener-foreign",   # another program holds a Listen's port
    "listener-missing",   # a Listen without a listening socket
    "connect-failed",     # --connect HOST:PORT refuses
    "backend-down",       # a proxy backend refuses or does not answer
    "rewrite-loop",       # a --url/--expect request made httpd log AH00124 (internal redirects over the limit)
    "file-forbidden",     # ... maps to a file the workers' User may not read (403)
    "file-missing",       # ... maps to a file that does not exist (404)
    "route-mismatch",     # the running server's access log names another vhost than the config predicts
    "expectation-failed",  # a --expect case the config does not route as written
    "error-logged",       # the error log's entries of the window (a backend refused, a rewrite loop): why requests fail
    "errors-burst",       # the access log: an endpoint answering 5xx now (the symptom the causes above explain)
    "not-found-burst",    # the access log: an endpoint answering 404 now more than before
    "log-unreadable",     # a log doctor cannot read
    "config-unreadable",  # vhostguard's loader could not read part of the config
    "lint-error",         # a lint rule of severity error
    "recent-change",      # a deploy in the window, nothing failing
)
_POSITION = {kind: index for index, kind in enumerate(CAUSE_ORDER)}


def rank(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings sorted most likely cause first: by cause (``CAUSE_ORDER``; an
    unknown kind after the known ones), then severity, then as found."""
    indexed = list(enumerate(findings))
    indexed.sort(key=lambda item: (_POSITION.get(item[1].kind, len(CAUSE_ORDER)), -item[1].severity.rank, item[0]))
    return tuple(finding for _, finding in indexed)
