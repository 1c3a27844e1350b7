"""``${VAR}`` expansion as httpd's ``ap_resolve_env`` does it, per logical line."""
from __future__ import annotations

from collections.abc import Callable, Mapping


def expand_variables(
    text: str,
    defined: Mapping[str, str],
    environ: Mapping[str, str],
    on_undefined: Callable[[str], None],
) -> str:
    """Replace ``${NAME}`` from Defines (those with a value), then the environment.

    httpd 2.4.71 has no default-value syntax: ``${X?=d}`` is a variable named
    ``X?=d``. An undefined variable is left as written and reported
    through ``on_undefined`` (httpd logs AH00111), unless its name contains
    ``:`` (other modules' syntax, e.g. mod_rewrite's maps; httpd stays silent).
    """
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        start = text.find("${", pos)
        end = text.find("}", start + 2) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start])
        name = text[start + 2 : end]
        value = defined.get(name)
        if value is None:
            value = environ.get(name)
        if value is None:
            if ":" not in name:
                on_undefined(name)
            value = text[start : end + 1]
        out.append(value)
        pos = end + 1
