"""The ClientHellos the native engine writes, compared field by field with the real clients'
own, read off the wire: OpenSSL 3.0 through Python's ssl for the generic profiles (so both
engines ask servers the same question), and the JDK and curl installed here for java-17 and
curl-openssl3. GREASE, randomness, key shares' bytes and padding length are not compared."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from certcensus.probe.native import ChainCapture
from certcensus.probe.native.clients import GENERIC, REAL_CLIENTS
from certcensus.probe.profiles import PROFILES, client_context

from ..servers import require
from .hello_parser import ParsedHello, capture_client_hello_from, parse_client_hello_records

OPENSSL_3_0 = ssl.OPENSSL_VERSION_INFO[:2] == (3, 0)


def native_hello(profile: str, server_name: str | None = "example.com") -> ParsedHello:
    return parse_client_hello_records(
        ChainCapture(REAL_CLIENTS.get(profile) or GENERIC[profile], server_name).initiate()
    )


def assert_same_hello(ours: ParsedHello, theirs: ParsedHello) -> None:
    assert ours.cipher_suites == theirs.cipher_suites
    assert ours.extension_types == theirs.extension_types
    assert ours.groups == theirs.groups
    assert ours.key_share_groups == theirs.key_share_groups
    assert ours.signature_algorithms == theirs.signature_algorithms
    assert ours.signature_algorithms_cert == theirs.signature_algorithms_cert
    assert ours.versions == theirs.versions
    assert (ours.record_version, ours.legacy_version) == (
        theirs.record_version,
        theirs.legacy_version,
    )
    assert len(ours.session_id) == len(theirs.session_id)
    for kind in (5, 11, 16, 17, 45):  # bodies that say something fixed
        assert ours.extension(kind) == theirs.extension(kind), kind


def _openssl_hello_in_a_process(profile: str) -> bytes:
    """The OpenSSL engine's ClientHello for `profile`, from a process with the profile's own
    OPENSSL_CONF when it needs one (as workers.py starts them)."""
    environment = dict(os.environ)
    if PROFILES[profile].needs_worker:
        config = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"certcensus-hello-{os.getpid()}-{profile}.cnf"
        )
        config.write_text(PROFILES[profile].openssl_config())
        environment["OPENSSL_CONF"] = str(config)
    code = (
        "import ssl, sys\n"
        "from certcensus.probe.profiles import client_context\n"
        "i, o = ssl.MemoryBIO(), ssl.MemoryBIO()\n"
        "s = client_context(sys.argv[1]).wrap_bio(i, o, server_hostname=sys.argv[2] or None)\n"
        "try:\n    s.do_handshake()\nexcept ssl.SSLWantReadError:\n    pass\n"
        "sys.stdout.buffer.write(o.read())\n"
    )
    sni = "" if profile == "no-sni" else "example.com"
    return subprocess.run([sys.executable, "-c", code, profile, sni], env=environment,
                          capture_output=True, check=True).stdout  # fmt: skip


@pytest.mark.skipif(not OPENSSL_3_0, reason="the generic specs were captured from OpenSSL 3.0")
@pytest.mark.parametrize("profile", sorted(GENERIC))
def test_generic_profiles_say_what_the_openssl_engine_says(profile):
    theirs = parse_client_hello_records(_openssl_hello_in_a_process(profile))
    ours = native_hello(profile, None if profile == "no-sni" else "example.com")
    assert_same_hello(ours, theirs)
    assert ours.server_name == theirs.server_name


def test_the_openssl_engine_context_is_what_was_captured():
    # The in-process context (no OPENSSL_CONF) of `default` is the one the capture came from.
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = client_context("default").wrap_bio(
        incoming, outgoing, server_hostname="example.com"
    )
    with pytest.raises(ssl.SSLWantReadError):
        connection.do_handshake()
    if OPENSSL_3_0:
        assert_same_hello(native_hello("default"), parse_client_hello_records(outgoing.read()))


JDK_CAPTURED = "17.0.15"  # HelloSpec("java-17").source names it


@pytest.mark.server
def test_java_17_profile_is_what_the_jdk_sends(tmp_path):
    java = require("java")
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    # The JDK's defaults change within a release (the 17.0.x a blank Debian 12 installs now no
    # longer offers the TLS_RSA_* suites): compare only with the update the profile came from.
    if f'version "{JDK_CAPTURED}"' not in version:
        pytest.skip(f"the profile was captured from OpenJDK {JDK_CAPTURED}, this is "
                    f"{version.splitlines()[0]}")  # fmt: skip
    source = tmp_path / "Hello.java"
    source.write_text(
        "import javax.net.ssl.*;\n"
        "public class Hello { public static void main(String[] a) throws Exception {\n"
        '  SSLSocket s = (SSLSocket) SSLSocketFactory.getDefault().createSocket("127.0.0.1", Integer.parseInt(a[0]));\n'
        "  SSLParameters p = s.getSSLParameters();\n"
        '  p.setServerNames(java.util.List.of(new SNIHostName("example.com")));\n'
        "  s.setSSLParameters(p);\n"
        "  try { s.startHandshake(); } catch (Exception e) {} } }\n"
    )
    data = capture_client_hello_from(lambda port: subprocess.run([java, str(source), str(port)], timeout=120,
                                                                 capture_output=True))  # fmt: skip
    assert_same_hello(native_hello("java-17"), parse_client_hello_records(data))


@pytest.mark.server
def test_curl_profile_is_what_curl_sends():
    curl = require("curl")
    version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
    if "OpenSSL/3.0" not in version:
        pytest.skip("the profile was captured from curl with OpenSSL 3.0")

    def connect(port: int) -> None:
        subprocess.run([curl, "-sk", "--max-time", "5", "--resolve", f"example.com:{port}:127.0.0.1",
                        f"https://example.com:{port}/"], capture_output=True)  # fmt: skip

    assert_same_hello(
        native_hello("curl-openssl3"),
        parse_client_hello_records(capture_client_hello_from(connect)),
    )


@pytest.mark.parametrize("profile", sorted(REAL_CLIENTS))
def test_every_real_client_profile_documents_its_source(profile):
    spec = REAL_CLIENTS[profile]
    assert len(spec.source) > 40
    assert PROFILES[profile].native_only
