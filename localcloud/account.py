"""The local cloud's one account: its id, region and fixed access key (no imports, so every
product can read it without reaching the emulator)."""
from __future__ import annotations

#: The account id (KMS ARNs, PCA ``UserId``, STS ``GetCallerIdentity``, FC contexts).
ACCOUNT_ID = "1234567890123456"
REGION = "cn-hangzhou"
# The local cloud's own fixed access key. It opens nothing but this emulator.
ACCESS_KEY_ID = "LOCALCLOUDACCESSKEY"
ACCESS_KEY_SECRET = "local-cloud-secret-not-a-real-key"
