"""Where the local target writes each client's PFX and its password (``provision``, ``rotate``).

By default the PFX files go to ``--out`` (``out/``) and the passwords to ``--passwords-dir``
(default ``<out>-passwords/`` beside it: ``out-passwords/``), never side by side: whoever zips
or mails the PFX folder must not send the passwords with it (the cloud keeps them as two KMS
secrets for the same reason).
``--passwords-beside`` keeps the old layout (``out/<cn>.password`` next to ``out/<cn>.pfx``).

Everything is checked before the first write (:func:`export_target`): a path that is a file, a
directory that cannot be written, or a passwords directory inside the PFX directory is
``INVALID_INPUT`` naming the option, and the command starts nothing. A directory this command
creates is made owner-only (0700); an existing directory keeps its mode (files are 0600 anyway).
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

__all__ = ["ExportTarget", "export_target", "export_pfx", "Out", "PasswordsDir", "PasswordsBeside",
           "DEFAULT_OUT", "passwords_dir_for"]

DEFAULT_OUT = Path("out")

Out = typer.Option(DEFAULT_OUT, "--out", help="Directory for each client's PFX file (local target).")
PasswordsDir = typer.Option(None, "--passwords-dir",
                            help="Directory for each PFX's password, kept apart from --out so the PFX folder "
                                 "can be shared without them [default: <out>-passwords, beside --out].")
PasswordsBeside = typer.Option(False, "--passwords-beside",
                               help="Write <cn>.password next to <cn>.pfx in --out (the old layout).")


@dataclass(frozen=True)
class ExportTarget:
    """Checked destinations: ``out`` for ``<cn>.pfx``, ``passwords`` for ``<cn>.password``."""

    out: Path
    passwords: Path


def _invalid(option: str, message: str) -> Exception:
    from shared.core.errors import AlbMtlsError, Code
    return AlbMtlsError(Code.INVALID_INPUT, message, field=option)


def _writable_dir(path: Path, option: str) -> None:
    """``path`` is a directory we can write into, or can be created (nothing is created here)."""
    if path.exists() and not path.is_dir():
        raise _invalid(option, f"{option} {path} is a file, not a directory; name a directory (it is created if "
                               "missing)")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise _invalid(option, f"{option} {path}: {probe} is a file, so the directory cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _invalid(option, f"{option} {path}: {probe} is not writable by this user")
    # what os.access cannot tell (root on /proc, a read-only mount): make and remove a directory there
    import tempfile
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".albmtls-check-").cleanup()
    except OSError as exc:
        raise _invalid(option, f"{option} {path}: nothing can be written under {probe} ({exc.strerror or exc}); "
                               "name a directory you can write") from None


def passwords_dir_for(out: Path) -> Path:
    """The default passwords directory: ``<out>-passwords`` beside ``out`` (``out`` → ``out-passwords``)."""
    base = out if out.name else out.resolve()
    return base.with_name(base.name + "-passwords")


def export_target(out: Path, passwords_dir: Path | None, beside: bool) -> ExportTarget:
    """Check the destinations before anything runs (module doc; ``passwords_dir`` ``None`` = the
    default, :func:`passwords_dir_for`). Raises ``AlbMtlsError`` ``INVALID_INPUT`` (field ``--out`` /
    ``--passwords-dir``)."""
    if beside and passwords_dir is not None:
        raise _invalid("--passwords-dir", "--passwords-dir and --passwords-beside name two places for the passwords; "
                                          "give one of them")
    _writable_dir(out, "--out")
    if beside:
        return ExportTarget(out, out)
    passwords_dir = passwords_dir or passwords_dir_for(out)
    _writable_dir(passwords_dir, "--passwords-dir")
    o, p = out.resolve(), passwords_dir.resolve()
    if p == o or o in p.parents:
        raise _invalid("--passwords-dir", f"--passwords-dir {passwords_dir} is inside --out {out}: the passwords "
                                          "would travel with the PFX files; choose a directory outside it, or pass "
                                          "--passwords-beside for that layout on purpose")
    return ExportTarget(out, passwords_dir)


def _private_dir(path: Path) -> None:
    """Create ``path`` owner-only when missing — and every missing directory above it (``apply``'s
    ``out/<listener>``: ``out`` too; ``mkdir(parents=True)`` makes the parents with the umask, 0755);
    an existing directory keeps its mode."""
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def file_stem(cn: str) -> str:
    """The file name of a client's files: its CN with anything but letters, digits and - _ . @ as ``_``."""
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in cn)


def export_pfx(settings: Any, clients: list[dict[str, Any]], target: ExportTarget) -> None:
    """Local target: write ``<cn>.pfx`` into ``target.out`` and ``<cn>.password`` into
    ``target.passwords`` (files 0600) from the KMS secrets named in the results (the version of
    this run); adds ``pfx_path``/``password_path`` to each client. Source: KMS ``GetSecretValue``."""
    from alibabacloud_kms20160120 import models as km

    from shared.adapters.clients import get_client
    from shared.adapters.retry import Deadline, call
    kms = get_client("kms", settings)
    _private_dir(target.out)
    _private_dir(target.passwords)

    def get(name: str, version: str | None) -> Any:
        req = km.GetSecretValueRequest(secret_name=name, version_id=version) if version else \
            km.GetSecretValueRequest(secret_name=name)
        return call("kms:GetSecretValue", lambda: kms.get_secret_value(req), deadline=Deadline(30)).body

    for c in clients:
        stem = file_stem(c["common_name"])
        pfx_body = get(c["pfx_secret"], c.get("pfx_version"))
        pw_body = get(c["password_secret"], c.get("pfx_version"))
        pfx_path, pw_path = target.out / f"{stem}.pfx", target.passwords / f"{stem}.password"
        _write_private(pfx_path, base64.b64decode(pfx_body.secret_data or ""))
        _write_private(pw_path, (pw_body.secret_data or "").encode())
        c["pfx_path"], c["password_path"] = str(pfx_path), str(pw_path)
