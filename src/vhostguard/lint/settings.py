"""Project defaults for ``lint``: ``[tool.vhostguard]`` in pyproject.toml or
a top-level table in ``vhostguard.toml``.

Searched from the config file's directory upwards, then from the working
directory upwards; the first file that has settings wins, and in one
directory ``vhostguard.toml`` wins over ``pyproject.toml``. Keys: ``select``,
``ignore`` (lists of codes, prefixes or rule names), ``fail-on``
(error|warning|info). Command-line options override them.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vhostguard.lint.core import Severity

KNOWN_KEYS = frozenset({"select", "ignore", "fail-on"})


class SettingsError(ValueError):
    """A settings file that cannot be read or has a bad value (exit status 2)."""


@dataclass(frozen=True)
class LintSettings:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Severity | None = None
    path: str | None = None  # where they came from


def _ancestors(start: Path) -> Iterator[Path]:
    current = start.resolve()
    yield current
    yield from current.parents


def _table(path: Path) -> dict[str, Any] | None:
    """The vhostguard table of one file, or None when the file has none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("vhostguard")
        return table if isinstance(table, dict) else None
    return data


def find_settings_file(starts: Iterable[Path]) -> Path | None:
    seen: set[Path] = set()
    for start in starts:
        for directory in _ancestors(start):
            if directory in seen:
                continue
            seen.add(directory)
            for name in ("vhostguard.toml", "pyproject.toml"):
                candidate = directory / name
                if candidate.is_file() and _table(candidate) is not None:
                    return candidate
    return None


def _codes(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{path}: {key} must be a list of rule codes or names")
    return tuple(value)


def read_settings(path: Path) -> LintSettings:
    table = _table(path) or {}
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise SettingsError(f"{path}: unknown vhostguard setting(s): {', '.join(unknown)} (known: fail-on, ignore, select)")
    fail_on = None
    if "fail-on" in table:
        try:
            fail_on = Severity.parse(str(table["fail-on"]))
        except ValueError as exc:
            raise SettingsError(f"{path}: fail-on: {exc}") from None
    return LintSettings(
        select=_codes(path, "select", table.get("select", [])),
        ignore=_codes(path, "ignore", table.get("ignore", [])),
        fail_on=fail_on,
        path=str(path),
    )


def load_settings(config_file: str | None, cwd: Path | None = None) -> LintSettings:
    """The project settings that apply to linting ``config_file``."""
    starts = []
    if config_file:
        starts.append(Path(config_file).resolve().parent)
    starts.append(cwd or Path.cwd())
    found = find_settings_file(starts)
    return read_settings(found) if found is not None else LintSettings()
