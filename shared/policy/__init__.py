"""Pure policy: typed contracts and their validation, certificate ids, the PKI checks and PKCS#12
profiles, the renewal rule, the DNS rules. No SDK import and no I/O (an import-linter contract
holds it); everything takes its inputs, including the time, as arguments and is table-tested."""
