"""Why a request fails where the config maps it, from the config and the file system:
the file is missing (and which name nearby exists), the worker's user may not
read it, or the RewriteRules that apply to it loop (httpd's AH00124).

Shared by doctor's routing check (which predicts and probes) and trace's story
(which saw the worker fail). Config lines come back as ``Directive`` nodes;
callers turn them into their own references.
"""
from __future__ import annotations

import difflib
import grp
import os
import pwd
import stat
from dataclasses import dataclass

from vhostguard.config import Directive
from vhostguard.model import Server, ServerModel
from vhostguard.routing import applicable, server_sections

REWRITE_LOOP_CODE = "AH00124"  # core: "Request exceeded the limit of %d internal redirects"


@dataclass(frozen=True)
class WorkerUser:
    """The user and group httpd's children run as (``User``/``Group``, mod_unixd).
    ``uid``/``gids`` are None when the name does not exist on this machine."""

    user: str
    group: str | None
    user_line: Directive
    group_line: Directive | None
    uid: int | None
    gids: frozenset[int] | None


def worker_user(model: ServerModel) -> WorkerUser | None:
    """The last User (and Group) of the main server, None without User: the
    children keep the user that started httpd (root when started by root only
    if it is also the User; mod_unixd's default is #-1, but a root start without
    User is unusual enough that guessing is worse than saying nothing)."""
    user_line = _last(model.main.directives, "user")
    if user_line is None or not user_line.args:
        return None
    group_line = _last(model.main.directives, "group")
    name = user_line.args[0]
    group = group_line.args[0] if group_line is not None and group_line.args else None
    uid, gids = _ids(name, group)
    return WorkerUser(name, group, user_line, group_line, uid, gids)


def _last(directives: tuple[Directive, ...], key: str) -> Directive | None:
    found = None
    for node in directives:
        if node.key == key:
            found = node
    return found


def _ids(user: str, group: str | None) -> tuple[int | None, frozenset[int] | None]:
    """uid and the groups mod_unixd gives the children: Group, then initgroups(User, Group)."""
    try:
        entry = pwd.getpwuid(int(user[1:])) if user.startswith("#") else pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None, None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = int(group[1:]) if group.startswith("#") else grp.getgrnam(group).gr_gid
        except (KeyError, ValueError):
            return entry.pw_uid, None
    return entry.pw_uid, frozenset(os.getgrouplist(entry.pw_name, gid))


def unreadable(path: str, worker: WorkerUser) -> str | None:
    """Why ``worker`` may not read ``path`` (a directory on the way without
    search permission, or the file without read permission), None when it may
    or when this cannot be told (unknown user, a path that does not exist)."""
    if worker.uid is None or worker.gids is None or worker.uid == 0:
        return None
    parts = os.path.abspath(path).split("/")[1:]
    current = "/"
    for index, part in enumerate(parts):
        is_last = index == len(parts) - 1
        current = os.path.join(current, part)
        try:
            info = os.stat(current)
        except OSError:
            return None
        need = stat.S_IROTH if is_last and not stat.S_ISDIR(info.st_mode) else stat.S_IXOTH
        if not _allowed(info, worker, need):
            owner = _name(pwd.getpwuid, info.st_uid)
            group = _name(grp.getgrgid, info.st_gid)
            what = "read" if need == stat.S_IROTH else "search (x)"
            kind = "directory" if stat.S_ISDIR(info.st_mode) else "file"
            return (f"{kind} {current} is mode {stat.S_IMODE(info.st_mode):04o} owned by {owner}:{group}: "
                    f"User {worker.user} (uid {worker.uid}) has no {what} permission on it")
    return None


def _allowed(info: os.stat_result, worker: WorkerUser, other_bit: int) -> bool:
    assert worker.gids is not None
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == worker.uid:
        return bool(mode & (other_bit << 6))
    if info.st_gid in worker.gids:
        return bool(mode & (other_bit << 3))
    return bool(mode & other_bit)


def _name(lookup: object, number: int) -> str:
    try:
        return str(lookup(number)[0])  # type: ignore[operator]
    except (KeyError, TypeError):
        return str(number)


def missing_part(path: str) -> tuple[str, str | None]:
    """The first component of ``path`` that does not exist, and a name in its
    directory close to it (a typo's likely intent), or None."""
    current = "/"
    for part in os.path.abspath(path).split("/")[1:]:
        candidate = os.path.join(current, part)
        if not os.path.lexists(candidate):
            try:
                names = os.listdir(current)
            except OSError:
                return candidate, None
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.75)
            return candidate, (os.path.join(current, close[0]) if close else None)
        current = candidate
    return path, None


def rewrite_rules(model: ServerModel, server: Server, uri: str, filename: str | None) -> tuple[Directive, ...]:
    """The RewriteRules that apply to a request in ``server``: the vhost's own
    (server context) and those of the <Directory>/<Location> sections that
    apply to ``uri`` and ``filename``, in configuration order."""
    found: list[Directive] = [node for node in server.directives if node.key == "rewriterule"]
    if server.id is not None:
        found = [node for node in model.main.directives if node.key == "rewriterule" and _inherits(server)] + found
    for section in applicable(server_sections(model.main, server), uri, filename):
        found.extend(node for node in section.node.children or () if node.key == "rewriterule")
    unique = {(node.source.file, node.source.line): node for node in found}
    return tuple(sorted(unique.values(), key=lambda node: (node.source.file, node.source.line)))


def _inherits(server: Server) -> bool:
    """mod_rewrite: a vhost runs the main server's rules only with ``RewriteOptions Inherit``."""
    return any(node.key == "rewriteoptions" and any(arg.lower().startswith("inherit") for arg in node.args)
               for node in server.directives)
