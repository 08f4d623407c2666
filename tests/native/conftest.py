"""Fixtures of the native engine's tests: a small chain made by the lab PKI."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def chain_ders(pki) -> list[bytes]:
    root = pki.root("Native Test Root", key_type="ec256")
    ca = pki.intermediate("Native Test CA", root, key_type="ec256")
    leaf = pki.leaf("native.test", ca, key_type="ec256")
    return [leaf.der, ca.der]
