"""The lab pool against plain stdlib clients: which chain each connection gets, and SMTP STARTTLS.

The clients here are deliberately not certcensus: the pool is the yardstick the prober is
measured with, so it is checked with nothing but `socket` and `ssl`.
"""

from __future__ import annotations

import collections
import logging
import socket
import ssl
import struct
import time

import pytest

from certcensus.lab.demo_pool import DEMO_HOSTNAME, build_demo_pki
from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend, running_pool


@pytest.fixture(scope="module")
def backends() -> list[Backend]:
    """Three backends with one leaf name and three different intermediates (and leaf keys)."""
    pki = PKI()
    root = pki.root("Pool Test Root", key_type="ec256")
    result = []
    for name in ("alpha", "beta", "gamma"):
        intermediate = pki.intermediate(f"Pool Test CA {name}", root, key_type="ec256")
        leaf = pki.leaf(["pool.test", "127.0.0.1"], intermediate, key_type="ec256")
        result.append(Backend(name, leaf, [intermediate]))
    return result


def no_verification() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wire_chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The DER certificates the server sent, in wire order, whatever the Python version."""
    if hasattr(tls, "get_unverified_chain"):  # 3.13+: a list of DER bytes
        return tuple(tls.get_unverified_chain())
    import _ssl  # 3.10-3.12: only on the private object, as _ssl.Certificate

    return tuple(c.public_bytes(_ssl.ENCODING_DER) for c in tls._sslobj.get_unverified_chain())


def connect(address, source: str | None = None, source_port: int = 0) -> socket.socket:
    source_address = (source or "127.0.0.1", source_port) if source or source_port else None
    return socket.create_connection(address, timeout=5, source_address=source_address)


def fetch_chain(address, source=None, context=None, server_hostname=None) -> tuple[bytes, ...]:
    context = context or no_verification()
    with (
        connect(address, source) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return wire_chain(tls)


def name_of(chain: tuple[bytes, ...], backends: list[Backend]) -> str:
    return next(b.name for b in backends if b.wire_ders == chain)


def test_weighted_pool_serves_each_chain_in_wire_order_as_often_as_counted(backends):
    alpha, beta = backends[0], backends[1]
    weighted = [
        Backend("alpha", alpha.leaf, alpha.chain, 0.75),
        Backend("beta", beta.leaf, beta.chain, 0.25),
    ]
    with running_pool(weighted, choice="random", seed=7) as pool:
        seen = collections.Counter(fetch_chain(pool.address) for _ in range(120))
        served = dict(pool.served)

    assert set(seen) == {alpha.wire_ders, beta.wire_ders}
    for chain in seen:
        assert len(chain) == 2  # leaf then intermediate, no root
    assert alpha.wire_ders == (alpha.leaf.der, alpha.chain[0].der)
    by_name = {name_of(chain, weighted): count for chain, count in seen.items()}
    assert by_name == served
    assert 0.6 < by_name["alpha"] / 120 < 0.9


def test_same_seed_gives_the_same_sequence_of_chains(backends):
    def sequence(seed):
        with running_pool(backends, seed=seed) as pool:
            return [name_of(fetch_chain(pool.address), backends) for _ in range(12)]

    assert sequence(3) == sequence(3)
    assert len(set(sequence(3))) > 1


def test_round_robin_hands_out_backends_strictly_in_turn(backends):
    with running_pool(backends, choice="round-robin") as pool:
        names = [name_of(fetch_chain(pool.address), backends) for _ in range(7)]
    assert names == ["alpha", "beta", "gamma", "alpha", "beta", "gamma", "alpha"]


def test_per_address_keeps_each_client_address_on_one_backend(backends):
    addresses = [f"127.0.0.{n}" for n in range(2, 10)]  # all of 127/8 is loopback on Linux
    with running_pool(backends, choice="per-address", seed=1) as pool:
        names = {
            a: {name_of(fetch_chain(pool.address, a), backends) for _ in range(3)}
            for a in addresses
        }
    assert all(len(seen) == 1 for seen in names.values()), names
    assert len(set().union(*names.values())) > 1, "every address landed on the same backend"


def close_with_reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): no TIME_WAIT, and the rudest thing a client can do."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_source_port_choice_follows_the_client_port(backends):
    with running_pool(backends, choice="source-port", seed=1) as pool:

        def chain_from(port: int = 0) -> tuple[int, str]:
            """(client port, backend name); port 0 lets the kernel pick a free one."""
            raw = socket.socket()
            raw.settimeout(5)
            raw.bind(("127.0.0.1", port))
            raw.connect(pool.address)
            tls = no_verification().wrap_socket(raw)
            result = tls.getsockname()[1], name_of(wire_chain(tls), backends)
            close_with_reset(tls)  # no TIME_WAIT, so the same port can be used again at once
            return result

        port, name = chain_from()
        assert chain_from(port) == chain_from(port) == (port, name)
        assert len({chain_from()[1] for _ in range(12)}) > 1


def test_time_window_moves_to_the_next_backend_when_the_window_turns(backends):
    now = [100.0]
    with running_pool(
        backends[:2], choice="time-window", window_seconds=10, clock=lambda: now[0]
    ) as pool:
        names = []
        for t in (100.0, 109.9, 110.0, 119.0, 120.0):
            now[0] = t
            names.append(name_of(fetch_chain(pool.address), backends))
    assert names[0] == names[1] != names[2] == names[3] != names[4]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_client_can_resume_a_session_and_skip_the_certificate(backends, version):
    context = no_verification()
    context.maximum_version = version
    with running_pool(backends[:1]) as pool:
        with connect(pool.address) as raw, context.wrap_socket(raw) as tls:
            tls.setblocking(False)
            with pytest.raises((ssl.SSLWantReadError, BlockingIOError)):
                tls.recv(1)  # lets a TLS 1.3 NewSessionTicket arrive, if one were sent
            session = tls.session
        assert not session.has_ticket
        with connect(pool.address) as raw, context.wrap_socket(raw, session=session) as tls:
            assert not tls.session_reused
            assert wire_chain(tls) == backends[0].wire_ders


def client_hello() -> bytes:
    """The bytes of a real ClientHello, from a TLS client with nothing but memory behind it."""
    tls = no_verification().wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO())
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_clients_that_reset_do_not_disturb_the_pool_or_its_logs(backends, caplog):
    caplog.set_level(logging.WARNING)
    with running_pool(backends[:1]) as pool:
        for attempt in range(12):
            raw = connect(pool.address)
            if attempt % 3 == 1:
                raw.sendall(client_hello())  # reset while the server reads the ClientHello
            elif attempt % 3 == 2:
                raw.sendall(client_hello())
                assert raw.recv(1) == b"\x16"  # the server's flight began: reset mid-handshake
            close_with_reset(raw)
        assert fetch_chain(pool.address) == backends[0].wire_ders
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("protocol", ["tls", "smtp"])
def test_stopping_closes_connections_that_clients_left_open(backends, protocol):
    started = time.monotonic()
    with running_pool(backends[:1], protocol=protocol, idle_timeout=60) as pool:
        silent = connect(pool.address)  # never says anything
        talking = connect(pool.address)
        if protocol == "tls":
            talking = no_verification().wrap_socket(talking)  # handshake done, then idle
        else:
            assert talking.recv(100).startswith(b"220 ")
    assert time.monotonic() - started < 30, "stop() waited for the idle timeout"
    for sock in (silent, talking):
        with sock:
            try:
                while sock.recv(4096):  # an SMTP greeting may come first, then the end
                    pass
            except (ConnectionResetError, ssl.SSLError):
                pass  # an abort may arrive as RST: closed either way


class SMTPClient:
    """A hand-driven SMTP client that frames replies properly (RFC 5321 section 4.2.1)."""

    def __init__(self, address):
        self.sock = connect(address)
        self.buffer = b""
        self.partial_reads = 0  # receives that ended mid-line: evidence of split writes

    def reply(self) -> list[str]:
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                data = self.sock.recv(4096)
                if not data:
                    raise EOFError(f"closed after {lines!r}")
                self.partial_reads += not data.endswith(b"\n")
                self.buffer += data
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return lines

    def command(self, line: str) -> list[str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def closed_by_server(self) -> bool:
        return self.sock.recv(1) == b""


def test_smtp_starttls_completes_and_presents_the_chosen_chain(backends):
    with running_pool(
        backends, protocol="smtp", choice="round-robin", smtp_name="mx.pool.test"
    ) as pool:
        client = SMTPClient(pool.address)
        assert client.reply() == ["220 mx.pool.test ESMTP"]
        ehlo = client.command("EHLO client.test")
        assert (
            ehlo[0] == "250-mx.pool.test Hello"
            and "250-STARTTLS" in ehlo
            and ehlo[-1].startswith("250 ")
        )
        assert client.command("STARTTLS") == ["220 2.0.0 Ready to start TLS"]
        tls = no_verification().wrap_socket(client.sock)
        assert wire_chain(tls) == backends[0].wire_ders
        client.sock = tls  # RFC 3207 section 4.2: start over with EHLO, inside TLS
        assert not any("STARTTLS" in line for line in client.command("EHLO client.test"))
        assert client.command("QUIT") == ["221 2.0.0 Bye"]
        tls.close()
        assert pool.served == {"alpha": 1}


def test_smtp_sessions_cannot_be_resumed_after_a_clean_quit(backends):
    context = no_verification()
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the version that resumes by session ID
    with running_pool(backends[:1], protocol="smtp") as pool:
        session = None
        for _ in range(2):
            client = SMTPClient(pool.address)
            client.reply()
            client.command("EHLO client.test")
            client.command("STARTTLS")
            client.sock = context.wrap_socket(client.sock, session=session)
            assert not client.sock.session_reused
            assert wire_chain(client.sock) == backends[0].wire_ders
            session = client.sock.session
            assert client.command("QUIT") == ["221 2.0.0 Bye"]
            client.sock.close()


def test_smtp_without_starttls_in_ehlo_but_still_answering_it(backends):
    with running_pool(backends, protocol="smtp", smtp_advertise_starttls=False) as pool:
        client = SMTPClient(pool.address)
        client.reply()
        ehlo = client.command("EHLO client.test")
        assert len(ehlo) > 2 and not any("STARTTLS" in line for line in ehlo)
        assert client.command("STARTTLS")[0].startswith("220 ")  # a stripping middlebox's case
        client.sock.close()


def test_smtp_refused_starttls_leaves_the_session_usable(backends):
    with running_pool(
        backends, protocol="smtp", smtp_starttls_reply="454 4.7.0 TLS not available"
    ) as pool:
        client = SMTPClient(pool.address)
        client.reply()
        client.command("EHLO client.test")
        assert client.command("STARTTLS") == ["454 4.7.0 TLS not available"]
        assert client.command("NOOP") == ["250 2.0.0 OK"]
        assert client.command("QUIT") == ["221 2.0.0 Bye"]
        assert client.closed_by_server()
        client.sock.close()
        assert pool.served == {}


def test_smtp_busy_greeting_then_the_server_hangs_up(backends):
    with running_pool(backends, protocol="smtp", smtp_greeting="421 busy") as pool:
        client = SMTPClient(pool.address)
        assert client.reply() == ["421 busy"]
        assert client.closed_by_server()
        client.sock.close()


def test_smtp_replies_written_a_byte_at_a_time_still_frame(backends):
    with running_pool(backends, protocol="smtp", split_writes=True) as pool:
        client = SMTPClient(pool.address)
        assert client.reply()[0].startswith("220 ")
        assert "250-STARTTLS" in client.command("EHLO client.test")
        assert client.command("STARTTLS") == ["220 2.0.0 Ready to start TLS"]
        with no_verification().wrap_socket(client.sock) as tls:
            assert wire_chain(tls) in {b.wire_ders for b in backends}
        assert client.partial_reads > 0


def test_smtp_rejects_starttls_with_an_argument(backends):
    with running_pool(backends, protocol="smtp") as pool:
        client = SMTPClient(pool.address)
        client.reply()
        client.command("EHLO client.test")
        assert client.command("STARTTLS now")[0].startswith("501 ")
        client.sock.close()


def test_demo_pool_tells_the_story_of_a_half_rolled_chain(tmp_path):
    demo = build_demo_pki(tmp_path)
    old, new = demo.backends
    assert (old.weight, new.weight) == (0.92, 0.08)
    for backend, root in zip(demo.backends, demo.roots):
        leaf, intermediate = backend.leaf.certificate, backend.chain[0].certificate
        assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
        assert len(backend.wire_ders) == 2  # the root is never sent
    assert old.leaf.certificate.public_key() != new.leaf.certificate.public_key()
    assert [p.read_bytes() for p in demo.root_pem_paths] == [r.pem for r in demo.roots]

    def verifying(*root_paths) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(root_paths[0]))
        for path in root_paths[1:]:
            context.load_verify_locations(cafile=str(path))
        return context

    old_root_only = verifying(demo.root_pem_paths[0])
    with running_pool(demo.backends, choice="round-robin") as pool:
        with (
            connect(pool.address) as raw,
            old_root_only.wrap_socket(raw, server_hostname=DEMO_HOSTNAME),
        ):
            pass  # the old chain verifies against the old root
        with pytest.raises(ssl.SSLCertVerificationError):
            with (
                connect(pool.address) as raw,
                old_root_only.wrap_socket(raw, server_hostname=DEMO_HOSTNAME),
            ):
                pass  # the new chain does not: the outage the demo is about
        both_roots = verifying(*demo.root_pem_paths)
        for _ in range(2):  # both chains verify once both roots are trusted (IP SAN too)
            fetch_chain(pool.address, context=both_roots, server_hostname="127.0.0.1")
    with running_pool(demo.backends, seed=5) as pool:
        names = collections.Counter(
            name_of(fetch_chain(pool.address), demo.backends) for _ in range(100)
        )
    assert 0.02 < names[new.name] / 100 < 0.16


def test_smtp_backends_can_name_themselves_in_greeting_and_ehlo(backends):
    with running_pool(backends, protocol="smtp", choice="round-robin", smtp_name="pool.test",
                      smtp_backend_names=True) as pool:  # fmt: skip
        seen = []
        for _ in backends:
            client = SMTPClient(pool.address)
            greeting = client.reply()
            ehlo = client.command("EHLO client.test")
            seen.append((greeting[0], ehlo[0]))
            client.sock.close()
    assert sorted(seen) == [
        (f"220 {name}.pool.test ESMTP", f"250-{name}.pool.test Hello")
        for name in ("alpha", "beta", "gamma")
    ]
