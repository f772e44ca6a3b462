"""What every ``albmtls`` command shares: the common options, output helpers and the local cloud's
demo timings. Commands import from here, never from each other's modules for these.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from localruntime.cloud import Settings as LocalCloudSettings

DEFAULT_STATE_DIR = ".albmtls"
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
#: the error codes that mean the request itself is wrong — a field or option, a client the command
#: names that the listener does not have or has revoked, a configuration it was given — and exit 2
#: (README "Exit codes"); every other code is the cloud refusing or a step failing: exit 1
INPUT_CODES = frozenset({"INVALID_INPUT", "CLIENT_NOT_FOUND", "CLIENT_REVOKED", "CONFIG_INVALID",
                         "RENEW_BEFORE_TOO_LONG", "NAME_NOT_PERMITTED"})


def exit_for(code: str | None) -> int:
    """The exit code of a command that ended with the error ``code`` (``None``: it succeeded)."""
    return EXIT_OK if not code else EXIT_INPUT if code in INPUT_CODES else EXIT_FAILED

StateDir = typer.Option(Path(DEFAULT_STATE_DIR), "--state-dir", help="Local cloud state directory.")
EndpointsFile = typer.Option(None, "--endpoints-file",
                             help="Endpoints file of a running local cloud (from `albmtls up`).")
TARGETS = ("local", "cloud")


def check_target(value: str) -> str:
    """The one validator of ``--target``: exactly ``local`` or ``cloud`` (no other spelling)."""
    if value not in TARGETS:
        raise typer.BadParameter(f"INVALID_INPUT: must be local or cloud, got {value!r}")
    return value


Target = typer.Option("local", "--target", callback=check_target,
                      help="local (the local cloud) or cloud (a real account via the default credential chain).")
JsonOut = typer.Option(False, "--json", help="Print one JSON document on stdout.")
DEFAULT_PORT_OFFSET = 10000
MAX_PORT_OFFSET = 65000          # listener port 443 + 65000 = 65443, still a port


def check_port_offset(value: int) -> int:
    """The one validator of ``--port-offset``: 0-65000, so that listener port 443 + offset is a port."""
    if not 0 <= value <= MAX_PORT_OFFSET:
        raise typer.BadParameter(f"INVALID_INPUT: {value} is out of range; give 0-{MAX_PORT_OFFSET} (listener port "
                                 f"443 is served on 127.0.0.1:443 + offset, which must be a port, at most 65535)")
    return value


def whole_number(flag: str, lo: int | None = None, hi: int | None = None, example: str = "") -> Any:
    """The ``parser=`` of an integer option whose refusal carries the code like every other option
    check — ``INVALID_INPUT: --generation 0: give a whole number from 1 (e.g. 1)``, ``… 'abc': give a
    whole number …`` — where click's own says neither the code nor the range."""
    span = (f" from {lo} to {hi}" if lo is not None and hi is not None else
            f" from {lo}" if lo is not None else f" up to {hi}" if hi is not None else "")
    rule = f"a whole number{span}" + (f" (e.g. {example})" if example else "")

    def parse(value: Any) -> int:
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
        except ValueError:
            raise typer.BadParameter(f"INVALID_INPUT: {flag} {str(value)[:40]!r}: give {rule}") from None
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise typer.BadParameter(f"INVALID_INPUT: {flag} {number}: give {rule}")
        return number

    return parse


MAX_TIMEOUT_S = 24 * 3600


def check_timeout(value: float) -> float:
    """The one validator of ``--timeout``: how long to follow an execution, more than 0 s and at most a day."""
    if not 0 < value <= MAX_TIMEOUT_S:
        raise typer.BadParameter(f"INVALID_INPUT: {value:g} s; give the seconds to follow the run, more than 0 and "
                                 f"at most {MAX_TIMEOUT_S} (the run goes on in the cloud either way)")
    return value


