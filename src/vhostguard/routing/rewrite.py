"""Server-context mod_rewrite: RewriteEngine, RewriteCond, RewriteRule.

Follows modules/mappers/mod_rewrite.c (``apply_rewrite_list``,
``apply_rewrite_rule``, ``hook_uri2file``): rules run once, in order, on the
decoded URL-path; a match with its conditions applies the substitution and
its flags; the final value decides whether the request is proxied,
redirected, refused, passed through to mod_alias/mod_proxy, or mapped to a
file.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from vhostguard.config import split_words
from vhostguard.config import Directive
from vhostguard.model import Server
from vhostguard.routing.request import escape_uri
from vhostguard.routing.sections import ServerLevels, server_levels

_REDIRECT_NAMES = {"permanent": 301, "temp": 302, "seeother": 303}
_ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*):(?://)?", re.IGNORECASE)
_SCHEMES = ("http://", "https://", "ftp://", "ws://", "wss://", "ajp://", "balancer://", "fcgi://", "scgi://", "h2://", "h2c://", "unix:", "mailto:", "ldap://", "news:", "nntp://", "gopher://", "uwsgi://")


class RewriteUnsupported(Exception):
    """Something in the rules this model does not evaluate (RewriteMap, a PCRE-only regex...)."""


@dataclass(frozen=True, slots=True)
class Flags:
    last: bool = False
    end: bool = False
    redirect: int | None = None
    proxy: bool = False
    passthrough: bool = False
    status: int | None = None  # F, G or R=4xx/5xx
    nocase: bool = False
    qsappend: bool = False
    qsdiscard: bool = False
    noescape: bool = False
    chain: bool = False
    skip: int = 0
    next: bool = False
    handler: str | None = None
    escape_backrefs: str | None = None  # [B] or [B=chars]: "" escapes every such character
    backref_noplus: bool = False  # [BNP]: a space in a backreference becomes %20, not +
    backref_keep: str = ""  # [BNE=chars]: characters an escaping flag leaves as they are
    backref_ctls: bool = False  # [BCTLS]: escape only controls and space (implies backreference escaping)
    qslast: bool = False  # [QSL]: the query starts after the last '?' of the substitution, not the first
    allow_3f: bool = False  # [UnsafeAllow3F]: a '?' that an expansion brought may start the query
    discardpath: bool = False  # [DPI]: per-directory rules drop the PATH_INFO they re-add
    nosubreq: bool = False  # [NS], or any [R]: the rule is skipped in subrequests (mod_dir's index lookups)
    env: tuple[str, ...] = ()  # [E=NAME:VALUE] / [E=!NAME], as written


@dataclass(frozen=True, slots=True)
class Condition:
    node: Directive
    test: str
    pattern: str
    nocase: bool
    ornext: bool


@dataclass(frozen=True, slots=True)
class Rule:
    node: Directive
    pattern: str
    substitution: str
    flags: Flags
    conditions: tuple[Condition, ...]


def parse_flags(text: str) -> tuple[Flags, list[str]]:  # noqa: C901 - one branch per flag, as mod_rewrite's parser
    """Parse ``[L,R=301,...]``; unknown flags are returned for the caller to report."""
    if not text:
        return Flags(), []
    body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    values: dict[str, object] = {}
    unknown: list[str] = []
    for raw in body.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        key = name.strip().lower()
        if key in ("l", "last"):
            values["last"] = True
        elif key == "end":
            values["end"] = True
        elif key in ("r", "redirect"):
            code = _REDIRECT_NAMES.get(value.lower()) if value else 302
            if code is None:
                code = int(value) if value.isdigit() else 302
            if 300 <= code < 400:
                values["redirect"] = code
            else:
                values["status"] = code
            values["nosubreq"] = True  # RULEFLAG_FORCEREDIRECT, whatever the code
        elif key in ("p", "proxy"):
            values["proxy"] = True
        elif key in ("pt", "passthrough"):
            values["passthrough"] = True
        elif key in ("f", "forbidden"):
            values["status"] = 403
        elif key in ("g", "gone"):
            values["status"] = 410
        elif key in ("nc", "nocase"):
            values["nocase"] = True
        elif key in ("qsa", "qsappend"):
            values["qsappend"] = True
        elif key in ("qsd", "qsdiscard"):
            values["qsdiscard"] = True
        elif key in ("ne", "noescape"):
            values["noescape"] = True
        elif key in ("c", "chain"):
            values["chain"] = True
        elif key in ("s", "skip"):
            values["skip"] = int(value) if value.isdigit() else 0
        elif key in ("n", "next"):
            values["next"] = True
        elif key in ("h", "handler"):
            values["handler"] = value
        elif key == "b":
            values["escape_backrefs"] = value
        elif key in ("bnp", "backrefnoplus"):
            values["backref_noplus"] = True
        elif key == "bne":
            values["backref_keep"] = value  # (empty: apache2 refuses the config, AH00526)
        elif key in ("qsl", "qslast"):
            values["qslast"] = True
        elif key == "unsafeallow3f":
            values["allow_3f"] = True
        elif key == "bctls":
            values["backref_ctls"] = True
            values.setdefault("escape_backrefs", "")  # RULEFLAG_ESCAPECTLS|RULEFLAG_ESCAPEBACKREF
        elif key in ("dpi", "discardpath"):
            values["discardpath"] = True
        elif key in ("ns", "nosubreq"):
            values["nosubreq"] = True
        elif key in ("e", "env"):
            values["env"] = (*values.get("env", ()), value)  # type: ignore[misc]
        elif key in ("t", "type", "co", "cookie", "unsafeprefixstat", "nd", "nodecode"):
            continue  # no effect on where the request goes
        else:
            unknown.append(item)
    return Flags(**values), unknown  # type: ignore[arg-type]


def _cond_flags(text: str) -> tuple[bool, bool]:
    if not text:
        return False, False
    names = {p.strip().lower() for p in text.strip("[]").split(",")}
    return bool(names & {"nc", "nocase"}), bool(names & {"or", "ornext"})


def collect_rules(directives: tuple[Directive, ...]) -> tuple[list[Rule], list[str]]:
    """RewriteRules with their preceding RewriteConds, in order; plus problems found."""
    rules: list[Rule] = []
    pending: list[Condition] = []
    problems: list[str] = []
    for node in directives:
        if node.key == "rewritecond":
            words = node.args if node.args else tuple(split_words(node.arg_text))
            if len(words) < 2:
                problems.append(f"{node.source}: RewriteCond needs a test string and a pattern")
                continue
            nocase, ornext = _cond_flags(words[2] if len(words) > 2 else "")
            pending.append(Condition(node, words[0], words[1], nocase, ornext))
        elif node.key == "rewriterule":
            words = node.args
            if len(words) < 2:
                problems.append(f"{node.source}: RewriteRule needs a pattern and a substitution")
                pending = []
                continue
            flags, unknown = parse_flags(words[2] if len(words) > 2 else "")
            if unknown:
                problems.append(f"{node.source}: unknown RewriteRule flag(s) {', '.join(unknown)}")
            rules.append(Rule(node, words[0], words[1], flags, tuple(pending)))
            pending = []
    return rules, problems


def engine_on(directives: tuple[Directive, ...]) -> Directive | None:
    """The last RewriteEngine directive if it turns the engine on."""
    last = None
    for node in directives:
        if node.key == "rewriteengine":
            last = node
    if last is not None and last.args and last.args[0].lower() == "on":
        return last
    return None


def inherit_mode(directives: tuple[Directive, ...]) -> str | None:
    for node in reversed(directives):
        if node.key == "rewriteoptions":
            words = {a.lower() for a in node.args}
            if "inherit" in words:
                return "after"
            if "inheritbefore" in words:
                return "before"
            return None
    return None


class EnvStore:
    """``r->subprocess_env`` as ``%{ENV:NAME}`` reads it during one round of a request:
    what [E] flags set, and after an internal redirect the earlier round's variables
    renamed ``REDIRECT_NAME`` with ``REDIRECT_STATUS`` (``ap_internal_redirect``).

    A name nothing here sets reads as empty when only [E] flags could set it (``known``);
    else (SetEnvIf in the config, the process environment) it is not known offline.
    """

    __slots__ = ("known", "open", "values")

    def __init__(self, values: dict[str, str] | None = None, open_names: bool = False) -> None:
        self.values: dict[str, str] = dict(values or {})
        self.known: set[str] = set()
        self.open = open_names  # something other than [E] may set variables (SetEnvIf, BrowserMatch)

    def get(self, name: str) -> str:
        found = self.values.get(name)
        if found is not None:
            return found
        if not self.open and (name in self.known or name.startswith("REDIRECT_")):
            return ""
        raise RewriteUnsupported(f"%{{ENV:{name}}} may be set outside the rewrite rules (SetEnvIf, the process "
                                 "environment): not modelled")

    def learn(self, rules: list[Rule]) -> None:
        """Note the names these rules' [E] flags may set (they read as empty until then)."""
        for rule in rules:
            for spec in rule.flags.env:
                self.known.add(spec.lstrip("!").split(":", 1)[0])

    def apply(self, texts: list[str]) -> None:
        """``do_expand_env``, given each [E] spec expanded whole: ``!NAME`` unsets, ``NAME:VALUE`` sets."""
        for text in texts:
            if text.startswith("!"):
                self.values.pop(text[1:], None)
            else:
                name, _, value = text.partition(":")
                self.values[name] = value

    def redirected(self) -> EnvStore:
        """The store of the round an internal redirect starts."""
        renamed = {f"REDIRECT_{name}": value for name, value in self.values.items()}
        renamed["REDIRECT_STATUS"] = "200"
        fresh = EnvStore(renamed, self.open)
        fresh.known = {f"REDIRECT_{name}" for name in self.known} | self.known
        return fresh


