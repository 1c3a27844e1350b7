"""Blue/green config slots: the live config directory as a symlink to one of two complete trees.

Layout (for a live directory ``/etc/apache2``)::

    /etc/apache2        -> apache2.blue      (a relative symlink, so the pair can be moved together)
    /etc/apache2.blue      the live tree
    /etc/apache2.green     the idle tree (the previous config, or the candidate being prepared)

Invariant: a slot exists under its final name only when it is complete and
fsynced, because it is written under a ``.partial`` name and renamed into
place (rename(2) is atomic). So "the live symlink points at an existing slot"
means "the live path resolves to a complete tree", and the switch is a single
rename of a new symlink over the old one.

Every function returns the ``Step`` records of what it did (or, with
``dry_run``, would do). A ``StepLog`` (the journal) is told each step's intent
before it runs and its result after, so that a crash leaves a trace of where it
stopped; ``crash_point`` is the fault-injection hook the tests use.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Literal, Protocol

Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, Slot] = ("blue", "green")
CRASH_ENV = "VHOSTGUARD_TEST_CRASH_AT"

# Names of the transient entries beside the live directory; recovery looks for exactly these.
PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"
LINK_SUFFIX = ".vhostguard-link"
SWAP_SUFFIX = ".vhostguard-swap"


class SlotError(Exception):
    """The layout cannot be used as asked (one-line message naming the path)."""


@dataclass(frozen=True)
class Step:
    """One filesystem action: what it is, on which paths, and whether it was carried out."""

    name: str
    description: str
    paths: tuple[str, ...] = ()
    done: bool = False


@dataclass(frozen=True)
class Layout:
    """What the live path is now. ``kind`` "plain": a real directory, not yet converted;
    "slots": a symlink to ``live_slot``. ``idle_exists``: the other slot's tree is present."""

    live_dir: str
    kind: Literal["plain", "slots"]
    live_slot: Slot | None = None
    idle_slot: Slot | None = None
    idle_exists: bool = False

    def slot_dir(self, slot: Slot) -> str:
        return slot_dir(self.live_dir, slot)


class StepLog(Protocol):
    """Where steps are announced (the journal): ``intent`` before the action, ``result`` after."""

    def intent(self, step: Step) -> int: ...

    def result(self, token: int, step: Step) -> None: ...


@dataclass(frozen=True)
class _NoLog:
    def intent(self, step: Step) -> int:
        return 0

    def result(self, token: int, step: Step) -> None:
        return None


@dataclass
class _Runner:
    """Runs the steps of one operation: announce, crash hook, act, report. Not shared across operations."""

    log: StepLog
    dry_run: bool
    steps: list[Step] = field(default_factory=list)

    def run(self, step: Step, action: Callable[[], None]) -> None:
        if self.dry_run:
            self.steps.append(step)
            return
        token = self.log.intent(step)
        crash_point(f"{step.name}:before")
        action()
        done = Step(step.name, step.description, step.paths, done=True)
        self.log.result(token, done)
        self.steps.append(done)
        crash_point(f"{step.name}:after")


