"""The log clock: the log's own time while lines come in, the wall clock once the logs are quiet."""
from __future__ import annotations

from vhostguard.monitor.clock import MAX_AHEAD, LogClock


def test_the_log_leads_while_lines_come_in() -> None:
    clock = LogClock()
    assert clock.now(1000.0) is None
    clock.observe(500.0, 1000.0)  # a replay: the log's time, however far behind the wall clock
    assert clock.now(1010.0) == 500.0  # still reading: no extrapolation while a backlog waits
    clock.observe(499.0, 1011.0)  # a late line does not move it back
    assert clock.now(1011.0) == 500.0


def test_a_quiet_log_lets_the_wall_clock_move_it() -> None:
    clock = LogClock()
    clock.observe(100.0, 100.5)
    clock.idle(101.0)
    assert clock.now(131.0) == 130.0
    clock.busy(131.0)  # lines again: the quiet time stays, the lines lead from there
    assert clock.now(140.0) == 130.0
    clock.observe(129.0, 140.0)  # stamped before the quiet time ended (request start times)
    assert clock.now(140.0) == 130.0
    clock.observe(141.0, 141.0)
    assert clock.now(141.0) == 141.0


def test_times_far_ahead_of_the_wall_clock_are_capped() -> None:
    clock = LogClock()
    clock.observe(10_000.0, 100.0)
    assert clock.now(100.0) == 100.0 + MAX_AHEAD


def test_a_restart_resumes_at_the_last_log_time() -> None:
    clock = LogClock()
    clock.restore({"log_time": 500.0}, 9000.0)
    assert clock.now(9100.0) == 500.0  # the backlog written meanwhile replays on its own times
