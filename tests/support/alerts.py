"""Reading what a running `watch` wrote, for the live monitor tests."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """The alerts of an `--alerts-jsonl` file so far (none before it exists)."""
    if not path.exists():
        return []
    return [json.loads(text) for text in path.read_text().splitlines() if text.strip()]


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> Any:
    """``predicate()``'s first true value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(step)
    return None
