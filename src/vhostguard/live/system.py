"""The system's own apache2 on a config as it stands: ``apache2 -t``.

Run the way apache2ctl runs it: an empty environment but PATH, plus what the
config's ``envvars`` (Debian) exports, so ``${APACHE_RUN_DIR}`` and friends
resolve as they do for the real service. ``-t`` reads and checks the
configuration and exits; it starts nothing and binds nothing.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vhostguard.config import ConfigError
from vhostguard.config import read_env_file
from vhostguard.live.edits import directive_line

CLEAN_PATH = "/usr/sbin:/usr/bin:/bin"
_AT_LINE = re.compile(r"on line (\d+) of (/[^:\s]+)")


@dataclass(frozen=True)
class ConfigTest:
    """apache2's verdict: ``ok``, what it printed, and the config line it blamed (if any)."""

    ok: bool
    apache2: str
    argv: tuple[str, ...]
    output: str
    file: str | None = None
    line: int | None = None


def apache_environment(main_file: str, env_file: str | None) -> dict[str, str]:
    """The environment apache2ctl gives apache2: PATH, plus ``env_file``'s exports
    (None: ``envvars`` beside the main file when present; ``""``: none).
    Raises ConfigError when the file cannot be sourced."""
    env = {"PATH": CLEAN_PATH}
    if env_file == "":
        return env
    if env_file is not None:
        return {**env, **read_env_file(env_file)}
    beside = os.path.join(os.path.dirname(main_file), "envvars")
    if os.path.isfile(beside):
        env.update(read_env_file(beside, os.path.dirname(main_file)))
    return env


def config_test(apache2: str, main_file: str, server_root: str | None = None,
                defines: Mapping[str, str | None] | None = None, env_file: str | None = None,
                timeout: float = 60.0, *, env: Mapping[str, str] | None = None,
                prefix: Sequence[str] = ()) -> ConfigTest:
    """Run ``apache2 -t`` on ``main_file`` (with ``-d`` and ``-D`` as given).

    ``env``: the environment to run it in (default: ``apache_environment``);
    ``prefix``: a command that runs the rest of the argv (e.g. in a mount namespace)."""
    argv = [apache2, "-t", "-f", main_file]
    if server_root:
        argv += ["-d", server_root]
    for name, value in (defines or {}).items():
        argv += ["-D", name] if value is None else ["-C", directive_line("Define", [name, value])]
    try:
        env = dict(env) if env is not None else apache_environment(main_file, env_file)
    except ConfigError as problem:
        return ConfigTest(False, apache2, tuple(argv), str(problem))
    argv = [*prefix, *argv]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, errors="replace", timeout=timeout,
                              check=False, cwd=os.path.dirname(main_file) or None)
    except (OSError, subprocess.TimeoutExpired) as problem:
        return ConfigTest(False, apache2, tuple(argv), f"could not run {apache2}: {problem}")
    output = (done.stderr + done.stdout).strip()
    where = _AT_LINE.search(output)
    return ConfigTest(done.returncode == 0, apache2, tuple(argv), output,
                      where.group(2) if where else None, int(where.group(1)) if where else None)
