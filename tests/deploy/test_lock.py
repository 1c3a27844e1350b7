from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vhostguard.deploy import DeployLock, LockHeld

HOLDER = """
import sys
from vhostguard.deploy import DeployLock
with DeployLock(sys.argv[1], "deploy-one"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _start_holder(state: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    return child


def test_second_deploy_is_refused_with_the_first_ones_id_and_pid(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    try:
        with pytest.raises(LockHeld) as refused, DeployLock(str(tmp_path), "deploy-two"):
            pass
        assert (refused.value.holder_id, refused.value.holder_pid) == ("deploy-one", child.pid)
        assert f"deploy deploy-one (pid {child.pid}) is running" in str(refused.value)
    finally:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.close()
        child.wait(timeout=10)
    with DeployLock(str(tmp_path), "deploy-two") as holder:  # released at the first one's exit
        assert holder.pid == os.getpid()


def test_lock_of_a_killed_deploy_is_free(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with DeployLock(str(tmp_path), "after-crash") as holder:
        assert holder.deploy_id == "after-crash"


def test_lock_is_not_reentrant_across_open_files(tmp_path: Path) -> None:
    # flock is per open file: a second DeployLock in the same process is refused too.
    with DeployLock(str(tmp_path), "a"), pytest.raises(LockHeld), DeployLock(str(tmp_path), "b"):
        pass
