"""Backend attribution against real servers behind a real HAProxy.

- four Postfix instances, each with its own myhostname, two of them serving a new chain: each
  chain is attributed to exactly its two backends, and the split is said to be by backend;
- two Dovecot instances with different login_greeting (one per chain), over IMAP STARTTLS and
  imaps (the greeting read after the handshake);
- nginx with `add_header X-Served-By` per server block, probed with --http-head;
- what must never fail a probe: --http-head against a server that does not speak HTTP, and an
  implicit-TLS service that never greets;
- the ServerHello fingerprint against OpenSSL's own trace of the same handshake (s_client -trace).
"""

from __future__ import annotations

import contextlib
import re
import subprocess

import pytest

from certcensus.model.chain import chain_fingerprint
from certcensus.store import open_store

from ..servers import free_port, haproxy, require, running
from . import mail_configs
from .mail_fixtures import mail_chain, require_binary, require_file  # noqa: F401 (fixtures)

pytestmark = pytest.mark.server

POSTFIX_NAMES = ("mx-a.pool.test", "mx-b.pool.test", "mx-c.pool.test", "mx-d.pool.test")


@pytest.fixture(scope="module")
def new_chain():
    return mail_configs.make_server_chain()


def scan_json(cli, db, *arguments):
    result = cli("scan", *arguments, "--rate", "0", "--db", db, "--json", "-q")
    assert result.code == 0, result.err
    return result.json["targets"][0]


def stored_probes(db):
    with open_store(db, read_only=True) as store:
        (target,) = store.targets()
        return list(store.probes(target))


@pytest.fixture(scope="module")
def postfix_pool(mail_chain, new_chain, tmp_path_factory):
    """Four Postfix backends behind HAProxy (round robin): a and b old chain, c and d new."""
    require_file(mail_configs.POSTFIX_MASTER, "postfix")
    chains = (mail_chain, mail_chain, new_chain, new_chain)
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(mail_configs.running_postfix(chain, myhostname=name))
            for name, chain in zip(POSTFIX_NAMES, chains)
        ]
        backends = [(server.ports["smtp"], 1) for server in servers]
        port = stack.enter_context(
            haproxy(tmp_path_factory.mktemp("haproxy"), backends, "roundrobin")
        )
        yield port


def test_each_chain_is_attributed_to_exactly_its_two_postfix_backends(
    cli, db, postfix_pool, mail_chain, new_chain
):
    census = scan_json(cli, db, f"127.0.0.1:{postfix_pool}", "--starttls", "smtp", "--count", 40)
    assert census["ok"] == 40
    chains = {chain["id"]: chain for chain in census["chains"]}
    old = chains[chain_fingerprint(mail_chain.wire_ders)]
    new = chains[chain_fingerprint(new_chain.wire_ders)]
    # Round robin over four: ten probes each, and the greeting's and EHLO's names agree.
    assert old["backends"] == {"mx-a.pool.test": 10, "mx-b.pool.test": 10}
    assert new["backends"] == {"mx-c.pool.test": 10, "mx-d.pool.test": 10}
    assert census["split_by_backend"] is True
    assert census["backend_estimate"]["seen"] == 4
    assert {b["identity"]: b["chains"] for b in census["backends"]} == {
        "mx-a.pool.test": {old["id"]: 10}, "mx-b.pool.test": {old["id"]: 10},
        "mx-c.pool.test": {new["id"]: 10}, "mx-d.pool.test": {new["id"]: 10},
    }  # fmt: skip
    assert not any(b["serves_several_chains"] for b in census["backends"])
    summary = census["backend_summary"]
    assert "chain #2 on 2 of them: mx-c.pool.test, mx-d.pool.test" in summary or (
        "chain #2 on 2 of them: mx-a.pool.test, mx-b.pool.test" in summary
    )
    assert any("the split is by backend" in line for line in summary)
    # The same in the text report a person reads.
    report = cli("report", "--db", db)
    assert "served by: mx-a.pool.test 10, mx-b.pool.test 10" in report.out
    assert "Every backend serves exactly one chain" in report.out


@pytest.fixture(scope="module")
def dovecot_pool(mail_chain, new_chain, tmp_path_factory):
    """Two Dovecot backends with their own login_greeting (a: old chain, b: new) behind two
    HAProxy frontends, one for IMAP STARTTLS and one for imaps."""
    require_binary("dovecot", "dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-lmtpd")
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                mail_configs.running_dovecot(
                    tmp_path_factory.mktemp(f"dovecot-{name}"),
                    chain,
                    login_greeting=f"backend-{name} ready.",
                )
            )
            for name, chain in (("a", mail_chain), ("b", new_chain))
        ]
        ports = {
            service: stack.enter_context(
                haproxy(tmp_path_factory.mktemp(f"haproxy-{service}"),
                        [(server.ports[service], 1) for server in servers], "roundrobin")
            )
            for service in ("imap", "imaps")
        }  # fmt: skip
        yield ports


