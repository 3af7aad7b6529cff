"""The ``leadhook`` command line (the console script ``leadhook = "cli:main"``).

One module per group: :mod:`cli.serve` (``serve``: the server lock, the port check, the
start-up banner of :mod:`cli._banner`, the demo workspace of ``make run``), :mod:`cli.db`
(``db migrate|backup|check``), :mod:`cli.config` (``config``), :mod:`cli.clients`,
:mod:`cli.jobs`, :mod:`cli.leads`,
:mod:`cli.drafts`, :mod:`cli.ai`, :mod:`cli.deliveries`; what they share (settings, opening the
store, ``--json`` output, tables) is :mod:`cli._output`. Commands reach the database only
through :mod:`db`'s public interface, so they work whether or not a server runs, and only
``serve`` and ``db migrate`` create a database file. Exit status: 0 on success, 1 for a
refusal or a database error (one line, no traceback), 2 for a usage error, 78 for a
configuration error (one line naming the variable).
"""

from __future__ import annotations

import click

from cli import ai, clients, db, deliveries, drafts, jobs, leads, serve
from cli import config as config_command
from cli._output import ConfigProblem
from config import ConfigError

__all__ = ["cli", "main"]


class _Leadhook(click.Group):
    """Every command's :class:`config.ConfigError` is one line and exit status 78."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise ConfigProblem(str(exc)) from None


@click.group(cls=_Leadhook)
@click.version_option(package_name="leadhook")
def cli() -> None:
    """leadhook: lead-reply webhooks in, stored exactly once, AI post-processing out.

    The SQLite file is $LEADHOOK_DB (default data/leadhook.db).

    \b
    Example:
        leadhook serve --demo
        leadhook clients add --name "Acme" --ghl-location-id loc_AbC123
    """


cli.add_command(serve.serve)
cli.add_command(db.db_group)
cli.add_command(config_command.config)
cli.add_command(clients.clients_group)
cli.add_command(jobs.jobs_group)
cli.add_command(leads.leads_group)
cli.add_command(ai.ai_group)
cli.add_command(leads.leads_group)
cli.add_command(drafts.drafts_group)
cli.add_command(deliveries.deliveries_group)


def main() -> None:
    cli(prog_name="leadhook")
