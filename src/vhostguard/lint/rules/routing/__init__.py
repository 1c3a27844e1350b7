"""VG1xx routing: requests that go to a vhost, backend or path they were not meant for.

One module per rule (``vgNNN_rule_name.py``, documentation in the class
docstring); ``RULES`` lists them explicitly, in code order.
"""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules.routing.vg101_unreachable_vhost import UnreachableVhost
from vhostguard.lint.rules.routing.vg102_duplicate_server_name import DuplicateServerName
from vhostguard.lint.rules.routing.vg103_default_vhost_serves_app import DefaultVhostServesApp
from vhostguard.lint.rules.routing.vg104_ip_vhost_hides_wildcard import IpVhostHidesWildcard
from vhostguard.lint.rules.routing.vg105_vhost_without_listen import VhostWithoutListen
from vhostguard.lint.rules.routing.vg106_listen_unused import ListenUnused
from vhostguard.lint.rules.routing.vg107_vhost_address_hostname import VhostAddressHostname
from vhostguard.lint.rules.routing.vg108_proxypass_shadowed import ProxyPassShadowed
from vhostguard.lint.rules.routing.vg109_alias_shadowed import AliasShadowed
from vhostguard.lint.rules.routing.vg110_proxypass_trailing_slash import ProxyPassTrailingSlash
from vhostguard.lint.rules.routing.vg111_proxypassreverse_missing import ProxyPassReverseMissing
from vhostguard.lint.rules.routing.vg112_rewrite_proxy_without_mod_proxy import RewriteProxyWithoutModProxy
from vhostguard.lint.rules.routing.vg113_rewrite_loop import RewriteLoop
from vhostguard.lint.rules.routing.vg114_module_directive_not_loaded import ModuleDirectiveNotLoaded
from vhostguard.lint.rules.routing.vg115_rewrite_rule_without_engine import RewriteRuleWithoutEngine
from vhostguard.lint.rules.routing.vg116_main_rewrite_not_inherited import MainRewriteNotInherited
from vhostguard.lint.rules.routing.vg117_mapping_shadowed_by_redirect import MappingShadowedByRedirect

RULES: tuple[type[Rule], ...] = (
    UnreachableVhost,
    DuplicateServerName,
    DefaultVhostServesApp,
    IpVhostHidesWildcard,
    VhostWithoutListen,
    ListenUnused,
    VhostAddressHostname,
    ProxyPassShadowed,
    AliasShadowed,
    ProxyPassTrailingSlash,
    ProxyPassReverseMissing,
    RewriteProxyWithoutModProxy,
    RewriteLoop,
    ModuleDirectiveNotLoaded,
    RewriteRuleWithoutEngine,
    MainRewriteNotInherited,
    MappingShadowedByRedirect,
)