def crash_point(name: str) -> None:
    """Fault injection for tests: SIGKILL this process when ``$VHOSTGUARD_TEST_CRASH_AT`` names this point.

    A real kill -9 (not an exception) so no ``finally`` or atexit runs, as in a power loss
    of the process; outside tests the variable is unset and this does nothing."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def slot_dir(live_dir: str, slot: Slot) -> str:
    return f"{_strip(live_dir)}.{slot}"


def _strip(path: str) -> str:
    return os.path.abspath(path).rstrip("/") or "/"


def other(slot: Slot) -> Slot:
    return "green" if slot == "blue" else "blue"


def inspect(live_dir: str) -> Layout:
    """The layout at ``live_dir``. Raises SlotError when it is missing or a symlink not to one of its slots
    (a symlink someone else made: we never take it over)."""
    live = _strip(live_dir)
    if os.path.islink(live):
        target = os.readlink(live)
        base = os.path.basename(live)
        slot = next((s for s in SLOTS if target in (f"{base}.{s}", slot_dir(live, s))), None)
        if slot is None:
            raise SlotError(f"{live}: a symlink to {target}, not to {base}.blue or {base}.green; "
                            "point it at its real directory or deploy to that directory")
        if not os.path.isdir(slot_dir(live, slot)):
            raise SlotError(f"{live}: its slot {slot_dir(live, slot)} is missing; run recovery")
        idle = other(slot)
        return Layout(live, "slots", slot, idle, os.path.isdir(slot_dir(live, idle)))
    if os.path.isdir(live):
        return Layout(live, "plain")
    raise SlotError(f"{live}: no such directory; name the directory of the live main file")


def live_directory(live_main: str, server_root: str | None) -> str:
    """The directory that becomes the slot symlink: the ServerRoot when the main file lies inside it
    (RHEL: /etc/httpd for /etc/httpd/conf/httpd.conf), else the main file's directory (Debian:
    /etc/apache2). The path is not resolved: through the symlink it is the live path itself."""
    main = os.path.abspath(live_main)
    if server_root:
        root = _strip(server_root)
        if main.startswith(root + os.sep):
            return root
    directory = os.path.dirname(main)
    parent = os.path.dirname(directory)
    # RHEL without -d: httpd.conf in conf/, beside conf.d and conf.modules.d under ServerRoot
    if os.path.basename(directory) == "conf" and os.path.isdir(os.path.join(parent, "conf.d")):
        return parent
    return directory


def backup_name(live_dir: str, now: datetime | None = None) -> str:
    """``/etc/apache2.backup-20261204T040000Z``: where the plain directory goes when converted."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{_strip(live_dir)}.backup-{moment}"


# --- conversion -------------------------------------------------------------------------------------

def convert(live_dir: str, *, dry_run: bool = False, log: StepLog | None = None,
            now: datetime | None = None) -> list[Step]:
    """Turn the plain directory ``live_dir`` into a symlink to its blue slot, keeping the original as a backup.

    Steps: copy the tree to ``<live>.blue.partial`` and fsync it; rename it to ``<live>.blue``; make a
    symlink ``<live>.vhostguard-link -> <name>.blue``; exchange it with the directory in one
    renameat2(RENAME_EXCHANGE) (so the live path is a directory, then a symlink, never absent); rename
    the directory, now at the link's name, to the backup name.

    Where RENAME_EXCHANGE is unsupported (not Linux, or a filesystem without it) the directory is
    renamed to the backup name and the link renamed into place: between these two renames the live
    path does not exist for a few microseconds. POSIX has no way to replace a directory by a
    non-directory in one step (rename(2) fails with EISDIR), so that window is unavoidable there;
    a process opening a config file inside it gets ENOENT and its next try succeeds; httpd reads its
    config only at start and reload, which the deploy does later. A dry run lists the exchange sequence
    without probing for it (the probe writes two scratch entries). Raises SlotError."""
    layout = inspect(live_dir)
    if layout.kind != "plain":
        raise SlotError(f"{layout.live_dir}: already a slot symlink (live: {layout.live_slot})")
    live = layout.live_dir
    blue = slot_dir(live, "blue")
    for taken in (blue, slot_dir(live, "green"), blue + PARTIAL_SUFFIX, live + LINK_SUFFIX, live + SWAP_SUFFIX):
        if os.path.lexists(taken):
            raise SlotError(f"{taken}: already exists; move it away (or run recovery) before converting {live}")
    backup = backup_name(live, now)
    if os.path.lexists(backup):
        raise SlotError(f"{backup}: already exists; wait a second and retry")
    run = _Runner(log or _NoLog(), dry_run)
    link_target = f"{os.path.basename(live)}.blue"
    run.run(Step("convert-copy", f"copy {live} to {blue + PARTIAL_SUFFIX}", (live, blue + PARTIAL_SUFFIX)),
            lambda: copy_tree(live, blue + PARTIAL_SUFFIX))
    run.run(Step("convert-place", f"rename {blue + PARTIAL_SUFFIX} to {blue}", (blue + PARTIAL_SUFFIX, blue)),
            lambda: _rename_durably(blue + PARTIAL_SUFFIX, blue))
    run.run(Step("convert-link", f"create symlink {live + LINK_SUFFIX} -> {link_target}",
                 (live + LINK_SUFFIX, link_target)),
            lambda: _symlink_durably(link_target, live + LINK_SUFFIX))
    if dry_run or _can_exchange(live):
        run.run(Step("convert-exchange", f"exchange {live + LINK_SUFFIX} and {live} atomically",
                     (live + LINK_SUFFIX, live)),
                lambda: _exchange_durably(live + LINK_SUFFIX, live))
        run.run(Step("convert-backup", f"rename {live + LINK_SUFFIX} (the old directory) to {backup}",
                     (live + LINK_SUFFIX, backup)),
                lambda: _rename_durably(live + LINK_SUFFIX, backup))
    else:
        run.run(Step("convert-backup", f"rename {live} to {backup}", (live, backup)),
                lambda: _rename_durably(live, backup))
        run.run(Step("convert-swap", f"rename {live + LINK_SUFFIX} to {live}", (live + LINK_SUFFIX, live)),
                lambda: _rename_durably(live + LINK_SUFFIX, live))
    return run.steps


