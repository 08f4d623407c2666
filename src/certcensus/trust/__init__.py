"""Trust analysis: which stores accept which chains, and what a store lacks.

- certs.py reads certificates (around what `cryptography` refuses, via certs/readable.py),
  extensions.py gathers what OpenSSL reads from them, signatures.py checks signatures;
- stores.py loads trust stores (PEM, directories, PKCS#7, PKCS#12, JKS, system, mozilla, java);
- pool.py keeps every CA certificate ever seen; aia.py fetches missing issuers into it;
- openssl_chain.py builds and checks the chain as `openssl verify -partial_chain -purpose
  sslserver` does (with name_constraints.py and hostname.py): the lenient verdict;
  strict.py verifies with the web PKI profile;
- verdict.py turns both into reasons a user can read; paths.py enumerates alternative paths
  and missing.py finds the CAs to add; chain_issues.py says what is wrong with a chain as sent;
- judge.py is the one entry point every command uses: stores, pool and AIA loaded once.
"""

from certcensus.trust.aia import AIAFetcher, complete_with_aia
from certcensus.trust.certs import Cert, load_certificates_from_bytes
from certcensus.trust.judge import TrustJudge, TrustRequest
from certcensus.trust.missing import MissingCAs, missing_cas, observed_cas
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore, TrustStoreError, load_trust_store
from certcensus.trust.verdict import (
    ModeVerdict,
    Problem,
    Reason,
    StoreVerdict,
    chain_trust_verdicts,
)

__all__ = [
    "AIAFetcher",
    "CAPool",
    "Cert",
    "MissingCAs",
    "ModeVerdict",
    "Problem",
    "Reason",
    "TrustStore",
    "TrustStoreError",
    "StoreVerdict",
    "TrustJudge",
    "TrustRequest",
    "chain_trust_verdicts",
    "complete_with_aia",
    "load_certificates_from_bytes",
    "load_trust_store",
    "missing_cas",
    "observed_cas",
]
