"""The issuer's key log: the private keys of certificates being issued, kept before the PCA call.

Why: the private key is made in the issuing function and lives only in its memory until the PFX is
stored. An invocation that dies after ``CreateClientCertificateWithCsr`` answered but before the
PFX was stored (FC timeout, instance lost, a crash) leaves a certificate nobody can use; its re-run
would have to issue a second one (and, before this log, revoked the first — the 44 revocations of
issue 19). With the keys logged first, the re-run reuses the same key: the PCA refuses the repeated
``CustomIdentifier`` and names the certificate already issued, whose public key is ours — so it
continues with that one. A due certificate gets exactly one replacement, and nothing is revoked.

Where: one KMS secret per secret prefix, ``<prefix>/.issuer/keys`` (:func:`keylog_secret`), one
version per batch of certificates (``VersionId`` from the order and the batch number); the
``ACSCurrent`` version holds every key whose certificate is not stored yet (the batch being issued
and the one before it). Only the lane's head writes it (one writer), so the current version is the
head's. Each version stays under :data:`MAX_BYTES` (KMS ``SecretData`` ≤ 30,720 bytes,
docs/ALIBABA-APIS.md §6.1): a batch of EC P-256 keys holds :data:`EC_BATCH`, of RSA 2048 keys
:data:`RSA_BATCH`. The cost is one KMS write per batch, not per certificate.

The keys are PKCS#8 DER, Base64 — the same key material the certificate's PFX secret holds once
stored, in the same product, readable by the same role. Never in results, logs or flow state.
Pure: encoding and decoding only; ``shared.steps.engine`` reads and writes it.
"""
from __future__ import annotations

import hashlib

import msgspec

__all__ = ["KEYLOG_LEAF", "MAX_BYTES", "EC_BATCH", "RSA_BATCH", "KeyEntry", "KeyLog", "keylog_secret",
           "keylog_version", "encode_keylog", "decode_keylog", "batch_size"]

KEYLOG_LEAF = ".issuer/keys"
MAX_BYTES = 24_000          # far under KMS's 30,720 bytes per SecretData
EC_BATCH = 32               # ~300 bytes per EC entry: two batches ≈ 19 KB
RSA_BATCH = 6               # ~1.75 KB per RSA 2048 entry: two batches ≈ 21 KB


class KeyEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One key: the certificate's ``CustomIdentifier`` (``ci``) and its private key (``key``: PKCS#8
    DER, Base64)."""

    ci: str
    key: str

    def __repr__(self) -> str:  # never print key material
        return f"KeyEntry(ci={self.ci!r}, key=…)"


class KeyLog(msgspec.Struct, frozen=True, kw_only=True):
    """A version of the key log: the ``order`` (execution name) and ``batch`` that wrote it and the
    keys of certificates not stored yet."""

    v: int = 1
    order: str
    batch: int
    entries: tuple[KeyEntry, ...] = ()


def keylog_secret(secret_prefix: str) -> str:
    """``<prefix>/.issuer/keys`` — the key log of the lane issuing under ``secret_prefix``."""
    return f"{secret_prefix}/{KEYLOG_LEAF}"


def keylog_version(order: str, batch: int) -> str:
    """``VersionId`` of batch ``batch`` of ``order``: ``k-<20 hex>`` (unique per order and batch, ≤ 64)."""
    return "k-" + hashlib.sha256(f"{order}\x1f{batch}".encode()).hexdigest()[:20]


def encode_keylog(log: KeyLog) -> str:
    return msgspec.json.encode(log).decode()


def decode_keylog(text: str | bytes) -> KeyLog | None:
    """The log in ``text``, or ``None`` when it is not one."""
    try:
        return msgspec.json.decode(text, type=KeyLog)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def batch_size(key_family: str) -> int:
    """Keys per batch for the CA's key family (``EC`` or ``RSA``)."""
    return RSA_BATCH if key_family == "RSA" else EC_BATCH
