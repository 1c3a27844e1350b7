"""Read a Debian-style ``envvars`` file the way apache2ctl does: sourced by /bin/sh."""
from __future__ import annotations

import os

from vhostguard.config.source import ConfigError, Source

_SHELL_NOISE = {"PWD", "SHLVL", "_", "OLDPWD"}


def read_env_file(path: str, confdir: str | None = None) -> dict[str, str]:
    """Source ``path`` with /bin/sh in an empty environment; return what it exports.

    ``APACHE_CONFDIR`` is preset as apache2ctl presets it (the config
    directory), since Debian's envvars derives a suffix from it.
    """
    if not os.path.isfile(path):
        raise ConfigError(Source(path, 0), "environment file not found; pass --env-file with an existing file")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "APACHE_CONFDIR": confdir or os.path.dirname(os.path.abspath(path))}
    script = '. "$1" >/dev/null 2>&1 || exit 3; env -0'
    import subprocess  # imported here: most configs have no envvars file, and every start-up would pay
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", script, "sh", os.path.abspath(path)],
            env=env, capture_output=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(Source(path, 0), f"could not source environment file: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(Source(path, 0), "sourcing the environment file with /bin/sh failed; check its shell syntax")
    result: dict[str, str] = {}
    for item in done.stdout.split(b"\0"):
        if b"=" not in item:
            continue
        key, _, value = item.partition(b"=")
        name = os.fsdecode(key)
        if name not in _SHELL_NOISE and name != "PATH":
            result[name] = os.fsdecode(value)
    return result