@pytest.mark.parametrize("how", ["imap STARTTLS", "imaps"])
def test_two_dovecot_greetings_name_the_backend_of_each_chain(
    cli, db, dovecot_pool, mail_chain, new_chain, how
):
    if how == "imaps":
        census = scan_json(cli, db, f"imaps://127.0.0.1:{dovecot_pool['imaps']}", "--count", 20)
    else:
        census = scan_json(
            cli, db, f"127.0.0.1:{dovecot_pool['imap']}", "--starttls", "imap", "--count", 20
        )
    assert census["ok"] == 20
    backends = {chain["id"]: chain["backends"] for chain in census["chains"]}
    assert backends == {
        chain_fingerprint(mail_chain.wire_ders): {"backend-a ready.": 10},
        chain_fingerprint(new_chain.wire_ders): {"backend-b ready.": 10},
    }
    assert census["split_by_backend"] is True


def test_http_head_against_dovecot_imaps_keeps_the_chain_and_says_why_there_is_no_identity(
    cli, db, dovecot_pool
):
    # tls:// is implicit TLS with no known service: --http-head sends HEAD, Dovecot greets.
    census = scan_json(
        cli, db, f"tls://127.0.0.1:{dovecot_pool['imaps']}", "--count", 6, "--http-head"
    )
    assert census["ok"] == 6 and census["errors"] == {}
    assert [b["identity"] for b in census["backends"]] == [None]
    details = {probe.server_identity_detail for probe in stored_probes(db)}
    # Dovecot's greeting, quoted; on a busy machine imap-login may greet "* OK Waiting for
    # authentication process to respond.." instead of its capabilities: the same answer.
    assert details and all(
        d.startswith("--http-head: not an HTTP answer: * OK [CAPABILITY")
        or d.startswith("--http-head: not an HTTP answer: * OK Waiting for authentication")
        for d in details
    ), details


NGINX_BLOCK = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        ssl_session_cache off;
        ssl_session_tickets off;
        add_header X-Served-By {name} always;
        {extra}
        location / {{ return 204; }}
    }}
