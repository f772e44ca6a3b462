"""The own-CA check of ``albmtls doctor``: its KMS instance, its keys per generation and its
upload to the CAS certificate repository."""
from __future__ import annotations

from typing import Any

from .base import DoctorEnv, Finding, finish


# -- your own CA: its KMS instance, its keys, its upload ---------------------------------------------------
def _key_problems(keys: Any, ref: Any, cert_pem: str, role: str) -> list[str]:
    """What is wrong with one CA key (``DescribeKey`` + ``GetPublicKey``) against its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    info = keys.describe_key(ref.key_id)
    if info is None:
        return [f"{role} key {ref.key_id} does not exist"]
    out = []
    if info.spec not in ("EC_P256", "RSA_2048") or info.spec != ref.spec:
        out.append(f"{role} key {ref.key_id} is {info.spec}, the CA records {ref.spec}")
    if info.usage != "SIGN/VERIFY":
        out.append(f"{role} key {ref.key_id} has KeyUsage {info.usage}, not SIGN/VERIFY")
    if info.state != "Enabled":
        out.append(f"{role} key {ref.key_id} is {info.state}: enable it (EnableKey, or CancelKeyDeletion)")
        return out                                     # KMS refuses GetPublicKey of a disabled key
    pub = keys.get_public_key(ref.key_id, ref.version_id).encode()
    cert_pub = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if serialization.load_pem_public_key(pub).public_bytes(*spki) != cert_pub.public_bytes(*spki):
        out.append(f"{role} key {ref.key_id} version {ref.version_id} is not the key of its certificate")
    return out


def own_ca(env: DoctorEnv) -> Finding:
    """The KMS instance own CAs' keys are made in, and each own CA under the prefix: its keys (spec,
    SIGN/VERIFY, enabled, the certificate's public key) and its upload in the certificate repository."""
    from shared.adapters.cas import CasRepository
    from shared.adapters.kms import Kms
    from shared.adapters.kmskeys import KmsKeys
    from shared.adapters.ownca import list_ca_names, read_record
    keys, kms = env.adapter(KmsKeys), env.adapter(Kms)
    settles: dict[str, str] = {}
    inst_id = env.settings.kms_instance_id
    prefix = (env.inp.secret_prefix if env.inp is not None else None) or env.settings.secret_prefix or "albmtls"
    problems: list[str] = []
    lines: list[str] = []
    if not inst_id:
        lines.append("ALBMTLS_KMS_INSTANCE_ID is not set: own CAs cannot be created")
    else:
        inst = keys.get_kms_instance(inst_id)
        if inst is None:
            problems.append(f"the KMS instance {inst_id} (ALBMTLS_KMS_INSTANCE_ID) does not exist here")
        else:
            lines.append(f"KMS instance {inst_id}: {inst.status}, {inst.product_type or 'type ?'}, "
                         f"{inst.key_num if inst.key_num is not None else '?'} keys")
    names = list_ca_names(kms, prefix)
    protections: set[str] = set()
    for name in names:
        found = read_record(kms, prefix, name)
        if found is None or not found[0].complete:
            problems.append(f"own CA {name!r} is not complete: run albmtls ca create --name {name}")
            continue
        rec = found[0]
        for g in rec.generations:
            if g.retired_at:
                continue
            problems += _key_problems(keys, g.root_key, g.root_pem, f"{name} G{g.gen} root")
            problems += _key_problems(keys, g.issuing_key, g.issuing_pem, f"{name} G{g.gen} issuing")
            protections |= {p for p in (g.root_key.protection_level, g.issuing_key.protection_level) if p}
        trusted = rec.trusted
        up = env.adapter(CasRepository).describe_uploaded_ca(trusted.uploaded) \
            if trusted is not None and trusted.uploaded else None
        if up is None:
            problems.append(f"own CA {name!r}: the upload listeners trust "
                            f"({trusted.uploaded if trusted else None}) is not in the certificate repository")
        lines.append(f"own CA {name}: G{rec.issuing_gen} issues, listeners trust G{rec.trusted_gen}"
                     + (f" (upload {trusted.uploaded})" if trusted is not None else ""))
    if not names:
        lines.append(f"no own CA under secret prefix {prefix!r}")
    settles["kms:behaviour:ProtectionLevel"] = (
        f"confirmed: the CA keys report {', '.join(sorted(protections))}" if protections else
        "not seen: no own CA key to read")
    f = finish("own-ca", settles, "; ".join(lines + problems),
                {"kms_instance_id": inst_id, "own_cas": names, "problems": problems})
    if problems:
        f.result = "fail"
        f.fix = "; ".join(problems) + " — set ALBMTLS_KMS_INSTANCE_ID to an existing instance, or re-create the CA"
    return f