class RewriteEnv(Protocol):
    """What rules can read about the request (``%{VAR}``).

    A protocol, so the router can work values out only when a rule asks:
    most requests match no rule and read nothing.
    """

    @property
    def document_root(self) -> str: ...

    @property
    def own_prefixes(self) -> tuple[str, ...]:
        """scheme://host[:port] forms that reduce to a local path."""
        ...

    def lookup(self, name: str) -> str | None:
        """The value of ``%{name}``; None for an unknown variable."""
        ...

    def fully_qualify(self, target: str) -> str: ...

    def file_kind(self, path: str) -> str | None:
        """'file' (a regular file), 'dir' or None, as the router sees the filesystem (its cache)."""
        ...

    @property
    def variables(self) -> EnvStore:
        """The round's environment variables (``%{ENV:...}``, [E])."""
        ...

    def lookup_file(self, path: str) -> bool:
        """``RewriteCond -F``: would a subrequest for the file ``path`` succeed (it exists and
        access to it is granted)? Raises RewriteUnsupported where that is not known."""
        ...


# Trace details that name nothing request-specific (the router reuses their steps).
NO_MATCH = "pattern does not match"
CONDITIONS_FAIL = "pattern matches, conditions fail"
NO_SUBSTITUTION = "matches: no substitution"
FIXED_DETAILS = (NO_MATCH, CONDITIONS_FAIL, NO_SUBSTITUTION)


