"""CGI scripts found the way httpd's directory walk finds them.

A request path that does not exist as a whole may still name a script
followed by extra path: ``/usr/lib/cgi-bin/mailman/listinfo/mylist`` runs
``listinfo`` with ``PATH_INFO=/mylist``, and ``git-http-backend/`` (a
ScriptAlias target with a trailing slash) runs ``git-http-backend`` with
``PATH_INFO=/``. core's ``ap_directory_walk`` stats the path component by
component; the first component that is a regular file ends the walk and the
rest becomes ``r->path_info``. A script handler (mod_cgi/mod_cgid) accepts
path info; the default file handler refuses it (404), so only scripts ask.

A file is a script by ScriptAlias, by ``SetHandler cgi-script`` or by
mod_mime's ``AddHandler cgi-script .cgi``; the last two need ``Options
ExecCGI`` where the file is (mod_cgi: "Options ExecCGI is off in this
directory", 403), a ScriptAlias does not.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vhostguard.config import Directive


@dataclass(frozen=True, slots=True)
class ScriptPath:
    script: str  # the file that runs (r->filename)
    path_info: str  # what follows it (PATH_INFO), "" when nothing does


def find_script(filename: str, kind_of: Callable[[str], str | None]) -> ScriptPath | None:
    """The script ``filename`` runs, for a ``filename`` that does not exist as a whole.

    ``kind_of(path)`` says 'file', 'dir' or None (missing). None when no
    component is a file: the deepest existing component is a directory, so the
    path is simply missing (404).
    """
    path = filename.rstrip("/")
    while path:
        kind = kind_of(path)
        if kind == "file":
            return ScriptPath(path, filename[len(path):])
        if kind == "dir":
            return None
        path = path.rpartition("/")[0]
    return None


def extension_handler(nodes: Sequence[Directive], filename: str) -> Directive | None:
    """The ``AddHandler`` (mod_mime) that sets the handler of ``filename``, or None.

    ``nodes``: the AddHandler/RemoveHandler lines that apply, in merge order.
    mod_mime reads every extension of the file name (``a.cgi.en`` has ``cgi``
    and ``en``), case-insensitively; for each, the last line naming it wins, and
    a later extension's handler replaces an earlier one's.
    """
    extensions = os.path.basename(filename).lower().split(".")[1:]
    if not extensions:
        return None
    by_extension: dict[str, Directive | None] = {}
    for node in nodes:
        if len(node.args) < (2 if node.key == "addhandler" else 1):
            continue
        words = node.args[1:] if node.key == "addhandler" else node.args
        for word in words:
            by_extension[word.lower().lstrip(".")] = node if node.key == "addhandler" else None
    found: Directive | None = None
    for extension in extensions:
        found = by_extension.get(extension) or found
    return found
