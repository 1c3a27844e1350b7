"""Sanity checks on the generated httpd module table (no apache2 needed).

Regenerate the data with:  python3 tools/gen_modules.py
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "src/vhostguard/config/data/modules.json"

DEBIAN_COMPILED_IN = [
    "core.c", "mod_so.c", "mod_watchdog.c", "http_core.c",
    "mod_log_config.c", "mod_logio.c", "mod_version.c", "mod_unixd.c",
]


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def modules(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    mods: dict[str, dict[str, Any]] = data["modules"]
    return mods


def test_top_level_shape(data: dict[str, Any]) -> None:
    assert data["generated_by"] == "tools/gen_modules.py"
    assert data["httpd_version"].startswith("2.4.")
    assert len(data["modules"]) > 100


def test_every_entry_has_the_expected_fields(modules: dict[str, dict[str, Any]]) -> None:
    for ident, entry in modules.items():
        assert ident.endswith("_module"), ident
        assert {"source", "file", "directives"} <= entry.keys(), ident
        assert entry["directives"] == sorted(set(entry["directives"])), ident
        assert "error" not in entry, f"{ident}: {entry.get('error')}"
        assert entry["source"].endswith(".c"), ident


def test_enough_directives(modules: dict[str, dict[str, Any]]) -> None:
    names = {d for entry in modules.values() for d in entry["directives"]}
    assert len(names) > 600


def test_rewrite(modules: dict[str, dict[str, Any]]) -> None:
    rewrite = modules["rewrite_module"]
    assert rewrite["source"] == "mod_rewrite.c"
    assert rewrite["file"] == "mod_rewrite.so"
    assert "RewriteRule" in rewrite["directives"]


def test_proxy(modules: dict[str, dict[str, Any]]) -> None:
    assert {"ProxyPass", "<Proxy"} <= set(modules["proxy_module"]["directives"])
    assert modules["proxy_module"]["source"] == "mod_proxy.c"


def test_ssl(modules: dict[str, dict[str, Any]]) -> None:
    assert "SSLEngine" in modules["ssl_module"]["directives"]


def test_core(modules: dict[str, dict[str, Any]]) -> None:
    core = modules["core_module"]
    assert core["source"] == "core.c"
    assert core["file"] is None
    wanted = {"<VirtualHost", "<IfModule", "<IfDirective", "<IfSection", "Include",
              "IncludeOptional", "Define", "ServerName"}
    assert wanted <= set(core["directives"])


def test_mpms(modules: dict[str, dict[str, Any]]) -> None:
    assert modules["mpm_event_module"]["source"] == "event.c"
    assert modules["mpm_prefork_module"]["source"] == "prefork.c"
    assert modules["mpm_worker_module"]["source"] == "worker.c"


def test_macro(modules: dict[str, dict[str, Any]]) -> None:
    assert {"<Macro", "Use", "UndefMacro"} <= set(modules["macro_module"]["directives"])


def test_compiled_in(data: dict[str, Any], modules: dict[str, dict[str, Any]]) -> None:
    assert data["compiled_in"] == DEBIAN_COMPILED_IN
    static = {ident: entry["source"] for ident, entry in modules.items() if entry["file"] is None}
    assert static == {
        "core_module": "core.c", "so_module": "mod_so.c", "watchdog_module": "mod_watchdog.c",
        "http_module": "http_core.c", "log_config_module": "mod_log_config.c",
        "logio_module": "mod_logio.c", "version_module": "mod_version.c",
        "unixd_module": "mod_unixd.c",
    }


def test_third_party_entries(modules: dict[str, dict[str, Any]]) -> None:
    for ident in ("wsgi_module", "php_module", "security2_module", "passenger_module",
                  "auth_openidc_module", "perl_module"):
        assert ident in modules, ident
    assert "WSGIDaemonProcess" in modules["wsgi_module"]["directives"]
    assert "php_admin_value" in modules["php_module"]["directives"]
    assert "SecRuleEngine" in modules["security2_module"]["directives"]
    assert all(modules[i].get("third_party") is True
               for i in ("wsgi_module", "php_module", "security2_module"))
    # installed modules are never marked third-party
    assert "third_party" not in modules["rewrite_module"]


def test_source_names_are_unique(modules: dict[str, dict[str, Any]]) -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for ident, entry in modules.items():
        owners[entry["source"]].append(ident)
    assert {s: i for s, i in owners.items() if len(i) > 1} == {}


def test_no_directive_has_two_spellings(modules: dict[str, dict[str, Any]]) -> None:
    spellings: dict[str, set[str]] = defaultdict(set)
    for entry in modules.values():
        for name in entry["directives"]:
            spellings[name.lower()].add(name)
    assert {k: v for k, v in spellings.items() if len(v) > 1} == {}