def check_secret_prefix(value: str, option: str = "--secret-prefix") -> str:
    """A KMS secret name prefix as every input takes it (``shared.policy.contracts.SecretPrefix``);
    raises ``AlbMtlsError`` ``INVALID_INPUT`` naming the option and the rule."""
    import re

    from shared.core.errors import AlbMtlsError, Code
    from shared.policy.contracts import SECRET_PREFIX_PATTERN, SECRET_PREFIX_RULE
    if not re.fullmatch(SECRET_PREFIX_PATTERN, value):
        raise AlbMtlsError(Code.INVALID_INPUT, f"{option} {value!r}: must be {SECRET_PREFIX_RULE} (the prefix the "
                           "input's secret_prefix gave, default albmtls)", field="secret_prefix")
    return value


PortOffset = typer.Option(DEFAULT_PORT_OFFSET, "--port-offset", callback=check_port_offset,
                          help="A local cloud this command starts serves listener port + offset on 127.0.0.1 "
                               "(ignored when it uses a running one); change it when another local cloud holds "
                               "those ports.")


Yes = typer.Option(False, "--yes", "-y", help="On the cloud target, make the changes without asking first.")


def err(msg: str) -> None:
    """One line on stderr."""
    typer.echo(msg, err=True)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 certificate``, ``2 certificates`` (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def read_input(file: Path, field: str = "file") -> bytes:
    """The bytes of an input file a command reads (``-f``), at most the size the HTTP API takes a
    fleet document of (``shared.entry.api.MAX_FLEET_BODY``, 1 MiB): ``-f /dev/zero`` or a wrong path
    to a large file is refused at once rather than read into memory. Raises ``AlbMtlsError``
    ``INVALID_INPUT`` naming ``field`` (cannot read it, or too large)."""
    from shared.core.errors import AlbMtlsError, Code
    from shared.entry.api import MAX_FLEET_BODY
    try:
        with open(file, "rb") as f:
            data = f.read(MAX_FLEET_BODY + 1)
    except OSError as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"cannot read {file}: {exc.strerror or exc}", field=field) from None
    if len(data) > MAX_FLEET_BODY:
        raise AlbMtlsError(Code.INVALID_INPUT, f"{file} is larger than {MAX_FLEET_BODY // 1048576} MiB, too large "
                           "for an input (a fleet of 1,000 clients is about 100 KiB); check the path", field=field)
    return data


def load_json_arg(text: str, what: str) -> Any:
    """JSON from the text itself or ``@file`` (``read_input``, ``load_document``: a key given twice,
    a number too long or nesting too deep said in the input's terms); raises ``ValueError`` naming
    ``what``."""
    from shared.core.errors import AlbMtlsError
    from shared.policy.fleet import load_document
    try:
        return load_document(read_input(Path(text[1:]), what) if text.startswith("@") else text, "json")
    except AlbMtlsError as exc:
        raise ValueError(f"{what}: {exc.message}") from None


def safe_text(value: object) -> str:
    """A stored value (e.g. who asked for a revocation) as printable console text: control and
    format characters (ESC, newline, bidi overrides) shown as ``\\x1b``-style escapes, rich markup
    escaped — a stored value cannot forge a line or restyle the output."""
    from rich.markup import escape
    return escape("".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(value)))


def console(width: int = 120) -> Console:
    """A rich console on stderr for what is said about the run — banners, progress, prompts,
    warnings, errors — readable without a terminal too (pipes, CI logs): at least ``width`` columns."""
    return _rich_console(width, stderr=True)


def report(width: int = 120) -> Console:
    """The rich console on stdout for the report itself — tables, summaries (as Terraform and
    kubectl: ``albmtls doctor | grep ok``, ``albmtls inventory > inv.txt``): at least ``width``
    columns; ``console()`` keeps everything else on stderr."""
    return _rich_console(width, stderr=False)


def _rich_console(width: int, *, stderr: bool) -> Console:
    import shutil

    from rich.console import Console
    return Console(stderr=stderr, highlight=False, emoji=False,   # ids hold ":ram:" — never an emoji
                   width=max(width, shutil.get_terminal_size((width, 24)).columns))


