"""Which vhost of an address set answers a host name first, indexed.

httpd walks an address set's name chain in configuration order and the first
vhost whose ServerName, ServerAlias or wildcard alias matches the Host wins
(server/vhost.c, ``update_server_from_aliases``). The lint rules ask that
question for every name of every vhost, restricted to the vhosts before it;
asked vhost by vhost it is quadratic in the size of the set (issue 17.15).
"""
from __future__ import annotations

import re

from vhostguard.model import Server
from vhostguard.model import wildcard_regex


def _suffix_pattern(pattern: str) -> str | None:
    """The literal tail of a ``*tail`` pattern (``*.example.com`` -> ``.example.com``), else None."""
    if pattern.startswith("*") and "*" not in pattern[1:] and "?" not in pattern[1:]:
        return pattern[1:]
    return None


class NameOwners:
    """The first position, in one address set, of each name and wildcard alias.

    ``first_answering(name, before)`` is, for a lower-case name, the first of
    ``servers[:before]`` whose name or alias equals it or whose wildcard alias
    matches it (``ap_strcasecmp_match``). Wildcards of the ``*tail`` shape are
    indexed by their tail, so a lookup costs one dict probe per distinct tail
    length; other shapes are tried in order.
    """

    def __init__(self, servers: tuple[Server, ...]) -> None:
        self.servers = servers
        self._exact: dict[str, int] = {}
        self._suffixes: dict[str, int] = {}
        self._other_wild: list[tuple[int, re.Pattern[str]]] = []
        self._wild: dict[str, int] = {}  # lower-case wildcard alias -> first position declaring it
        for index, server in enumerate(servers):
            for name in (server.server_name, *server.aliases):
                self._exact.setdefault(name.lower(), index)
            for pattern in server.wild_aliases:
                lowered = pattern.lower()
                self._wild.setdefault(lowered, index)
                tail = _suffix_pattern(lowered)
                if tail is not None:
                    self._suffixes.setdefault(tail, index)
                else:
                    self._other_wild.append((index, wildcard_regex(lowered)))
        # Only the lengths some tail has are worth a probe (a handful, however many
        # vhosts), and a tail with a dot ends a name only if both end in the same
        # label (``.example.net`` never ends ``x.example.test``): lengths per last label.
        dotless = {len(tail) for tail in self._suffixes if "." not in tail}
        by_label: dict[str, set[int]] = {}
        for tail in self._suffixes:
            if "." in tail:
                by_label.setdefault(tail.rpartition(".")[2], set()).add(len(tail))
        self._dotless_lengths = sorted(dotless)
        self._lengths_by_label = {label: sorted(lengths | dotless) for label, lengths in by_label.items()}

    def first_answering(self, name: str, before: int) -> Server | None:
        """The first server before position ``before`` that wins a Host equal to ``name``."""
        best = self._exact.get(name, before)
        size = len(name)
        for length in self._lengths_by_label.get(name.rpartition(".")[2], self._dotless_lengths):
            if length > size:
                break
            hit = self._suffixes.get(name[size - length:])
            if hit is not None and hit < best:
                best = hit
        for index, regex in self._other_wild:
            if index >= best:
                break
            if regex.match(name):
                best = index
                break
        return self.servers[best] if best < before else None

    def first_covering(self, pattern: str, before: int) -> Server | None:
        """The first server before ``before`` that takes every Host the wildcard
        ``pattern`` could match: one with the same wildcard alias, or ``*``."""
        lowered = pattern.lower()
        best = min(self._wild.get(lowered, before), self._wild.get("*", before))
        return self.servers[best] if best < before else None

