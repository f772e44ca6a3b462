"""Credentials on the cloud target, checked before the first call, so a first run without (or with
unusable) credentials fails in seconds with one line instead of retrying a connection error.

* :func:`sts_key_problem` — an STS AccessKey (``STS.…``) without its security token is refused before
  anything is sent: the cloud would only answer a signature error.
* :func:`check_credentials` — resolves the credentials the SDK clients will use (explicit ones in the
  settings, e.g. an FC context's, else the ``alibabacloud_credentials`` default chain: environment,
  OIDC, ``~/.aliyun/config.json``, ``~/.alibabacloud/credentials.ini``, the ECS RAM role, a
  credentials URI; docs/ALIBABA-APIS.md §4.2) and says where they came from — never the secret.
  The ECS metadata probe is bounded by the library's own 1 s connect / 1 s read timeouts and is
  skipped with ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``.

``CREDENTIALS_MISSING``: nothing usable found (the message names the sources tried);
``CREDENTIALS_INVALID``: found but unusable (an STS key without token), or refused by the cloud
(``shared.core.errors`` maps ``InvalidAccessKeyId.*``, ``SignatureDoesNotMatch``,
``InvalidSecurityToken.*``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.errors import AlbMtlsError, Code, credential_chain_message

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from shared.core.settings import Settings

__all__ = ["CredentialSource", "check_credentials", "environment_problem", "sts_key_problem", "mask_key"]

STS_PREFIX = "STS."


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where the credentials come from: ``provider`` (the library's provider name, or ``settings``
    for explicit keys), ``access_key_id`` masked (``LTAI…wxyz``), ``sts`` (a temporary key with token)."""

    provider: str
    access_key_id: str
    sts: bool


# the library's provider names (``CredentialModel.provider_name``, e.g. "default/env") as a person knows them
_SOURCES = (("cli_profile", "~/.aliyun/config.json"), ("profile", "~/.alibabacloud/credentials.ini"),
            ("env", "environment variables"), ("oidc", "OIDC role"), ("ecs_ram_role", "ECS instance RAM role"),
            ("credentials_uri", "credentials URI"), ("ram_role_arn", "RAM role (assumed)"), ("static", "settings"))


def source_label(provider_name: str | None) -> str:
    """``default/env`` → ``environment variables`` (the last part of the name decides)."""
    name = (provider_name or "").rsplit("/", 1)[-1]
    for key, label in _SOURCES:
        if name == key or name.startswith(key):
            return label
    return provider_name or "default credential chain"


def mask_key(access_key_id: str) -> str:
    """``LTAI5tAbCdEfGh1234`` → ``LTAI…1234`` (enough to recognise a key, never to use it)."""
    k = access_key_id or ""
    return f"{k[:4]}…{k[-4:]}" if len(k) > 10 else "…"


def sts_key_problem(access_key_id: str | None, security_token: str | None, *, where: str) -> AlbMtlsError | None:
    """``CREDENTIALS_INVALID`` for an STS AccessKey (``STS.…``) without its security token (``where``
    names the source), else ``None``."""
    if access_key_id and access_key_id.startswith(STS_PREFIX) and not security_token:
        return AlbMtlsError(Code.CREDENTIALS_INVALID,
                            f"the AccessKey in {where} is a temporary STS key ({mask_key(access_key_id)}) but no "
                            "security token was given: set ALIBABA_CLOUD_SECURITY_TOKEN to the token issued with it, "
                            "or use a permanent AccessKey pair", field="credentials")
    return None


def environment_problem(env: Mapping[str, str] | None = None) -> AlbMtlsError | None:
    """:func:`sts_key_problem` of ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_SECURITY_TOKEN``."""
    env = os.environ if env is None else env
    return sts_key_problem(env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_SECURITY_TOKEN"),
                           where="ALIBABA_CLOUD_ACCESS_KEY_ID")


def half_set_problems(env: Mapping[str, str] | None = None, home: str | None = None) -> list[str]:
    """What the default chain skips without saying why (read when it found nothing usable): an
    AccessKey id without its secret (or a secret without its id) in the environment, and a CLI
    profile file (``~/.aliyun/config.json``) that is not valid JSON — named with where it is."""
    import json
    from pathlib import Path
    env = os.environ if env is None else env
    out: list[str] = []
    key, secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if key and not secret:
        out.append(f"ALIBABA_CLOUD_ACCESS_KEY_ID is set ({mask_key(key)}) but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not: "
                   "set the secret issued with that key (or unset the id to use a profile)")
    elif secret and not key:
        out.append("ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID is not: set the key id "
                   "the secret belongs to")
    profile = Path(home or env.get("HOME") or Path.home()) / ".aliyun" / "config.json"
    if env.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() != "true" and profile.is_file():
        try:
            json.loads(profile.read_bytes())
        except json.JSONDecodeError as exc:
            out.append(f"~/.aliyun/config.json ({profile}) is malformed: not valid JSON at line {exc.lineno}, column "
                       f"{exc.colno} ({exc.msg}); fix it (`aliyun configure` writes it) or move it away")
        except (OSError, ValueError) as exc:
            out.append(f"~/.aliyun/config.json ({profile}) cannot be read as JSON ({exc.__class__.__name__}); fix "
                       "it or move it away")
    return out


def check_credentials(settings: Settings, env: Mapping[str, str] | None = None) -> CredentialSource:
    """The credentials the cloud target's clients will use, resolved now (reads only the local
    chain: environment, files, the ECS metadata service). Raises ``AlbMtlsError``
    (``CREDENTIALS_MISSING``/``CREDENTIALS_INVALID``, module doc)."""
    if settings.access_key_id and settings.access_key_secret:
        problem = sts_key_problem(settings.access_key_id, settings.security_token, where="the settings")
        if problem:
            raise problem
        return CredentialSource("settings", mask_key(settings.access_key_id), bool(settings.security_token))
    problem = environment_problem(env)
    if problem:
        raise problem
    from shared.adapters.clients import _default_credential
    try:
        cred: Any = _default_credential().get_credential()
    except Exception as exc:    # CredentialException (or a provider's own error): nothing usable
        found = "; ".join(half_set_problems(env))
        raise AlbMtlsError(Code.CREDENTIALS_MISSING, (f"{found}; " if found else "") + credential_chain_message(exc),
                           field="credentials") from None
    key = getattr(cred, "access_key_id", None) or getattr(cred, "get_access_key_id", lambda: None)()
    token = getattr(cred, "security_token", None)
    problem = sts_key_problem(key, token, where="the credential chain's source")
    if problem:
        raise problem
    return CredentialSource(source_label(getattr(cred, "provider_name", None)), mask_key(key or ""), bool(token))
