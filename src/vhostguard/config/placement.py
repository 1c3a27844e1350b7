"""Where httpd accepts a section inside another: the context checks that
``apache2 -t`` applies when it reads a container (core.c's dirsection,
urlsection, filesection, limit sections; mod_proxy's proxysection).

Found by running apache2 2.4 on every pair (tests/config/test_placement.py
keeps that table and lets a live apache2 judge it): a directory-like section
cannot open inside another per-directory section, ``<Files>`` cannot open
inside ``<Location>``, and ``<Limit>`` only belongs in a per-directory one.
"""
from __future__ import annotations

# The sections httpd reads as per-directory configuration: nothing that starts
# another directory walk may open inside them.
_PER_DIRECTORY = frozenset({
    "directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
    "proxy", "proxymatch", "if", "elseif", "else", "limit", "limitexcept",
})
# Sections that start a directory walk of their own (and so belong at server or vhost level).
_WALK_STARTERS = frozenset({"directory", "directorymatch", "location", "locationmatch", "proxy", "proxymatch"})
_LIMITS = frozenset({"limit", "limitexcept"})
_LOCATIONS = frozenset({"location", "locationmatch"})
_FILES = frozenset({"files", "filesmatch"})
# httpd names the offending section by its command's own spelling, whatever the config wrote.
_CANONICAL = {
    "directory": "Directory", "directorymatch": "DirectoryMatch", "location": "Location",
    "locationmatch": "LocationMatch", "files": "Files", "filesmatch": "FilesMatch", "proxy": "Proxy",
    "proxymatch": "ProxyMatch", "limit": "Limit", "limitexcept": "LimitExcept", "virtualhost": "VirtualHost",
}


def placement_error(key: str, enclosing: list[str]) -> str | None:
    """httpd's message when section ``key`` (lower case) opens inside ``enclosing``
    (the open sections, outermost first, as written, conditionals left out), else None."""
    name = _CANONICAL.get(key)
    if name is None:
        return None
    parent = enclosing[-1] if enclosing else None
    parent_key = parent.lower() if parent else None
    if key == "virtualhost":
        if parent is None:
            return None
        if parent_key in _PER_DIRECTORY:
            return f"<{name} not allowed in <{parent}> context"
        return f"<VirtualHost> cannot occur within <{parent}> section"
    if key in _WALK_STARTERS and parent_key in _PER_DIRECTORY:
        return f"<{name} not allowed in <{parent}> context"
    if key in _FILES and parent_key in _LOCATIONS:
        return f"<{name}> cannot occur within <{parent}> section"
    if key in _LIMITS and not any(section.lower() in _PER_DIRECTORY - _LIMITS for section in enclosing):
        return f"<{name} not allowed here" if parent is None else f"<{name} not allowed in <{parent}> context"
    return None
