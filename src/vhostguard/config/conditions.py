"""Evaluation of httpd's read-time conditional sections.

``<IfDefine>``, ``<IfModule>``, ``<IfFile>``, ``<IfDirective>``,
``<IfSection>`` (core's ``start_cond_section``: only the first word counts,
``!`` negates) and mod_version's ``<IfVersion>``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from vhostguard.config.lexer import next_word, split_words
from vhostguard.config.modules import ModuleState

CONDITIONAL_SECTIONS = frozenset({"ifdefine", "ifmodule", "iffile", "ifdirective", "ifsection", "ifversion"})


class ConditionError(Exception):
    """A conditional section httpd would reject (missing argument, bad version)."""


@dataclass(frozen=True, slots=True)
class ConditionContext:
    is_defined: Callable[[str], bool]
    modules: ModuleState
    server_root: str
    httpd_version: str


def evaluate(section: str, arg_text: str, ctx: ConditionContext) -> bool:
    """Whether the body of ``<section arg_text>`` is read."""
    key = section.lower()
    if key == "ifversion":
        return _if_version(arg_text, ctx.httpd_version)
    negate = arg_text.startswith("!")
    first, _ = next_word(arg_text[1:] if negate else arg_text)
    if not first:
        raise ConditionError(f"<{section}> directive requires additional arguments")
    if key == "ifdefine":
        result = ctx.is_defined(first)
    elif key == "ifmodule":
        result = ctx.modules.has_module(first)
    elif key == "iffile":
        path = first if os.path.isabs(first) else os.path.join(ctx.server_root, first)
        result = os.path.exists(path)
    elif key == "ifdirective":
        result = ctx.modules.has_directive(first)
    else:  # ifsection
        result = ctx.modules.has_directive("<" + first)
    return result != negate


def _version_tuple(text: str) -> tuple[int, int, int]:
    parts = (text.split(".") + ["0", "0"])[:3]
    try:
        major, minor, patch = (int(p) for p in parts)
    except ValueError:
        raise ConditionError(f"unrecognized version '{text}'") from None
    return major, minor, patch


def _if_version(arg_text: str, current: str) -> bool:
    words = split_words(arg_text)
    if not words:
        raise ConditionError("<IfVersion> directive requires additional arguments")
    if len(words) == 1:
        operator, wanted = "=", words[0]
    else:
        operator, wanted = words[0], words[1]
    negate = operator.startswith("!")
    if negate:
        operator = operator[1:]
    if wanted.startswith("/") and wanted.endswith("/") and len(wanted) > 1 and operator in ("=", "=="):
        operator, wanted = "~", wanted[1:-1]
    if operator == "~":
        try:
            result = re.search(wanted, current) is not None
        except re.error as exc:
            raise ConditionError(f"invalid regex in <IfVersion>: {exc}") from None
        return result != negate
    have, want = _version_tuple(current), _version_tuple(wanted)
    compare = {
        "=": have == want, "==": have == want,
        ">": have > want, ">=": have >= want,
        "<": have < want, "<=": have <= want,
    }
    if operator not in compare:
        raise ConditionError(f"unknown IfVersion operator '{operator}'")
    return compare[operator] != negate