"""


@contextlib.contextmanager
def nginx_backends(directory, blocks):
    """One nginx, one server block per (name, chain files, extra directives) on its own port."""
    binary = require("nginx")
    prefix = directory / "nginx"
    prefix.mkdir()
    ports = [free_port() for _ in blocks]
    servers = "".join(
        NGINX_BLOCK.format(
            port=port, chain=files["chain"], key=files["key"], name=name, extra=extra
        )
        for port, (name, files, extra) in zip(ports, blocks)
    )
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "daemon off;\nevents { worker_connections 512; }\n"
        f"http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n"
        f" proxy_temp_path {prefix}/proxy;\n fastcgi_temp_path {prefix}/fastcgi;\n"
        f" uwsgi_temp_path {prefix}/uwsgi;\n scgi_temp_path {prefix}/scgi;\n{servers}}}\n"
    )
    with running([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], ports[-1]):
        yield ports


@pytest.fixture(scope="module")
def nginx_pool(mail_chain, new_chain, tmp_path_factory):
    directory = tmp_path_factory.mktemp("nginx-pool")
    blocks = [
        ("web-a", mail_chain.write(directory / "a"), ""),
        ("web-b", mail_chain.write(directory / "b"), ""),
        ("web-c", new_chain.write(directory / "c"), "add_header X-Pool canary always;"),
    ]
    with nginx_backends(directory, blocks) as ports:
        with haproxy(directory, [(port, 1) for port in ports], "roundrobin") as front:
            yield front, ports


def test_http_head_names_each_nginx_server_block(cli, db, nginx_pool, mail_chain, new_chain):
    front, _ = nginx_pool
    census = scan_json(
        cli, db, f"https://127.0.0.1:{front}", "--count", 30, "--http-head",
        "--identity-header", "X-Pool",
    )  # fmt: skip
    version = subprocess.run([require("nginx"), "-v"], capture_output=True, text=True).stderr
    server = "nginx/" + re.search(r"nginx/(\S+)", version).group(1)
    backends = {chain["id"]: chain["backends"] for chain in census["chains"]}
    assert backends == {
        chain_fingerprint(mail_chain.wire_ders): {
            f"X-Served-By: web-a; Server: {server}": 10,
            f"X-Served-By: web-b; Server: {server}": 10,
        },
        chain_fingerprint(new_chain.wire_ders): {
            f"X-Pool: canary; X-Served-By: web-c; Server: {server}": 10
        },
    }
    assert {probe.server_identity_detail for probe in stored_probes(db)} == {"HTTP 204"}


def test_without_http_head_https_probes_name_no_backend(cli, db, nginx_pool):
    front, _ = nginx_pool
    census = scan_json(cli, db, f"https://127.0.0.1:{front}", "--count", 6)
    assert [(b["identity"], b["count"]) for b in census["backends"]] == [(None, 6)]
    assert census["backend_estimate"]["seen"] == 0
    # JSON object keys are strings: probes without an identity are counted under "null".
    assert census["chains"][0]["backends"] == {"null": census["chains"][0]["count"]}


def test_an_implicit_tls_service_that_never_greets_keeps_its_chains(cli, db, nginx_pool):
    # nginx does not greet: probed as imaps, each probe waits the greeting's 1 s and moves on.
    _, ports = nginx_pool
    census = scan_json(cli, db, f"imaps://127.0.0.1:{ports[0]}", "--count", 4)
    assert census["ok"] == 4 and census["errors"] == {}
    probes = stored_probes(db)
    assert {(p.server_identity, p.server_identity_detail) for p in probes} == {
        (None, "no greeting within 1s after the handshake")
    }


# --- the ServerHello fingerprint against OpenSSL's trace of the same handshake ---------------


def traced_fingerprint(port: int) -> str:
    """The fingerprint as read from `openssl s_client -trace`'s decoding of the ServerHello."""
    trace = subprocess.run(
        # -no_ticket: like a probe, which never asks for resumption (a server echoes
        # session_ticket only to clients that offer it).
        [require("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-trace", "-no_ticket"],
        input=b"", capture_output=True, timeout=30,
    ).stdout.decode()  # fmt: skip
    hellos = re.findall(r"ServerHello, Length=\d+\n(.*?)\n(?=\S)", trace, re.S)
    assert hellos, trace
    hello = hellos[-1]  # after a HelloRetryRequest, the real ServerHello
    retried = len(hellos) > 1 or "HelloRetryRequest" in trace
    version = int(re.search(r"server_version=0x(\w+)", hello).group(1), 16)
    supported = re.search(r"supported_versions\(43\), length=2\n\s+TLS [\d.]+ \((\d+)\)", hello)
    if supported:
        version = int(supported.group(1))
    suite = re.search(r"cipher_suite \{0x(\w+), 0x(\w+)\}", hello)
    types = [int(t) for t in re.findall(r"extension_type=\S+?\((\d+)\)", hello)]
    label = {0x0303: "12", 0x0304: "13"}[version] + ("r" if retried else "")
    extensions = "-".join(f"{t:04x}" for t in types) or "none"
    return f"{label}_{int(suite.group(1), 16):02x}{int(suite.group(2), 16):02x}_{extensions}"


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["-tls1_2"],
        ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
        ["-groups", "P-384"],  # clients send an X25519 share first: HelloRetryRequest
    ],
    ids=["tls1.3", "tls1.2", "tls1.2-aes128", "hello-retry"],
)
def test_server_hello_fingerprint_matches_openssl_s_client_trace(
    cli, db, mail_chain, tmp_path, options
):
    files = mail_chain.write(tmp_path / "certs")
    port = free_port()
    command = [
        require("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-cert", files["leaf"],
        "-key", files["key"], "-cert_chain", files["intermediate"], "-quiet", *options,
    ]  # fmt: skip
    with running([str(part) for part in command], port):
        expected = traced_fingerprint(port)
        census = scan_json(cli, db, f"127.0.0.1:{port}", "--count", 3, "--concurrency", 1)
    assert census["ok"] == 3
    (hello,) = census["server_hellos"]
    assert hello["fingerprint"] == expected
    assert hello["count"] == 3
    if "-groups" in options:
        assert expected.startswith("13r_")


def test_worker_processes_carry_the_identity_and_the_server_hello(cli, db, nginx_pool):
    front, _ = nginx_pool
    census = scan_json(cli, db, f"https://127.0.0.1:{front}", "--count", 6, "--http-head",
                       "--workers", 1)  # fmt: skip
    assert census["ok"] == 6
    assert {b["identity"].split(";")[0] for b in census["backends"]} == {
        "X-Served-By: web-a", "X-Served-By: web-b", "X-Served-By: web-c",
    }  # fmt: skip
    assert all(probe.server_hello for probe in stored_probes(db))