@dataclass
class RewriteResult:
    """What server-context rewriting did to the request."""

    action: str  # none | status | proxy | redirect | passthrough | file
    target: str | None = None
    status: int | None = None
    rule: Rule | None = None
    query: str | None = None
    handler: str | None = None
    trace: list[tuple[Directive, str]] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    end: bool = False  # an [END] rule ran: no rewriting at all for the rest of the request


@lru_cache(maxsize=8192)
def _compile(pattern: str, nocase: bool) -> re.Pattern[str]:
    translated = pattern
    try:
        return re.compile(translated, re.IGNORECASE if nocase else 0)
    except re.error as exc:
        raise RewriteUnsupported(f"regex {pattern!r} is not understood here ({exc})") from None


_VAR = re.compile(r"%\{([^}]*)\}|\$\{([^}]*)\}|([$%])(\d)|\\(.)", re.DOTALL)


def expand(text: str, rule_groups: tuple[str, ...], cond_groups: tuple[str, ...], env: RewriteEnv) -> str:
    """mod_rewrite's ``do_expand``: ``$N``, ``%N``, ``%{VAR}``; ``${map:key}`` is not modelled."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            value = env.lookup(match.group(1))
            if value is None:
                raise RewriteUnsupported(f"variable %{{{match.group(1)}}} is not modelled")
            return value
        if match.group(2) is not None:
            raise RewriteUnsupported(f"RewriteMap lookup ${{{match.group(2)}}} is not modelled")
        if match.group(3) is not None:
            groups = rule_groups if match.group(3) == "$" else cond_groups
            index = int(match.group(4))
            return groups[index] if index < len(groups) and groups[index] is not None else ""
        return match.group(5)

    return _VAR.sub(replace, text)


UNSAFE_3F = "a '?' from an expansion (a decoded %3F) would start the query: 403 (AH10508; [UnsafeAllow3F] allows it)"


def unsafe_question_mark(text: str, expanded: str, rule_groups: tuple[str, ...], cond_groups: tuple[str, ...],
                         env: RewriteEnv, flags: Flags) -> bool:
    """``do_expand``'s unsafe_qmark (2.4.60+): is the '?' that splits off the query (the first,
    or with [QSL] the last) one that an expansion ($N, %N, %{VAR}) brought in rather than one
    written in ``text``? ``expanded``: ``text`` expanded. False without such a '?' or with
    [UnsafeAllow3F]."""
    if flags.allow_3f or "?" not in expanded:
        return False
    pieces: list[tuple[str, bool]] = []  # (text, came from an expansion), in order
    position = 0
    for match in _VAR.finditer(text):
        pieces.append((text[position:match.start()], False))
        escaped = match.group(5)
        pieces.append((escaped, False) if escaped is not None else (expand(match.group(0), rule_groups, cond_groups, env), True))
        position = match.end()
    pieces.append((text[position:], False))
    holding = [from_expansion for piece, from_expansion in pieces if "?" in piece]
    return bool(holding) and (holding[-1] if flags.qslast else holding[0])


def _file_test(op: str, value: str) -> bool:
    if op == "-f":
        return os.path.isfile(value)
    if op == "-d":
        return os.path.isdir(value)
    if op == "-s":
        return os.path.isfile(value) and os.path.getsize(value) > 0
    if op in ("-l", "-L", "-h"):
        return os.path.islink(value)
    if op == "-x":
        return os.path.isfile(value) and os.access(value, os.X_OK)
    raise RewriteUnsupported(f"RewriteCond test {op} needs a subrequest and is not modelled")


def _compare(op: str, left: str, right: str, nocase: bool) -> bool:
    if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            a, b = int(left), int(right)
        except ValueError:
            return False
        return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[op]
    if nocase:
        left, right = left.lower(), right.lower()
    return {"=": left == right, "<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def _condition_holds(cond: Condition, rule_groups: tuple[str, ...], cond_groups: tuple[str, ...], env: RewriteEnv) -> tuple[bool, tuple[str, ...] | None]:
    value = expand(cond.test, rule_groups, cond_groups, env)
    pattern = cond.pattern
    negate = pattern.startswith("!")
    if negate:
        pattern = pattern[1:]
    groups: tuple[str, ...] | None = None
    if pattern == "-F":
        # ap_sub_req_lookup_file: the directory walk and access checks of a subrequest.
        result = bool(value) and env.lookup_file(value)
    elif pattern in ("-f", "-d"):
        result = env.file_kind(value) == ("file" if pattern == "-f" else "dir")
    elif pattern in ("-s", "-l", "-L", "-h", "-x", "-U"):
        result = _file_test(pattern, value)
    elif pattern.startswith("-ipmatch"):
        raise RewriteUnsupported("RewriteCond -ipmatch is not modelled")
    elif pattern[:3] in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        result = _compare(pattern[:3], value, expand(pattern[3:], rule_groups, cond_groups, env), False)
    elif pattern[:2] in ("<=", ">="):
        result = _compare(pattern[:2], value, _literal(pattern[2:]), cond.nocase)
    elif pattern[:1] in ("=", "<", ">"):
        result = _compare(pattern[:1], value, _literal(pattern[1:]), cond.nocase)
    else:
        found = _compile(pattern, cond.nocase).search(value)
        result = found is not None
        if found is not None and not negate:
            groups = (found.group(0), *found.groups(default=""))
    return result != negate, groups


def _literal(text: str) -> str:
    return "" if text == '""' else text


def _conditions_hold(rule: Rule, rule_groups: tuple[str, ...], env: RewriteEnv) -> tuple[bool, tuple[str, ...]]:
    """Evaluate the rule's conditions with [OR] chaining; return the %N groups."""
    cond_groups: tuple[str, ...] = ()
    conditions = rule.conditions
    index = 0
    while index < len(conditions):
        cond = conditions[index]
        held, groups = _condition_holds(cond, rule_groups, cond_groups, env)
        if groups is not None:
            cond_groups = groups
        if cond.ornext:
            if held:
                # skip the rest of this OR-chain
                while index < len(conditions) and conditions[index].ornext:
                    index += 1
                index += 1
                continue
            index += 1
            continue
        if not held:
            return False, cond_groups
        index += 1
    return True, cond_groups


