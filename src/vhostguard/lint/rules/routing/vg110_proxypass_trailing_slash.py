"""VG110 proxypass-trailing-slash. ProxyPass/ProxyPassMatch path and URL disagree on the trailing slash."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import PROXY_KEYS, location_of, prefix_path, section_label
from vhostguard.routing import Section


def _url_path_slash(url: str) -> bool | None:
    """Whether a backend URL ends in '/' (None: not a URL we can judge)."""
    if "|" in url:
        url = url.split("|", 1)[1]
    if "://" not in url:
        return None
    return url.endswith("/")


def _group_slash(pattern: str, url: str) -> tuple[bool, bool] | None:
    """For ``ProxyPassMatch ^/a/(.*) http://b/a/$1``: is there a '/' before
    the first group in the pattern, and before ``$1`` in the URL?"""
    group = pattern.find("(")
    ref = url.find("$1")
    if group <= 0 or ref <= 0:
        return None
    return pattern[group - 1] == "/", url[ref - 1] == "/"


class ProxyPassTrailingSlash(Rule):
    """
    ## What it does
    Checks that the path and the backend URL of a `ProxyPass` (or the group
    and `$1` of a `ProxyPassMatch`) agree on the trailing slash. Inside
    `<Location /path>`, where `ProxyPass` takes only the URL, the path is the
    section's.

    ## Why is this bad?
    mod_proxy replaces the matched path with the URL and appends the rest of
    the request path. `ProxyPass /app/ http://backend/app` turns `/app/login`
    into `http://backend/applogin`; the opposite mismatch produces `//` that
    many backends route differently. `<Location /app/>` with
    `ProxyPass http://backend/app` does the same.

    ## Example
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/app
    <Location /api/>
        ProxyPass http://127.0.0.1:8081/api
    </Location>
    ```

    ## Use instead:
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/app/
    <Location /api/>
        ProxyPass http://127.0.0.1:8081/api/
    </Location>
    ```

    In `<LocationMatch>` (or `<Location ~ ...>`), `ProxyPassMatch URL` takes
    the section's regex as its pattern: the group and `$1` must agree too.

    ## Known problems
    `ProxyPass` in `<LocationMatch>`, `<Location ~ ...>` or a wildcard
    `<Location>` is not judged here: mod_proxy matches the section's text as
    a literal prefix, which VG108 reports.

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass
    """

    code = "VG110"
    name = "proxypass-trailing-slash"
    severity = Severity.ERROR
    summary = "ProxyPass/ProxyPassMatch path and URL disagree on the trailing slash."
    hint = "End both the path and the URL with '/', or neither."
    directives = frozenset(PROXY_KEYS)

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        section = location_of(ctx, node)
        if section is not None:
            yield from self._in_location(node, section, ctx)
            return
        path, url = self._path_and_url(node, ctx)
        if path is None or url is None or url == "!":
            return
        if node.key == "proxypassmatch":
            slashes = _group_slash(path, url)
            if slashes is not None and slashes[0] != slashes[1]:
                yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {url}: the pattern has {'a' if slashes[0] else 'no'} '/' before its group but the URL has {'one' if slashes[1] else 'none'} before $1")
            return
        url_slash = _url_path_slash(url)
        if url_slash is None or path.endswith("/") == url_slash:
            return
        yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {url}: the path {'ends' if path.endswith('/') else 'does not end'} with '/' but the URL {'does' if url_slash else 'does not'}")

    def _in_location(self, node: Directive, section: Section, ctx: LintContext) -> Iterator[Finding]:
        if section.regex and node.key == "proxypassmatch" and node.args:
            # <LocationMatch ^/api/(.*)$> + ProxyPassMatch URL: the section's regex is the
            # mapping's pattern (mod_proxy's add_pass), judged like a server-level one.
            slashes = _group_slash(section.pattern, node.args[0])
            if slashes is not None and slashes[0] != slashes[1]:
                yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {node.args[0]} in {section_label(section)}: the pattern has {'a' if slashes[0] else 'no'} '/' before its group but the URL has {'one' if slashes[1] else 'none'} before $1")
            return
        path = prefix_path(section)
        if path is None or node.key != "proxypass" or not node.args:
            return
        url = node.args[0]
        url_slash = _url_path_slash(url)
        if url_slash is None or path.endswith("/") == url_slash:
            return
        yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {url} in {section_label(section)}: the Location path {'ends' if path.endswith('/') else 'does not end'} with '/' but the URL {'does' if url_slash else 'does not'}")

    @staticmethod
    def _path_and_url(node: Directive, ctx: LintContext) -> tuple[str | None, str | None]:
        if len(node.args) >= 2 and not node.args[1].startswith(("max=", "timeout=", "retry=")):
            return node.args[0], node.args[1]
        return None, None
