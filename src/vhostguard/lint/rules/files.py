"""VG2xx files and reachability: paths the configuration names that are not there."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity


def _problem(path: str, *, directory: bool) -> str | None:
    """Why httpd could not use ``path`` (None when it can)."""
    if not os.path.exists(path):
        return "does not exist"
    if directory and not os.path.isdir(path):
        return "is not a directory"
    if not directory and os.path.isdir(path):
        return "is a directory"
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        return "is not readable"
    return None


def _is_pattern(text: str) -> bool:
    return "$" in text or any(c in text for c in "*?[")


class DocumentRootMissing(Rule):
    """
    ## What it does
    Checks that every `DocumentRoot` is an existing, readable directory.

    ## Why is this bad?
    httpd starts with a warning (AH00112) and then answers every request for
    that vhost with 404 or 403: the site is down although the server is up.

    ## Example
    ```apache
    DocumentRoot /var/www/typo
    ```

    ## Use instead:
    ```apache
    DocumentRoot /var/www/html
    ```

    ## Known problems
    Paths are checked on the machine running vhostguard; lint the target
    filesystem (or an image of it) for a meaningful answer.
    """

    code = "VG201"
    name = "document-root-missing"
    severity = Severity.WARNING
    summary = "A DocumentRoot that does not exist or is unreadable."
    hint = "Create the directory, or point DocumentRoot at the deployed tree."
    directives = frozenset({"documentroot"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args:
            return
        path = ctx.path(node.args[0])
        problem = _problem(path, directory=True)
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: DocumentRoot {path} {problem}")


class AliasTargetMissing(Rule):
    """
    ## What it does
    Checks that the target of every `Alias` and `ScriptAlias` exists and is
    readable.

    ## Why is this bad?
    Requests under the alias get 404 (or 403 when `<Directory />` denies):
    the URL space is claimed but serves nothing.

    ## Example
    ```apache
    Alias /static/ /srv/app/statc/
    ```

    ## Use instead:
    ```apache
    Alias /static/ /srv/app/static/
    ```

    ## Known problems
    `AliasMatch` targets with back-references are not checked.
    """

    code = "VG202"
    name = "alias-target-missing"
    severity = Severity.WARNING
    summary = "An Alias/ScriptAlias target that does not exist or is unreadable."
    hint = "Create the target, or fix the path in the Alias."
    directives = frozenset({"alias", "scriptalias", "aliasmatch", "scriptaliasmatch"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or _is_pattern(node.args[1]):
            return
        path = ctx.path(node.args[1])
        problem = None if os.path.exists(path) and os.access(path, os.R_OK) else ("does not exist" if not os.path.exists(path) else "is not readable")
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {node.args[0]} target {path} {problem}")


class WsgiScriptMissing(Rule):
    """
    ## What it does
    Checks that the script of every `WSGIScriptAlias` exists and is readable.

    ## Why is this bad?
    mod_wsgi answers 404 (or 500) for the whole mounted application.

    ## Example
    ```apache
    WSGIScriptAlias / /srv/app/wsgi.py
    ```

    ## Use instead:
    ```apache
    WSGIScriptAlias / /srv/app/app/wsgi.py
    ```
    """

    code = "VG203"
    name = "wsgi-script-missing"
    severity = Severity.WARNING
    summary = "A WSGIScriptAlias script that does not exist or is unreadable."
    hint = "Deploy the script, or fix its path."
    directives = frozenset({"wsgiscriptalias"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or _is_pattern(node.args[1]):
            return
        path = ctx.path(node.args[1])
        problem = _problem(path, directory=os.path.isdir(path))
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: WSGIScriptAlias {node.args[0]} script {path} {problem}")


TLS_FILE_KEYS = frozenset({"sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile", "sslcacertificatefile"})


class TlsFileMissing(Rule):
    """
    ## What it does
    Checks that every `SSLCertificateFile`, `SSLCertificateKeyFile`,
    `SSLCertificateChainFile` and `SSLCACertificateFile` exists and is
    readable.

    ## Why is this bad?
    httpd refuses to start (AH02572 and friends): a renewal that moved the
    files, or a typo, takes every site on the server down at the next restart.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/certs/www.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG204"
    name = "tls-file-missing"
    severity = Severity.ERROR
    summary = "A certificate, key or chain file that does not exist or is unreadable."
    hint = "Fix the path, or deploy the file before reloading."
    directives = TLS_FILE_KEYS

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or node.args[0].startswith(("pkcs11:", "|")):
            return
        path = ctx.path(node.args[0])
        problem = _problem(path, directory=False)
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {problem}")


LOG_KEYS = frozenset({"errorlog", "customlog", "transferlog", "globallog"})


def log_file(node: Directive) -> str | None:
    """The file a log directive writes to (None for pipes and syslog)."""
    if not node.args:
        return None
    target = node.args[0]
    if target.startswith("|") or target.lower().startswith("syslog"):
        return None
    return target


class LogDirectoryMissing(Rule):
    """
    ## What it does
    Checks that the directory of every `ErrorLog`, `CustomLog`,
    `TransferLog` and `GlobalLog` file exists.

    ## Why is this bad?
    httpd cannot open the log and refuses to start ("could not open error log
    file" / "could not open transfer log file").

    ## Example
    ```apache
    ErrorLog /var/log/apache/error.log
    ```

    ## Use instead:
    ```apache
    ErrorLog /var/log/apache2/error.log
    ```
    """

    code = "VG205"
    name = "log-directory-missing"
    severity = Severity.ERROR
    summary = "A log file whose directory does not exist."
    hint = "Create the directory (owned by root), or fix the log path."
    directives = LOG_KEYS

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        target = log_file(node)
        if target is None:
            return
        directory = os.path.dirname(ctx.path(target))
        problem = _problem(directory, directory=True)
        if problem:
            why = " (an undefined ${VAR} is used literally by httpd)" if "${" in directory else ""
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} directory {directory} {problem}{why}")


RULES: tuple[type[Rule], ...] = (
    DocumentRootMissing, AliasTargetMissing, WsgiScriptMissing, TlsFileMissing, LogDirectoryMissing,
)
