#!/usr/bin/env python3
"""Generate src/vhostguard/config/data/directives.json from httpd's own sources.

For each directive of the modules Debian's apache2 ships (the names come from
data/modules.json, i.e. from the installed server's ``apache2 -L``), read its
``command_rec`` entry (``AP_INIT_TAKE1("DocumentRoot", func, data, RSRC_CONF,
"help")``, also through mod_ssl's ``SSL_CMD_*`` and ap_listen.h's
``LISTEN_COMMANDS`` macros) for the argument kind, the contexts mask and the help
text httpd appends to its argument-count errors; then the handler's body for
the ``ap_check_cmd_context(cmd, GLOBAL_ONLY)``-style context checks it makes.

The sources are a checkout of httpd's 2.4.x branch (a directory with server/,
modules/ and include/).  tests/config/test_directive_syntax_live.py checks the
result against the installed apache2.  Regenerate:

    python3 tools/gen_directive_syntax.py --httpd-src /path/to/httpd-2.4.x
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gen_modules  # tools/: runs apache2 on throw-away configs


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src/vhostguard/config/data/directives.json"
MODULES_JSON = ROOT / "src/vhostguard/config/data/modules.json"
# The MPMs Debian builds; each includes LISTEN_COMMANDS from include/ap_listen.h.
MPM_SOURCES = ("server/mpm/event/event.c", "server/mpm/prefork/prefork.c", "server/mpm/worker/worker.c")
SKIPPED_DIRS = ("server/mpm/netware", "server/mpm/winnt", "server/mpm/mpmt_os2", "modules/arch/win32",
                "modules/arch/netware", "modules/examples", "modules/test")
# include/http_config.h (and PROXY_CONF): the req_override bits.
MASK_BITS = {
    "OR_NONE": 0, "OR_LIMIT": 1, "OR_OPTIONS": 2, "OR_FILEINFO": 4, "OR_AUTHCFG": 8, "OR_INDEXES": 16,
    "OR_UNSET": 32, "ACCESS_CONF": 64, "RSRC_CONF": 128, "EXEC_ON_READ": 256, "NONFATAL_OVERRIDE": 512,
    "NONFATAL_UNKNOWN": 1024, "PROXY_CONF": 2048,
}
MASK_ALIASES = {"OR_ALL": ("OR_LIMIT", "OR_OPTIONS", "OR_FILEINFO", "OR_AUTHCFG", "OR_INDEXES"),
                "NONFATAL_ALL": ("NONFATAL_OVERRIDE", "NONFATAL_UNKNOWN")}
# include/http_config.h: ap_check_cmd_context's flags.
FORBIDDEN_BITS = {"NOT_IN_VIRTUALHOST": 1, "NOT_IN_LIMIT": 2, "NOT_IN_DIRECTORY": 4, "NOT_IN_LOCATION": 8,
                  "NOT_IN_FILES": 16, "NOT_IN_HTACCESS": 32, "NOT_IN_PROXY": 64}
FORBIDDEN_ALIASES = {
    "NOT_IN_DIR_LOC_FILE": ("NOT_IN_DIRECTORY", "NOT_IN_LOCATION", "NOT_IN_FILES"),
    "NOT_IN_DIR_CONTEXT": ("NOT_IN_LIMIT", "NOT_IN_DIRECTORY", "NOT_IN_LOCATION", "NOT_IN_FILES", "NOT_IN_PROXY"),
    "GLOBAL_ONLY": ("NOT_IN_VIRTUALHOST", "NOT_IN_LIMIT", "NOT_IN_DIRECTORY", "NOT_IN_LOCATION", "NOT_IN_FILES",
                    "NOT_IN_PROXY"),
}
KINDS = ("RAW_ARGS", "TAKE_ARGV", "NO_ARGS", "TAKE1", "TAKE2", "TAKE12", "TAKE3", "TAKE23", "TAKE123", "TAKE13",
         "ITERATE", "ITERATE2", "FLAG")

_COMMENT_OR_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*', re.DOTALL)
_INIT = re.compile(r"\bAP_INIT_([A-Z0-9_]+)\s*\(")
_SSL_CMD = re.compile(r"\bSSL_CMD_(ALL|SRV|PXY|DIR)\s*\(")
_STRING = re.compile(r'"((?:\\.|[^"\\])*)"')
_CONTEXT_CALL = re.compile(r"ap_check_cmd_context\s*\(\s*\w+\s*,([^;]*?)\)\s*;")
# A check whose only consequence is a log line (core.c set_override: "Useless use of AllowOverride").
_WARNING_ONLY = re.compile(r"if\s*\(\s*ap_check_cmd_context\s*\([^;{]*\)\s*\)\s*\{\s*ap_log_")


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    mask: tuple[str, ...]
    help: str | None
    func: str
    file: str


def strip_comments(text: str) -> str:
    """C comments out, strings kept (a ``/*`` inside a string is text)."""
    return _COMMENT_OR_STRING.sub(lambda m: m[0] if m[0][0] in "\"'" else " ", text)


def call_args(text: str, start: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose '(' is at ``start``."""
    depth, args, current, i = 0, [], [], start
    while i < len(text):
        char = text[i]
        if char == '"':
            end = _STRING.match(text, i)
            assert end is not None, text[i:i + 80]
            current.append(end[0])
            i = end.end()
            continue
        if char in "([{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(current).strip())
                return args, i + 1
        elif char == "," and depth == 1:
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    raise ValueError("unbalanced call")


def c_string(expr: str) -> str | None:
    """The value of adjacent C string literals (``"a" "b"``), None for NULL."""
    parts = _STRING.findall(expr)
    if not parts:
        return None
    value = "".join(parts)
    return re.sub(r'\\(["\\\'])', r"\1", value).replace("\\n", "\n").replace("\\t", "\t")


def object_macros(text: str) -> dict[str, str]:
    """A file's own ``#define NAME value`` (e.g. mod_autoindex's ``DIR_CMD_PERMS OR_INDEXES``)."""
    return dict(re.findall(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+([^\n]+)$", text, re.MULTILINE))


def mask_names(expr: str, macros: dict[str, str] | None = None) -> tuple[str, ...]:
    names: set[str] = set()
    for token in re.findall(r"[A-Z_]+", expr):
        if macros and token in macros and token not in MASK_BITS and token not in MASK_ALIASES:
            names.update(mask_names(macros[token]))
        elif token in MASK_ALIASES:
            names.update(MASK_ALIASES[token])
        elif token in MASK_BITS:
            names.add(token)
        else:
            raise ValueError(f"unknown override token {token!r} in {expr!r}")
    names.discard("OR_NONE")
    return tuple(sorted(names, key=MASK_BITS.__getitem__))


def forbidden_names(expr: str) -> set[str]:
    names: set[str] = set()
    for token in re.findall(r"[A-Z_]+", expr):
        if token in FORBIDDEN_ALIASES:
            names.update(FORBIDDEN_ALIASES[token])
        elif token in FORBIDDEN_BITS:
            names.add(token)
    return names


def entries_in(text: str, file: str) -> list[Entry]:
    found: list[Entry] = []
    macros = object_macros(text)
    for match in _INIT.finditer(text):
        kind = match[1]
        if kind not in KINDS:
            continue
        args, _ = call_args(text, match.end() - 1)
        name = c_string(args[0]) if args else None
        if not name or len(args) < 4:
            continue  # the macro's own #define, or an end marker
        found.append(Entry(name, kind, mask_names(args[3], macros), c_string(args[4]) if len(args) > 4 else None,
                           args[1].strip(), file))
    for match in _SSL_CMD.finditer(text):  # modules/ssl/mod_ssl.c's table macros
        args, _ = call_args(text, match.end() - 1)
        if match[1] == "DIR":
            name, klass, kind, desc = args[0], args[1], args[2], args[3]
            mask = f"OR_{klass}"
        else:
            name, kind, desc = args[0], args[1], args[2]
            mask = {"ALL": "RSRC_CONF|OR_AUTHCFG", "SRV": "RSRC_CONF", "PXY": "RSRC_CONF|PROXY_CONF"}[match[1]]
        if not re.fullmatch(r"\w+", name) or kind not in KINDS:
            continue  # the macro's #define
        found.append(Entry(f"SSL{name}", kind, mask_names(mask), c_string(desc), f"ssl_cmd_SSL{name}", file))
    return found


def function_body(text: str, func: str) -> str | None:
    match = re.search(rf"\b{re.escape(func)}\s*\(\s*cmd_parms\s*\*[^)]*\)\s*\{{", text)
    if match is None:
        return None
    depth, i = 1, match.end()
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[match.end():i]


def generate(src: Path) -> dict[str, Any]:
    texts: dict[str, str] = {}
    for path in sorted([*src.glob("server/**/*.c"), *src.glob("modules/**/*.c"), src / "include/ap_listen.h"]):
        rel = path.relative_to(src).as_posix()
        if rel.startswith(SKIPPED_DIRS):
            continue
        texts[rel] = strip_comments(path.read_text(errors="replace"))
    by_name: dict[str, list[Entry]] = {}
    for rel, text in texts.items():
        for entry in entries_in(text, rel):
            by_name.setdefault(entry.name.lower(), []).append(entry)
    catalog = json.loads(MODULES_JSON.read_text())
    table: dict[str, Any] = {}
    missing: list[str] = []
    for info in catalog["modules"].values():
        if info.get("third_party"):
            continue  # not httpd's: their syntax is not ours to know
        for name in info["directives"]:
            candidates = by_name.get(name.lower())
            if not candidates:
                missing.append(f"{name} ({info['source']})")
                continue
            stem = Path(info["source"]).stem
            own = [e for e in candidates if Path(e.file).stem == stem] or candidates
            entry = own[0]
            forbidden: set[str] = set()
            body = function_body(texts[entry.file], entry.func)
            if body is None:  # defined in another file (e.g. ap_set_listener in server/listen.c)
                body = next((b for t in texts.values() if (b := function_body(t, entry.func)) is not None), None)
            for call in _CONTEXT_CALL.findall(_WARNING_ONLY.sub("", body or "")):
                forbidden |= forbidden_names(call)
            if entry.name in table:  # e.g. the MPMs' shared directives: one entry, every module named
                table[entry.name]["modules"] = sorted({*table[entry.name]["modules"], info["source"]})
                continue
            table[entry.name] = {
                "modules": [info["source"]], "kind": entry.kind, "contexts": list(entry.mask),
                "help": entry.help, "forbidden": sorted(forbidden, key=FORBIDDEN_BITS.__getitem__),
                "defined_in": entry.file,
            }
    return {"generated_by": "tools/gen_directive_syntax.py", "httpd_version": catalog.get("httpd_version"),
            "directives": dict(sorted(table.items(), key=lambda kv: kv[0].lower())),
            "not_found_in_sources": sorted(missing)}


# The installed apache2 has the last word (the sources are a branch, Debian patches them):
# each directive is run with no arguments (its count message tells the kind and the help
# text, which the sources may build from macros) and, with arguments that fit, in each
# section its mask allows (its handler's context checks).
PROBES: dict[str, tuple[str, str, str]] = {  # section: (opening, closing, flag its refusal means)
    "VirtualHost": ("<VirtualHost *:80>", "</VirtualHost>", "NOT_IN_VIRTUALHOST"),
    "Limit": ("<Directory />\n<Limit GET>", "</Limit>\n</Directory>", "NOT_IN_LIMIT"),
    "Directory": ("<Directory />", "</Directory>", "NOT_IN_DIRECTORY"),
    "Location": ("<Location />", "</Location>", "NOT_IN_LOCATION"),
    "Files": ("<Files x>", "</Files>", "NOT_IN_FILES"),
    "Proxy": ("<Proxy *>", "</Proxy>", "NOT_IN_PROXY"),
}
# Arguments that pass each kind's count check (the handler may still refuse their value).
FITTING_ARGS = {"TAKE2": "x x", "TAKE3": "x x x", "TAKE23": "x x", "ITERATE2": "x x", "FLAG": "Off", "NO_ARGS": ""}
WORDINGS = {
    "takes one argument": "TAKE1", "takes two arguments": "TAKE2", "takes 1-2 arguments": "TAKE12",
    "takes three arguments": "TAKE3", "takes two or three arguments": "TAKE23",
    "takes one, two or three arguments": "TAKE123", "takes one or three arguments": "TAKE13",
    "requires at least one argument": "ITERATE", "requires at least two arguments": "ITERATE2",
}
SERVER_OVERRIDE = MASK_BITS["RSRC_CONF"] | MASK_BITS["OR_OPTIONS"] | MASK_BITS["OR_FILEINFO"] | MASK_BITS["OR_INDEXES"]
DIR_OVERRIDE = MASK_BITS["ACCESS_CONF"] | 31
_SYNTAX_ERROR = re.compile(r"AH00526: Syntax error on line \d+ of [^\n]*:\n(.*)", re.DOTALL)


def all_modules() -> list[gen_modules.Module]:
    """Every module Debian ships, dependencies first, with the default MPM."""
    mods = gen_modules.discover()
    order: list[gen_modules.Module] = []

    def visit(name: str) -> None:
        for dep in mods[name].deps:
            visit(dep)
        if mods[name] not in order:
            order.append(mods[name])
    for name, mod in mods.items():
        if not mod.is_mpm or name == gen_modules.DEFAULT_MPM:
            visit(name)
    return order


def _probe(binary: str, mods: list[gen_modules.Module], text: str) -> str | None:
    """apache2 -t on a config loading every module plus ``text``: None for Syntax OK, else the message."""
    with tempfile.TemporaryDirectory(prefix="vhostguard-gen-") as tmp:
        ok, out = gen_modules.Httpd(binary, Path(tmp)).run(["-t"], mods, text)
    if ok:
        return None
    match = _SYNTAX_ERROR.search(out)
    return match[1].strip() if match else out


def _verify_one(binary: str, mods: list[gen_modules.Module], name: str, entry: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    mask = sum(MASK_BITS[bit] for bit in entry["contexts"])
    if name.startswith("<") or mask & MASK_BITS["EXEC_ON_READ"]:
        return notes
    server = bool(mask & SERVER_OVERRIDE)
    home = ("", "") if server else ("<Directory />", "</Directory>") if mask & DIR_OVERRIDE else ("<Proxy *>", "</Proxy>")
    said = _probe(binary, mods, f"{home[0]}\n{name}\n{home[1]}")
    kind = None
    if said == f"{name} must be On or Off":
        kind = "FLAG"
    elif said is not None and said.startswith(f"{name} "):
        wording, _, help_text = said[len(name) + 1:].partition(", ")
        kind = WORDINGS.get(wording)
        # (apache2's last line comes back stripped: a help text ending in a space is the source's.)
        if kind is not None and help_text != (entry["help"] or "").rstrip():
            notes.append(f"{name}: help text as apache2 prints it ({entry['help']!r} in the source)")
            entry["help"] = help_text or None
    if kind is not None and kind != entry["kind"]:
        notes.append(f"{name}: apache2 checks it as {kind}, the source says {entry['kind']}")
        entry["kind"] = kind
    fitting = f"{name} {FITTING_ARGS.get(entry['kind'], 'x')}".strip()
    sections = ["VirtualHost"] if server else []
    if mask & DIR_OVERRIDE:
        sections += ["Directory", "Location", "Files", "Limit", "Proxy"]
    forbidden = set(entry["forbidden"])
    for section in sections:
        opening, closing, flag = PROBES[section]
        said = _probe(binary, mods, f"{opening}\n{fitting}\n{closing}")
        if said is None:
            if flag in forbidden:
                notes.append(f"{name}: apache2 accepts it in <{section}>, the source checks {flag}")
            forbidden.discard(flag)
        elif said.startswith(f"{name} cannot occur within ") and flag not in forbidden:
            notes.append(f"{name}: apache2 refuses it in <{section}> ({said}), the source scan missed {flag}")
            forbidden.add(flag)
    entry["forbidden"] = sorted(forbidden, key=FORBIDDEN_BITS.__getitem__)
    return notes


def verify_with_apache2(data: dict[str, Any], binary: str) -> list[str]:
    """Correct the table where the installed apache2 disagrees with the sources; the notes say where."""
    from concurrent.futures import ThreadPoolExecutor

    mods = all_modules()
    items = list(data["directives"].items())
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = pool.map(lambda item: _verify_one(binary, mods, *item), items)
        return [note for notes in results for note in notes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the httpd directive syntax table.")
    parser.add_argument("--httpd-src", type=Path, required=True, help="httpd 2.4.x source tree")
    parser.add_argument("--source-ref", default="", help="the commit the sources are from (recorded)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--apache", default="/usr/sbin/apache2", help="apache2 binary that confirms the context checks")
    args = parser.parse_args(argv)
    data = generate(args.httpd_src)
    data["corrected_by_apache2"] = verify_with_apache2(data, args.apache)
    if args.source_ref:
        data["httpd_source"] = args.source_ref
    args.output.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}: {len(data['directives'])} directives; "
          f"{len(data['not_found_in_sources'])} not found in the sources", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
