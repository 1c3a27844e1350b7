"""``postmortem --check``: the times a hand-written postmortem states, against each other and the logs.

A human timeline says things like "an outage of approximately 2.5 hours from 11:00 to 17:30, detected
at 15:00". Each line is read for clock times (``11:00``, ``17:30:05``, ``3 pm``, ISO 8601 with a date)
and durations (``2.5 hours``, ``45 minutes``, ``2h30m``), and the words around them say what they are:
a start, an end, a detection or the outage's duration. Then: does the duration match end minus start?
Is the detection before the start, or the end before the start? And, given the logs' first and last
failing request and first alert, does each stated time agree with them (within a tolerance)?
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, UTC

DURATION_TOLERANCE = 0.10  # "approximately": a tenth of the stated duration ...
MIN_TOLERANCE_S = 300.0  # ... and never less than five minutes (people round to the quarter hour)
LOG_TOLERANCE_S = 600.0  # a stated time within ten minutes of the logs' agrees with them

_ISO = re.compile(r"\b(\d{4}-\d\d-\d\d)[T ](\d{1,2}):(\d\d)(?::(\d\d))?(?:\.\d+)?\s*(Z|UTC|[+-]\d\d:?\d\d)?", re.I)
_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):(\d\d)(?::(\d\d))?\s*(am|pm|a\.m\.|p\.m\.)?\s*(Z\b|UTC\b|[+-]\d\d:?\d\d)?",
                    re.I)
_AMPM = re.compile(r"(?<![\d:.])(\d{1,2})\s*(am|pm|a\.m\.|p\.m\.)", re.I)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b", re.I)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}
_SPELLED = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")( and a half)?\b", re.I)
_HALF = re.compile(r"\bhalf an? (hour|minute)\b", re.I)
_AN = re.compile(r"\ban? (hour|minute)\b", re.I)
_RANGE = re.compile(r"\b(from|between)\b.*\b(to|until|and|till)\b|\d\s*[-–]\s*\d", re.I)
_WORDS = {
    "detection": re.compile(r"detect|alert|paged|page\b|noticed|reported|discovered|first report", re.I),
    "end": re.compile(r"\bend(ed)?\b|resolv|restor|recover|mitigat|fixed|rolled back|back to normal", re.I),
    "start": re.compile(r"\bstart|\bbegan|\bbegin|onset|\bfirst (error|failure)|outage (began|started)", re.I),
    "duration": re.compile(r"duration|lasted|\btook\b|outage of|downtime|for (approximately|about|roughly)|total", re.I),
}


@dataclass(frozen=True)
class Stated:
    """One time or duration the text states: its role, value (seconds since midnight UTC, or since the
    epoch when the text gave a date; a duration in seconds), and the line (1-based) it is on."""

    role: str
    value: float
    line: int
    text: str
    dated: bool = False


@dataclass(frozen=True)
class LogFacts:
    """What the logs and events measured (epoch seconds)."""

    first_failure: float | None
    last_failure: float | None
    first_alert: float | None


@dataclass(frozen=True)
class Contradiction:
    line: int
    problem: str
    lines: tuple[int, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "problem": self.problem, "lines": list(self.lines or (self.line,))}


def stated_times(text: str) -> list[Stated]:
    found: list[Stated] = []
    for number, line in enumerate(text.splitlines(), 1):
        clocks = _clocks(line)
        roles = [role for role, words in _WORDS.items() if words.search(line)]
        if clocks and _RANGE.search(line) and len(clocks) >= 2:
            found.append(Stated("start", clocks[0][0], number, line.strip(), clocks[0][1]))
            found.append(Stated("end", clocks[1][0], number, line.strip(), clocks[1][1]))
            clocks = clocks[2:]
        for value, dated in clocks:
            role = next((r for r in ("detection", "end", "start") if r in roles), None)
            if role is not None:
                found.append(Stated(role, value, number, line.strip(), dated))
        if "duration" in roles or (not clocks and _DURATION.search(line) and re.search(r"approximately|about|roughly|~",
                                                                                      line, re.I)):
            seconds = _duration(_without_clocks(line))
            if seconds:
                found.append(Stated("duration", seconds, number, line.strip()))
    return found


def check(text: str, facts: LogFacts | None = None) -> list[Contradiction]:
    stated = stated_times(text)
    problems: list[Contradiction] = []
    starts = [s for s in stated if s.role == "start"]
    ends = [s for s in stated if s.role == "end"]
    detections = [s for s in stated if s.role == "detection"]
    durations = [s for s in stated if s.role == "duration"]
    start, end = (starts[0] if starts else None), (ends[-1] if ends else None)
    if start and end:
        span = end.value - start.value
        if span < 0 and not (start.dated and end.dated):
            span += 86400  # clock times without a date: the end is on the next day
        if span < 0:
            problems.append(Contradiction(end.line, f"the end ({_clock(end)}) is before the start "
                                                    f"({_clock(start)}, line {start.line})", (start.line, end.line)))
        for duration in durations:
            allowed = max(duration.value * DURATION_TOLERANCE, MIN_TOLERANCE_S)
            if span >= 0 and abs(span - duration.value) > allowed:
                problems.append(Contradiction(
                    duration.line, f"the stated duration ({_length(duration.value)}) contradicts start to end: "
                                   f"{_clock(start)} (line {start.line}) to {_clock(end)} (line {end.line}) is "
                                   f"{_length(span)}", (duration.line, start.line, end.line)))
    for detection in detections:
        if start and _before(detection, start):
            problems.append(Contradiction(detection.line, f"the detection ({_clock(detection)}) is before the start "
                                                          f"({_clock(start)}, line {start.line})",
                                          (detection.line, start.line)))
        if end and _before(end, detection):
            problems.append(Contradiction(detection.line, f"the detection ({_clock(detection)}) is after the end "
                                                          f"({_clock(end)}, line {end.line})",
                                          (detection.line, end.line)))
    if facts is not None:
        problems += _against_logs(start, end, detections[:1], facts)
    return sorted(problems, key=lambda p: p.line)


def _against_logs(start: Stated | None, end: Stated | None, detections: Sequence[Stated],
                  facts: LogFacts) -> list[Contradiction]:
    problems = []
    for stated, measured, what in ((start, facts.first_failure, "first failing request"),
                                   (end, facts.last_failure, "last failing request"),
                                   (detections[0] if detections else None, facts.first_alert, "first alert")):
        if stated is None or measured is None:
            continue
        if _distance(stated, measured) > LOG_TOLERANCE_S:
            problems.append(Contradiction(stated.line, f"{_clock(stated)} ({stated.role}) contradicts the logs: the "
                                                       f"{what} was at {_utc(measured)}"))
    if start is None and facts.first_failure is not None:
        pass  # nothing stated, nothing to contradict
    return problems


def _distance(stated: Stated, measured: float) -> float:
    if stated.dated:
        return abs(stated.value - measured)
    of_day = measured % 86400
    gap = abs(stated.value - of_day)
    return min(gap, 86400 - gap)


def _before(first: Stated, second: Stated) -> bool:
    if first.dated != second.dated:
        return (first.value % 86400) < (second.value % 86400)
    return first.value < second.value


def _clocks(line: str) -> list[tuple[float, bool]]:
    """Clock times in the order written: (seconds since midnight UTC, or epoch with a date; dated)."""
    found: list[tuple[int, float, bool]] = []
    taken: list[tuple[int, int]] = []
    for m in _ISO.finditer(line):
        zone = _zone(m.group(5))
        moment = datetime.fromisoformat(f"{m.group(1)}T{int(m.group(2)):02d}:{m.group(3)}:{m.group(4) or '00'}")
        found.append((m.start(), moment.replace(tzinfo=UTC).timestamp() - zone, True))
        taken.append(m.span())
    for pattern in (_CLOCK, _AMPM):
        for m in pattern.finditer(line):
            if any(a <= m.start() < b for a, b in taken):
                continue
            hour = int(m.group(1))
            minute = int(m.group(2)) if pattern is _CLOCK else 0
            second = int(m.group(3) or 0) if pattern is _CLOCK else 0
            ampm = (m.group(4) if pattern is _CLOCK else m.group(2)) or ""
            if ampm.lower().startswith("p") and hour < 12:
                hour += 12
            elif ampm.lower().startswith("a") and hour == 12:
                hour = 0
            if hour > 23 or minute > 59:
                continue
            zone = _zone(m.group(5)) if pattern is _CLOCK else 0.0
            found.append((m.start(), (hour * 3600 + minute * 60 + second - zone) % 86400, False))
            taken.append(m.span())
    return [(value, dated) for _, value, dated in sorted(found)]


def _zone(text: str | None) -> float:
    if not text or text.upper() in {"Z", "UTC"}:
        return 0.0
    digits = text.replace(":", "")
    sign = -1 if digits[0] == "-" else 1
    return sign * (int(digits[1:3]) * 3600 + int(digits[3:5]) * 60)


def _without_clocks(line: str) -> str:
    return _AMPM.sub(" ", _CLOCK.sub(" ", _ISO.sub(" ", line)))


def _spelled_out(line: str) -> str:
    """ "two and a half hours" as "2.5 hours", "half an hour" as "0.5 hour", "an hour" as "1 hour"."""
    line = _SPELLED.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()] + (".5" if m.group(2) else ""), line)
    return _AN.sub(r"1 \1", _HALF.sub(r"0.5 \1", line))


def _duration(line: str) -> float:
    """The duration the line states: the amounts written together ("2 hours 30 minutes") that follow
    the duration's word ("lasted", "took", ...), else the first such group."""
    line = _spelled_out(line)
    groups: list[tuple[int, float]] = []  # (start, seconds)
    end = -1
    for m in _DURATION.finditer(line):
        seconds = float(m.group(1)) * _UNIT[m.group(2)[0].lower()]
        if groups and re.fullmatch(r"[\s,]*(and)?\s*", line[end:m.start()]):
            groups[-1] = (groups[-1][0], groups[-1][1] + seconds)
        else:
            groups.append((m.start(), seconds))
        end = m.end()
    word = _WORDS["duration"].search(line)
    after = [seconds for start, seconds in groups if word is not None and start >= word.start()]
    return after[0] if after else (groups[0][1] if groups else 0.0)


def _clock(stated: Stated) -> str:
    if stated.dated:
        return _utc(stated.value)
    whole = int(stated.value)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}" + (f":{whole % 60:02d}" if whole % 60 else "")


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _length(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours} h " if hours else "") + f"{minutes} min" + (f" {secs} s" if secs else "")
