"""Option value types several commands share: durations and points in time."""
from __future__ import annotations

import re
import time
from datetime import datetime, UTC

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(text: str) -> float | None:
    """``90s``, ``5m``, ``1h``, ``2d`` or plain seconds; None when it is no duration."""
    match = _DURATION.match(text)
    return None if match is None else float(match.group(1)) * _UNITS[match.group(2)]


def duration(_context: click.Context, param: click.Parameter, value: str | float | None) -> float | None:
    """An option callback: a duration in seconds."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    found = seconds(value)
    if found is None:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 5m or 1h", param=param)
    return found


def moment(_context: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An option callback: a point in time as epoch seconds, from ISO 8601 (UTC when it has no offset)
    or a duration back from now (``2h``: two hours ago)."""
    if value is None:
        return None
    back = seconds(value)
    if back is not None:
        return time.time() - back
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither an ISO 8601 time (2026-12-04T06:00:00Z) nor a duration "
                                 "back from now (2h)", param=param) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