def quiet_logs() -> None:
    """Functions run in this process log JSON lines; keep stdout for the one JSON document. The
    credential library's own logger (``credentials``: a traceback per failed ECS metadata probe,
    on stderr) is silenced unless ``ALBMTLS_LOG_LEVEL=DEBUG``: a missing credential is reported once,
    as one line (``CREDENTIALS_MISSING``)."""
    import logging
    import os

    from shared.core import logs
    level = os.environ.get("ALBMTLS_LOG_LEVEL", "WARNING")
    logs.configure(stream=sys.stderr, level=level)
    if level.upper() != "DEBUG":
        logging.getLogger("credentials").disabled = True     # its import sets its level: disable instead


def local_cloud_settings(port_offset: int = DEFAULT_PORT_OFFSET) -> LocalCloudSettings:
    """Demo-like timings of an in-process local cloud: ALB jobs take a second, health checks at
    half their configured intervals; the data plane at listener port + ``port_offset``."""
    from localruntime.cloud import Settings
    return Settings(alb_job_seconds=1.0, health_scale=0.5, port_offset=port_offset)


def local_banner(env: dict[str, Any], state_dir: Path, *, clock: bool = True) -> str:
    """What a command says about the local cloud it uses (``env``: ``local_environment``'s document):
    running or in-process, where, and the cloud's clock when it is not this machine's (unless
    ``clock`` is false: the ``clock`` commands report it themselves)."""
    where = (f"in-process, state in {state_dir}/, stopped when this command ends" if env.get("in_process")
             else f"running, endpoints {env.get('endpoints_file')}")
    line = f"alb-mtls on the local cloud ({where})"
    note = clock_note(env) if clock else None
    return line + (f"\n{note}" if note else "")


def clock_note(env: dict[str, Any]) -> str | None:
    """``local cloud clock …: N days ahead of this machine's …`` when the local cloud's clock is
    moved (``albmtls rotate --now``, ``albmtls clock set``); ``None`` at wall time (within 2 s)."""
    from datetime import UTC, datetime, timedelta

    from localruntime.fc import local_clock_offset
    try:
        offset = local_clock_offset(env.get("endpoints_file"))
    except (OSError, ValueError, KeyError):
        return None
    if offset is None or abs(offset) < 2:
        return None
    now = (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"local cloud clock {now}: {human_offset(offset)} {'ahead of' if offset > 0 else 'behind'} this "
            "machine's (`albmtls clock reset` puts it back)")


def human_offset(seconds: float) -> str:
    """``21.0 days`` / ``3.5 hours`` / ``12 minutes`` / ``40 s`` (absolute)."""
    s = abs(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} hours"
    if s >= 60:
        return f"{s / 60:.0f} minutes"
    return f"{s:.0f} s"


def fail_local(exc: Exception, json_out: bool) -> None:
    """Report a ``LocalCloudUnavailable`` (``LOCAL_CLOUD_IN_USE``, ``LOCAL_PORT_IN_USE``) and exit 1."""
    code = getattr(exc, "code", "LOCAL_CLOUD_UNAVAILABLE")
    if json_out:
        emit_json({"status": "failed", "error": {"code": code, "message": str(exc)}})
    else:
        err(f"{code}: {exc}")
    raise typer.Exit(EXIT_FAILED)


@dataclass(frozen=True)
class OpenTarget:
    """What ``open_target`` yields: the settings the clients use, the local cloud's endpoints
    document (empty on the cloud target) and the cloud target's identity (``cloud_identity``'s
    document; ``None`` on the local target, or when not asked for)."""
    settings: Any
    endpoints: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] | None = None


