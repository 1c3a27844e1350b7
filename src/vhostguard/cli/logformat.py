"""``vhostguard logformat``: the access-log format vhostguard reads best, and how to install it.

One format (``lint``'s VG505 recommends it): vhost_combined plus the Host
asked for (``%{Host}i``: watch's host-moved), the time taken (``%D``: the
latency rules) and the request's error-log id (``%L``). Printed as httpd
config for the Debian/Ubuntu layout (``/etc/apache2``) and the RHEL/Fedora
one (``/etc/httpd``), with the commands that install it.
"""
from __future__ import annotations

import click

from vhostguard.cli.common import run
from vhostguard.exitcodes import ExitCode
from vhostguard.lint import RECOMMENDED_LOGFORMAT, RECOMMENDED_NICKNAME

LAYOUTS = ("debian", "rhel")


def logformat_line() -> str:
    """The ``LogFormat`` directive, quoted as httpd reads it (``"`` inside as ``\\"``)."""
    return f'LogFormat "{RECOMMENDED_LOGFORMAT.replace(chr(34), chr(92) + chr(34))}" {RECOMMENDED_NICKNAME}'


def snippet(layout: str) -> str:
    """The config file to add for ``layout`` and what to change and run, as httpd config with comments."""
    nick = RECOMMENDED_NICKNAME
    if layout == "debian":
        return "\n".join([
            "# Debian/Ubuntu: /etc/apache2/conf-available/vhostguard-log.conf",
            logformat_line(),
            "# Then log with it: in apache2.conf, conf-enabled/other-vhosts-access-log.conf and each",
            "# site (/etc/apache2/sites-available/*.conf), change the CustomLog nickname, e.g.",
            f"#   CustomLog ${{APACHE_LOG_DIR}}/access.log {nick}",
            "# and enable and reload:",
            "#   a2enconf vhostguard-log && apache2ctl configtest && systemctl reload apache2",
            "",
        ])
    return "\n".join([
        "# RHEL/Fedora/Rocky: /etc/httpd/conf.d/vhostguard-log.conf",
        logformat_line(),
        "# Then log with it: in /etc/httpd/conf/httpd.conf (and each vhost with its own CustomLog)",
        "# change the CustomLog nickname, e.g.",
        f'#   CustomLog "logs/access_log" {nick}',
        "# and reload:",
        "#   apachectl configtest && systemctl reload httpd",
        "",
    ])


@click.command(name="logformat")
@click.option("--layout", type=click.Choice([*LAYOUTS, "all"]), default="all", show_default=True,
              help="Which distribution's layout the instructions are for.")
def logformat(layout: str) -> None:
    """Print the LogFormat vhostguard reads best (%v, %{Host}i, %>s, %D, %L) and how to install it.

    With it, watch sees a Host served by the wrong vhost (host-moved) and
    slow endpoints (latency-slo, latency-regression); lint's VG505 points here.
    """

    def body() -> int:
        chosen = LAYOUTS if layout == "all" else (layout,)
        click.echo("\n".join(snippet(name) for name in chosen), nl=False)
        return ExitCode.OK

    run(body)
