from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.helpers import Site, readable_dir, writer


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with readable_dir(tmp_path) as root:
        yield writer(root)