# --- preparing the idle slot --------------------------------------------------------------------------

def prepare_idle(live_dir: str, candidate_dir: str, *, dry_run: bool = False,
                 log: StepLog | None = None) -> list[Step]:
    """Write ``candidate_dir`` into the idle slot: copy to ``<idle>.partial``, fsync, move the previous
    idle tree to ``<idle>.old``, rename the partial into place, remove the old one. The live slot is
    never touched; a crash leaves the idle slot either the previous tree or the candidate, both complete.
    Raises SlotError (not converted yet, or the candidate is not a directory)."""
    layout = inspect(live_dir)
    if layout.kind != "slots" or layout.idle_slot is None:
        raise SlotError(f"{layout.live_dir}: a plain directory; convert it to slots first")
    if not os.path.isdir(candidate_dir):
        raise SlotError(f"{candidate_dir}: not a directory; name the candidate config directory")
    if os.path.realpath(candidate_dir) == os.path.realpath(layout.live_dir):
        raise SlotError(f"{candidate_dir}: is the live config itself; name a copy with the changes")
    idle = layout.slot_dir(layout.idle_slot)
    partial, old = idle + PARTIAL_SUFFIX, idle + OLD_SUFFIX
    for stale in (partial, old):
        if os.path.lexists(stale):
            raise SlotError(f"{stale}: left by an interrupted deploy; run recovery first")
    run = _Runner(log or _NoLog(), dry_run)
    run.run(Step("prepare-copy", f"copy {candidate_dir} to {partial}", (candidate_dir, partial)),
            lambda: copy_tree(candidate_dir, partial))
    if layout.idle_exists:
        run.run(Step("prepare-set-aside", f"rename {idle} to {old}", (idle, old)),
                lambda: _rename_durably(idle, old))
    run.run(Step("prepare-place", f"rename {partial} to {idle}", (partial, idle)),
            lambda: _rename_durably(partial, idle))
    if layout.idle_exists:
        run.run(Step("prepare-discard", f"remove {old}", (old,)), lambda: shutil.rmtree(old))
    return run.steps


# --- the switch ------------------------------------------------------------------------------------

def switch(live_dir: str, to_slot: Slot, *, dry_run: bool = False, log: StepLog | None = None) -> list[Step]:
    """Point the live symlink at ``to_slot``: a new symlink under a temp name, then rename(2) over the
    live one, which is atomic (every open() sees the old tree or the new one, whole).
    Raises SlotError when the layout is plain or the slot is missing."""
    layout = inspect(live_dir)
    if layout.kind != "slots":
        raise SlotError(f"{layout.live_dir}: a plain directory; convert it to slots first")
    live = layout.live_dir
    if not os.path.isdir(slot_dir(live, to_slot)):
        raise SlotError(f"{slot_dir(live, to_slot)}: missing; prepare it before switching")
    if os.path.lexists(live + LINK_SUFFIX):
        raise SlotError(f"{live + LINK_SUFFIX}: left by an interrupted deploy; run recovery first")
    run = _Runner(log or _NoLog(), dry_run)
    target = f"{os.path.basename(live)}.{to_slot}"
    run.run(Step("switch-link", f"create symlink {live + LINK_SUFFIX} -> {target}", (live + LINK_SUFFIX, target)),
            lambda: _symlink_durably(target, live + LINK_SUFFIX))
    run.run(Step("switch-replace", f"rename {live + LINK_SUFFIX} over {live} (from {layout.live_slot} to {to_slot})",
                 (live + LINK_SUFFIX, live)),
            lambda: _rename_durably(live + LINK_SUFFIX, live))
    return run.steps


