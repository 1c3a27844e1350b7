"""CGI scripts found the way httpd's directory walk finds them.

A request path that does not exist as a whole may still name a script
followed by extra path: ``/usr/lib/cgi-bin/mailman/listinfo/mylist`` runs
``listinfo`` with ``PATH_INFO=/mylist``, and ``git-http-backend/`` (a
ScriptAlias target with a trailing slash) runs ``git-http-backend`` with
``PATH_INFO=/``. core's ``ap_directory_walk`` stats the path component by
component; the first component that is a regular file ends the walk and the
rest becomes ``r->path_info``. A script handler (mod_cgi/mod_cgid) accepts
path info; the default file handler refuses it (404), so only scripts ask.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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