def _split_query(new: str, old_query: str | None, flags: Flags) -> tuple[str, str | None]:
    """``splitout_queryargs``: a '?' in the substitution replaces (or with QSA, prefixes) the query."""
    if flags.qsdiscard:
        old_query = None
    if "?" not in new:
        return new, old_query
    path, _, query = new.rpartition("?") if flags.qslast else new.partition("?")
    if flags.qsappend and old_query:
        query = f"{query}&{old_query}" if query else old_query
    return path, (query or None)


# A pattern whose meaning depends on its group numbers, which combining would shift.
_GROUP_NUMBERS = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def any_rule_pattern(rules: list[Rule]) -> re.Pattern[str] | None:
    """One regex that finds a match in a URL-path exactly when some rule's pattern does.

    Most requests match no rule; for those ``run_rules`` only notes "pattern does
    not match" rule after rule, which this single search can vouch for. None when
    that equivalence does not hold or is not certain: a negated rule, a chained
    one ([C] changes which rules are tried), group-number references, or a
    pattern that does not compile (alone or inside a group).
    """
    parts: list[str] = []
    for rule in rules:
        pattern = rule.pattern
        if pattern.startswith("!") or rule.flags.chain or _GROUP_NUMBERS.search(pattern):
            return None
        try:
            _compile(pattern, rule.flags.nocase)
        except RewriteUnsupported:
            return None
        parts.append(f"(?i:{pattern})" if rule.flags.nocase else f"(?:{pattern})")
    try:
        return re.compile("|".join(parts))
    except re.error:
        return None