# --- filesystem primitives ---------------------------------------------------------------------------

def copy_tree(source: str, destination: str) -> None:
    """Copy a config tree: symlinks stay symlinks (sites-enabled -> ../sites-available keeps resolving
    inside the copy), modes and mtimes kept (copy2/copystat), owners kept when we can (root);
    then every file and directory is fsynced, so a rename of ``destination`` publishes a durable tree."""
    shutil.copytree(source, destination, symlinks=True, copy_function=_copy_file)
    if os.geteuid() == 0:
        for path, info in _walk_stat(source):
            os.lchown(os.path.join(destination, os.path.relpath(path, source)), info.st_uid, info.st_gid)
    _fsync_tree(destination)


def _copy_file(source: str, destination: str) -> object:
    crash_point("copy-file")  # lets the tests die with a half-written tree
    return shutil.copy2(source, destination)


def _walk_stat(root: str) -> Iterator[tuple[str, os.stat_result]]:
    yield root, os.lstat(root)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            yield path, os.lstat(path)


def _fsync_tree(root: str) -> None:
    for path, info in _walk_stat(root):
        if stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
            _fsync_path(path)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rename_durably(source: str, destination: str) -> None:
    os.replace(source, destination)
    _fsync_path(os.path.dirname(destination))  # the rename survives a power loss only once its directory is synced


def _symlink_durably(target: str, path: str) -> None:
    os.symlink(target, path)
    _fsync_path(os.path.dirname(path))


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _renameat2() -> Callable[..., int] | None:
    library = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(library, use_errno=True)
    except OSError:
        return None
    function: Callable[..., int] | None = getattr(libc, "renameat2", None)  # glibc >= 2.28
    return function


def _exchange(first: str, second: str) -> None:
    """Swap two names in one step (renameat2 RENAME_EXCHANGE). Raises OSError (EINVAL/ENOSYS: unsupported)."""
    function = _renameat2()
    if function is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), first)


def _exchange_durably(first: str, second: str) -> None:
    _exchange(first, second)
    _fsync_path(os.path.dirname(second))


def _can_exchange(live: str) -> bool:
    """Whether RENAME_EXCHANGE works in ``live``'s directory: tried on two scratch entries there,
    since support depends on the filesystem (tmpfs, ext4, xfs, btrfs have it; some network ones not)."""
    base = f"{live}.vhostguard-probe"
    first, second = base + "-a", base + "-b"
    _remove_probe(first, second)  # left by a probe that was killed
    try:
        os.mkdir(first)
        os.symlink("x", second)
        _exchange(first, second)
        return True
    except OSError:
        return False
    finally:
        _remove_probe(first, second)


def _remove_probe(*paths: str) -> None:
    for path in paths:
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            os.rmdir(path)


def links_through_live(tree: str, live_dir: str) -> list[str]:
    """Symlinks in ``tree`` whose absolute target lies under ``live_dir`` (``/etc/apache2/sites-available/x``).

    Inside the idle slot such a link resolves through the live symlink to the LIVE slot's file, so a check
    run on the idle slot would see the old config there; after the switch it follows the new slot. The
    relative links a2ensite makes (``../sites-available/x``) stay inside their own slot and are not listed."""
    live = _strip(live_dir)
    found = []
    for path, info in _walk_stat(tree):
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(path)
            if os.path.isabs(target) and (os.path.normpath(target) + "/").startswith(live + "/"):
                found.append(path)
    return sorted(found)


def content_hash(root: str) -> str:
    """sha256 over a tree's relative paths, kinds, modes, symlink targets and file contents (not mtimes):
    the same config gives the same hash, so the journal can say which deploys carried the same tree."""
    root = os.path.realpath(root)  # the live path is a symlink: hash the tree it shows
    digest = hashlib.sha256()
    for path, info in sorted(_walk_stat(root)):
        relative = os.path.relpath(path, root)
        digest.update(os.fsencode(relative) + b"\0" + f"{info.st_mode:o}".encode() + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.fsencode(os.readlink(path)))
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