@contextmanager
def open_target(target: str, state_dir: Path, endpoints_file: Path | None, *,
                port_offset: int = DEFAULT_PORT_OFFSET, json_out: bool = False, banner: bool = True,
                cloud_time: bool = True, listener_ports: Sequence[int] = (), identify: bool = True,
                raise_unavailable: bool = False) -> Iterator[OpenTarget]:
    """The one way a command opens its target, for as long as the ``with`` block runs.

    ``local``: the local cloud running on ``state_dir`` (or ``endpoints_file``), else one started
    in-process (its data plane at listener port + ``port_offset``; ``listener_ports`` are checked
    free first); the banner (``local_banner``) on stderr unless ``json_out`` or not ``banner``; the
    local cloud's clock for code run in this process unless not ``cloud_time``. A local cloud that
    cannot be used (``LOCAL_CLOUD_IN_USE``, ``LOCAL_PORT_IN_USE``) is reported and exits 1
    (``fail_local``), or is raised as ``AlbMtlsError`` with its code when ``raise_unavailable``.
    ``cloud``: the default credential chain, then who and where (``cloud_identity``, one line on
    stderr) unless not ``identify``; its ``AlbMtlsError`` (``CREDENTIALS_MISSING`` …) is raised."""
    from shared.core.settings import Settings
    with ExitStack() as stack:
        if target == "local":
            from localruntime.environment import LocalCloudUnavailable, local_environment
            try:
                ep = stack.enter_context(local_environment(state_dir, endpoints_file,
                                                           settings=local_cloud_settings(port_offset),
                                                           listener_ports=listener_ports))
            except LocalCloudUnavailable as exc:
                if raise_unavailable:
                    from shared.core.errors import AlbMtlsError
                    raise AlbMtlsError(exc.code, str(exc), field="port_offset" if exc.code == "LOCAL_PORT_IN_USE"
                                       else "state_dir") from None
                fail_local(exc, json_out)
            if banner and not json_out:
                err(local_banner(ep, state_dir))
            settings = Settings.load(target="local", endpoints_file=ep["endpoints_file"])
            if cloud_time:
                from localruntime.fc import local_time
                stack.enter_context(local_time(ep["endpoints_file"]))   # the cloud's clock, as in a function
            yield OpenTarget(settings, endpoints=ep)
        else:
            settings = Settings.load(target="cloud")
            yield OpenTarget(settings, identity=cloud_identity(settings) if identify else None)


# -- the cloud target: who, where, and a confirmation before the first write -----------------------
def cloud_identity(settings: Any, *, quiet: bool = False) -> dict[str, Any]:
    """Before anything else on the cloud target: the credentials the clients will use (checked
    locally first: ``shared.adapters.credentials``), then STS ``GetCallerIdentity``; one line on
    stderr naming the account, the identity and the region (unless ``quiet``). Returns
    ``{account_id, arn, identity_type, region, credentials}``. Raises ``AlbMtlsError``
    (``CREDENTIALS_MISSING``/``CREDENTIALS_INVALID``: print it and exit 1)."""
    from shared.adapters.base import CallPolicy
    from shared.adapters.credentials import check_credentials
    from shared.adapters.sts import Sts
    from shared.core.wait import Deadline

    source = check_credentials(settings)
    who = Sts(CallPolicy(Deadline(20)), settings=settings).caller_identity()
    doc = {"account_id": who.account_id, "arn": who.arn, "identity_type": who.identity_type,
           "region": settings.region, "credentials": {"source": source.provider, "access_key_id": source.access_key_id,
                                                       "sts": source.sts}}
    if not quiet:
        err(f"account {who.account_id} ({who.identity_type or 'identity'} {who.arn or '?'}), region {settings.region}; "
            f"credentials from {source.provider} ({source.access_key_id})")
    return doc


def confirm(plan: list[str], *, yes: bool, what: str) -> None:
    """Show ``plan`` (one change per line) on stderr, then ask before the first write, unless ``yes``.
    The answer is read from stdin, terminal or not (``echo y | albmtls …`` works, as with Terraform);
    anything but yes — end of input included — changes nothing and raises
    ``typer.Exit(EXIT_FAILED)`` after one line saying so (and that ``--yes`` skips the question)."""
    err(f"plan ({what}):")
    for line in plan:
        err(f"  - {line}")
    if yes:
        return
    try:
        ok = typer.confirm("make these changes?", default=False, err=True)
    except typer.Abort:          # end of input: no answer
        ok = False
    if not ok:
        err("CONFIRMATION_REQUIRED: nothing was changed (answer y, or pass --yes to make the changes without asking)")
        raise typer.Exit(EXIT_FAILED)