def _is_absolute(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(_SCHEMES)


def run_rules(rules: list[Rule], uri: str, query: str | None, env: RewriteEnv) -> RewriteResult:  # noqa: C901 - mod_rewrite's rule loop, step by step
    """Apply server-context rules to the decoded ``uri`` and ``query``."""
    result = RewriteResult("none", query=query)
    current = uri
    changed = False
    status_code: int | None = None
    index = 0
    env.variables.learn(rules)
    while index < len(rules):
        rule = rules[index]
        index += 1
        negate = rule.pattern.startswith("!")
        regex = _compile(rule.pattern[1:] if negate else rule.pattern, rule.flags.nocase)
        found = regex.search(current)
        if (found is None) != negate:
            result.trace.append((rule.node, NO_MATCH))
            if rule.flags.chain:
                while index < len(rules) and rules[index - 1].flags.chain:
                    index += 1
            continue
        rule_groups = (found.group(0), *found.groups(default="")) if found is not None and not negate else ("",)
        held, cond_groups = _conditions_hold(rule, rule_groups, env)
        if not held:
            result.trace.append((rule.node, CONDITIONS_FAIL))
            if rule.flags.chain:
                while index < len(rules) and rules[index - 1].flags.chain:
                    index += 1
            continue
        flags = rule.flags
        if flags.env:
            env.variables.apply([expand(spec, rule_groups, cond_groups, env) for spec in flags.env])
        if flags.next:
            raise RewriteUnsupported(f"{rule.node.source}: RewriteRule [N] (loop) is not modelled")
        if rule.substitution != "-":
            if flags.escape_backrefs is not None:
                rule_groups, cond_groups = _escape_backrefs(rule_groups, flags), _escape_backrefs(cond_groups, flags)
            new = expand(rule.substitution, rule_groups, cond_groups, env)
            if unsafe_question_mark(rule.substitution, new, rule_groups, cond_groups, env, flags):
                result.trace.append((rule.node, f"matches: {UNSAFE_3F}"))
                result.action, result.status, result.rule = "status", 403, rule
                return result
            current, result.query = _split_query(new, result.query, flags)
            changed = True
        elif flags.qsdiscard:
            result.query = None
        result.rule = rule
        if flags.handler:
            result.handler = flags.handler
        if flags.status is not None:
            result.trace.append((rule.node, f"matches: responds {flags.status}"))
            result.action, result.status = "status", flags.status
            return result
        if flags.proxy:
            target = env.fully_qualify(current)
            result.trace.append((rule.node, f"matches: proxies to {target}"))
            result.action, result.target = "proxy", target
            return result
        if flags.redirect is not None:
            current = env.fully_qualify(current)
            status_code = flags.redirect
            result.trace.append((rule.node, f"matches: redirect {flags.redirect} to {current}"))
        elif rule.substitution != "-":
            current = _reduce(current, env)
            if _is_absolute(current):
                status_code = status_code or 302
                result.trace.append((rule.node, f"matches: absolute URL, redirect to {current}"))
            else:
                result.trace.append((rule.node, f"matches: rewritten to {current}"))
        else:
            result.trace.append((rule.node, NO_SUBSTITUTION))
        if flags.passthrough:
            result.action, result.target = "passthrough", current
            return result
        if flags.end or flags.last:
            result.end = flags.end
            break
        if flags.skip:
            index += flags.skip
    if not changed and status_code is None:
        return result
    if status_code is not None or _is_absolute(current):
        location = current if rules and result.rule and result.rule.flags.noescape else _escape_location(current)
        if result.query:
            # A query the rules changed is escaped too (unless [NE]): ap_escape_uri, so the %
            # of a [B]-escaped backreference becomes %25 (apache2 2.4.71).
            kept = result.query == query or (result.rule is not None and result.rule.flags.noescape)
            location += "?" + (result.query if kept else escape_uri(result.query, _QUERY_SAFE))
        result.action, result.status, result.target = "redirect", status_code or 302, location
        return result
    if not current.startswith("/"):
        result.action, result.status = "status", 400
        return result
    result.action, result.target = "file", current if _prefix_exists(current) else env.document_root.rstrip("/") + current
    return result


_QUERY_SAFE = "$+!*'(),:;@&=/~"  # with the alphanumerics and "_.-": what T_OS_ESCAPE_PATH leaves


def _escape_backrefs(groups: tuple[str, ...], flags: Flags) -> tuple[str, ...]:
    """mod_rewrite's ``escape_backref`` (2.4.58+): which bytes are escaped is every byte ([B]),
    those of ``chars`` ([B=chars]) or controls and space ([BCTLS]; with [B=chars], those as
    well), less the characters of [BNE=chars]. An escaped alphanumeric or "_" stays, a space
    becomes "+" (not with [BNP]), any other byte %xx in lower case."""
    chars = flags.escape_backrefs or ""
    keep = flags.backref_keep
    escaped = []
    for group in groups:
        out = []
        for byte in group.encode("utf-8", "surrogateescape"):
            char = chr(byte)
            if flags.backref_ctls:
                chosen = byte <= 0x20 or byte == 0x7F  # not T_VCHAR_OBSTEXT
            else:
                chosen = not chars
            chosen = (chosen or (bool(chars) and char in chars)) and not (keep and char in keep)
            if not chosen or (char.isascii() and (char.isalnum() or char == "_")):
                out.append(char)
            elif char == " " and not flags.backref_noplus:
                out.append("+")
            else:
                out.append(f"%{byte:02x}")
        escaped.append("".join(out))
    return tuple(escaped)


def _reduce(url: str, env: RewriteEnv) -> str:
    """``reduce_uri``: a URL naming this very server becomes a local path."""
    lowered = url.lower()
    for prefix in env.own_prefixes:
        if lowered.startswith(prefix.lower()) and (len(url) == len(prefix) or url[len(prefix)] in "/?"):
            rest = url[len(prefix):]
            return rest if rest.startswith("/") else "/" + rest
    return url


def _escape_location(url: str) -> str:
    """``escape_absolute_uri``: the path after the host escaped by ap_escape_uri, "%" included
    (/to/a%25b goes out as /to/a%2525b, apache2 2.4.71: hence [NE] in real recipes)."""
    match = _ABSOLUTE.match(url)
    if not match:
        return escape_uri(url, "/:@!$&'()*+,;=~")
    head = url[: match.end()]
    rest = url[match.end():]
    host, slash, path = rest.partition("/")
    return head + host + slash + escape_uri(path, "/:@!$&'()*+,;=~")


escape_location = _escape_location  # (for per-directory redirects)


def _prefix_exists(path: str) -> bool:
    """``prefix_stat``: does the first path component exist on this filesystem?"""
    first = "/" + path.lstrip("/").split("/", 1)[0]
    return first != "/" and os.path.exists(first)


def rules_for(main: Server, server: Server, levels: ServerLevels | None = None) -> tuple[Directive | None, list[Rule], list[str]]:
    """The engine switch and the rules that run for ``server`` (with RewriteOptions Inherit).

    ``levels``: the two servers' server-level directives (``server_levels``), if already at hand.
    """
    main_own, own = levels or server_levels(main, server)
    if server.is_main:
        rules, problems = collect_rules(main_own)
        return engine_on(main_own), rules, problems
    if not any([d.key.startswith("rewrite") for d in own]):  # (a list: quicker than a generator here)
        return engine_on(main_own), [], []  # the usual vhost: no rules, the main server's switch
    engine = engine_on(own) if any(d.key == "rewriteengine" for d in own) else engine_on(main_own)
    rules, problems = collect_rules(own)
    mode = inherit_mode(own)
    if mode is not None:
        parent, parent_problems = collect_rules(main_own)
        rules = rules + parent if mode == "after" else parent + rules
        problems += parent_problems
    return engine, rules, problems


class PerDirEnv(RewriteEnv, Protocol):
    """A RewriteEnv whose ``%{REQUEST_FILENAME}`` follows the rules' rewrites (per-directory rules
    read and change ``r->filename``)."""

    def set_filename(self, filename: str) -> None: ...


@dataclass
class PerDirResult:
    """What one per-directory rule list did (``apply_rewrite_list`` with a directory prefix).

    ``action``: none (no rule substituted: the request goes on unchanged), status, proxy,
    redirect (``target`` the absolute URL, before the fixup's RewriteBase and escaping),
    or local (``target`` the new filename or URL-path).
    """

    action: str
    target: str | None = None
    status: int | None = None
    query: str | None = None
    rule: Rule | None = None
    end: bool = False
    noescape: bool = False
    trace: list[tuple[Directive, str]] = field(default_factory=list)


def _skip_chain(rules: list[Rule], index: int) -> int:
    while index < len(rules) and rules[index - 1].flags.chain:
        index += 1
    return index


def run_perdir_rules(rules: list[Rule], filename: str, path_info: str, perdir: str, query: str | None,  # noqa: C901
                     env: PerDirEnv, subrequest: bool = False) -> PerDirResult:
    """mod_rewrite's per-directory rule loop (``apply_rewrite_list``/``apply_rewrite_rule`` with
    ``perdir``): each rule matches ``filename`` + ``path_info`` with the ``perdir`` prefix
    stripped; a relative substitution gets the prefix back; [R] and [P] make the URL absolute.
    In a ``subrequest`` (mod_dir's DirectoryIndex lookup) [NS] and [R] rules are skipped."""
    result = PerDirResult("none", query=query)
    current = filename
    changed = False
    redirect_status: int | None = None
    index = 0
    env.variables.learn(rules)
    while index < len(rules):
        rule = rules[index]
        index += 1
        if subrequest and rule.flags.nosubreq:
            continue
        subject = current + path_info
        if not current.startswith("proxy:") and subject.startswith(perdir):
            subject = subject[len(perdir):]
        negate = rule.pattern.startswith("!")
        found = _compile(rule.pattern[1:] if negate else rule.pattern, rule.flags.nocase).search(subject)
        if (found is None) != negate:
            result.trace.append((rule.node, NO_MATCH))
            if rule.flags.chain:
                index = _skip_chain(rules, index)
            continue
        rule_groups = (found.group(0), *found.groups(default="")) if found is not None and not negate else ("",)
        env.set_filename(current)
        held, cond_groups = _conditions_hold(rule, rule_groups, env)
        if not held:
            result.trace.append((rule.node, CONDITIONS_FAIL))
            if rule.flags.chain:
                index = _skip_chain(rules, index)
            continue
        flags = rule.flags
        if flags.next:
            raise RewriteUnsupported(f"{rule.node.source}: RewriteRule [N] (loop) is not modelled")
        if flags.env:
            env.set_filename(current)
            env.variables.apply([expand(spec, rule_groups, cond_groups, env) for spec in flags.env])
        if flags.status is not None:
            result.trace.append((rule.node, f"matches: responds {flags.status}"))
            result.action, result.status, result.rule = "status", flags.status, rule
            return result
        if rule.substitution == "-":
            result.trace.append((rule.node, NO_SUBSTITUTION))
            if flags.qsdiscard:
                result.query = None
        else:
            if flags.escape_backrefs is not None:
                rule_groups, cond_groups = _escape_backrefs(rule_groups, flags), _escape_backrefs(cond_groups, flags)
            new = expand(rule.substitution, rule_groups, cond_groups, env)
            if unsafe_question_mark(rule.substitution, new, rule_groups, cond_groups, env, flags):
                result.trace.append((rule.node, f"matches: {UNSAFE_3F}"))
                result.action, result.status, result.rule = "status", 403, rule
                return result
            if not new.startswith("/") and not _is_absolute(new):
                new = perdir + new  # "add per-dir prefix"
            new, result.query = _split_query(new, result.query, flags)
            if flags.discardpath:
                path_info = ""
            current = new
            changed = True
            result.rule = rule
            result.noescape = flags.noescape
            if flags.proxy:
                target = env.fully_qualify(current)
                result.trace.append((rule.node, f"matches: proxies to {target}"))
                result.action, result.target = "proxy", target
                result.end = flags.end
                return result
            if flags.redirect is not None:
                current = env.fully_qualify(current)
                redirect_status = flags.redirect
                result.trace.append((rule.node, f"matches: redirect {flags.redirect} to {current}"))
            else:
                current = _reduce(current, env)
                if _is_absolute(current):
                    redirect_status = 302
                    result.trace.append((rule.node, f"matches: absolute URL, redirect to {current}"))
                else:
                    result.trace.append((rule.node, f"matches: rewritten to {current}"))
        if flags.passthrough:
            break
        if flags.end:
            result.end = True
            break
        if flags.last:
            break
        if flags.skip:
            index += flags.skip
    if not changed:
        return result
    if _is_absolute(current):
        result.action, result.status, result.target = "redirect", redirect_status or 302, current
        return result
    result.action, result.target = "local", current
    return result
