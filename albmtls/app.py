"""``albmtls``: the command line of alb-mtls (never deployed). It talks to the local cloud
(``--target local``, the default) or to a real account (``--target cloud``).

Commands are registered here, explicitly, one module each: ``up`` (run the local cloud),
``provision`` (the main job), ``rotate``, ``revoke``/``restore`` (offboarding, one module),
``status``, ``serve`` (the provisioning HTTP API locally), ``flow run`` (any CloudFlow definition),
``clock show|set|reset`` (the local cloud's clock), ``check-deploy``, ``messages`` (what the local
cloud's mail server and webhook receiver got), ``resend`` and ``holder-policy`` (holders), ``channels
set|test`` (the notification channels); ``ca create|list|status|switch|cost`` (your own CA, its keys in KMS); for
a fleet document, ``plan``, ``apply``, ``drift`` and ``inventory``; ``--version``. Every reporting
command takes ``--json``
and then prints one JSON document on stdout; progress goes to stderr. Shared options:
``albmtls/options.py``.
"""
from __future__ import annotations

import typer

from . import (
    ca,
    channels,
    check_deploy,
    clock,
    doctor,
    drift,
    fleet,
    flow,
    holders,
    inventory,
    messages,
    offboard,
    provision,
    rotate,
    serve,
    status,
    up,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Mutual TLS on Alibaba Cloud ALB listeners, on the local cloud or a real account.")


def version() -> str:
    """The installed distribution's version (pyproject.toml), or ``unknown`` from a bare checkout."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version
    try:
        return dist_version("alb-mtls")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"albmtls {version()}")
        raise typer.Exit(0)


@app.callback()
def _main(show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                            help="Print the version and exit.")) -> None:
    """Mutual TLS on Alibaba Cloud ALB listeners, on the local cloud or a real account."""


app.command()(up.up)
app.command()(provision.provision)
app.command()(rotate.rotate)
app.command()(offboard.revoke)
app.command()(offboard.restore)
app.command()(status.status)
app.command()(fleet.plan)
app.command()(fleet.apply)
app.command()(drift.drift)
app.command()(inventory.inventory)
app.command()(messages.messages)
app.command("resend")(holders.resend_cmd)
app.command("holder-policy")(holders.holder_policy_cmd)
app.command()(serve.serve)
app.command("check-deploy")(check_deploy.check_deploy)
app.command()(doctor.doctor)
app.add_typer(flow.flow_app, name="flow")
app.add_typer(clock.clock_app, name="clock")
app.add_typer(ca.ca_app, name="ca")
app.add_typer(channels.channels_app, name="channels")


def main() -> None:
    """Console entry point."""
    app()
