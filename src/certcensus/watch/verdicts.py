"""The trust hook for `watch` and `check`: {chain id: {store: trusted}} for a round's census.

Uses certcensus.trust's lenient verdict (a path from what the server sent to a store
certificate, every certificate valid now). The chains' DER comes from the PEM in the census
dict, so the hook needs nothing but the dict. No AIA fetching: a watch must not reach out to
the network on its own; a chain that needs AIA to verify is reported untrusted, which is what
most non-browser clients do with it.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence


def _ders(chain: dict) -> list[bytes]:
    ders = []
    for cert in chain.get("certificates", []):
        body = "".join(line for line in cert["pem"].splitlines() if not line.startswith("-----"))
        ders.append(base64.b64decode(body))
    return ders


def trust_verdict_hook(store_specs: Sequence[str]) -> Callable[[dict], dict]:
    """Load the trust stores once (raises trust.TrustStoreError) and return the hook."""
    from certcensus.trust import chain_trust_verdicts, load_trust_store

    stores = [load_trust_store(spec) for spec in store_specs]

    def verdicts(census_dict: dict) -> dict:
        now = dt.datetime.now(dt.timezone.utc)
        result: dict[str, dict[str, bool]] = {}
        for target in census_dict.get("targets", []):
            for chain in target.get("chains", []):
                if chain["id"] in result:
                    continue
                judged = chain_trust_verdicts(_ders(chain), stores, host=target.get("host"), at=now)
                result[chain["id"]] = {name: v["lenient"]["trusted"] for name, v in judged.items()}
        return result

    return verdicts
