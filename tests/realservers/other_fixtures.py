"""Real directory, chat, database and remote-desktop servers from Debian packages, on loopback.

Each fixture starts one server in the foreground on 127.0.0.1 and a free port, with a leaf and
intermediate made for the test and the server configured to send both, and stops it after the
module. Servers that refuse to run as root (PostgreSQL) run as their Debian system user; their
files live in a directory that user can reach (pytest's tmp_path is private to root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certcensus.lab.pki import Issued, write_server_files
from certcensus.model.chain import chain_fingerprint

from ..servers import free_port, missing, require, stop, wait_for_port

SERVER_NAMES = ["127.0.0.1", "localhost", "certcensus.test"]
XMPP_DOMAIN = "certcensus.test"
XMPP_DOMAIN_WITHOUT_CERTIFICATE = "nocert.test"


@dataclass(frozen=True)
class ServedChain:
    leaf: Issued
    intermediate: Issued

    @property
    def wire_ders(self) -> list[bytes]:
        return [self.leaf.der, self.intermediate.der]

    @property
    def fingerprints(self) -> list[str]:
        return [self.leaf.sha256, self.intermediate.sha256]

    @property
    def chain_id(self) -> str:
        return chain_fingerprint(self.wire_ders)

    def write(self, directory: Path, stem: str = "server") -> tuple[Path, Path]:
        """`<stem>.crt` (leaf, then intermediate) and `<stem>.key` in `directory`."""
        return write_server_files(directory, self.leaf, [self.intermediate], stem)


@dataclass(frozen=True)
class Server:
    port: int  # the plaintext port the STARTTLS dialog starts on
    log: Path  # what the server printed: the first place to look when a test fails
    tls_port: int | None = None  # implicit TLS (ldaps, ircs), where the server opens one
    s2s_port: int | None = None  # XMPP server-to-server


def served_chain_for(pki, key_type: str) -> ServedChain:
    root = pki.root(f"Real Servers Root {key_type}")
    intermediate = pki.intermediate(f"Real Servers CA {key_type}", root, key_type="ec256")
    return ServedChain(pki.leaf(SERVER_NAMES, intermediate, key_type=key_type), intermediate)


@pytest.fixture(scope="module")
def served_chain(pki) -> ServedChain:
    return served_chain_for(pki, "ec256")


@pytest.fixture(scope="module")
def served_rsa_chain(pki) -> ServedChain:
    """For xrdp: an RSA leaf, the kind RDP hosts serve."""
    return served_chain_for(pki, "rsa2048")


@contextlib.contextmanager
def foreground(
    command: list[str],
    ports: list[int],
    log: Path,
    *,
    user: str | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Run `command` until the block ends, once it accepts on every one of `ports`.

    Its output goes to `log`, not a pipe: servers that log every probe (MariaDB's "Aborted
    connection") would fill an unread pipe and stall.
    """
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **_as_user(user),
        )
    try:
        try:
            for port in ports:
                wait_for_port(port, process)
        except (RuntimeError, TimeoutError) as error:
            said = log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{command[0]}: {error}\n--- {log} ---\n{said}") from None
        yield process
    finally:
        stop(process, grace=20)


def _as_user(user: str | None) -> dict:
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def system_user(name: str) -> str | None:
    """The Debian service account to run as when we are root (CI); None: run as ourselves."""
    return name if os.geteuid() == 0 else None


def run_to_completion(command: list[str], log: Path, user: str | None = None) -> None:
    with log.open("ab") as output:
        done = subprocess.run(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **_as_user(user),
        )
    if done.returncode:
        said = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{command[0]} exited with {done.returncode}\n{said}")


@contextlib.contextmanager
def service_directory(user: str | None) -> Iterator[Path]:
    """A fresh directory `user` owns and can reach: under /tmp, since pytest's tmp_path is
    private to root, and PostgreSQL and MariaDB run as their own users."""
    directory = Path(tempfile.mkdtemp(prefix="certcensus-realserver-"))
    directory.chmod(0o755)
    try:
        if user:
            shutil.chown(directory, user, user)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_chain_for(user: str | None, chain: ServedChain, directory: Path) -> tuple[Path, Path]:
    certificate, key = chain.write(directory)
    for path in (certificate, key):
        if user:
            shutil.chown(path, user, user)
    return certificate, key


# --- OpenLDAP slapd ----------------------------------------------------------------------------


@contextlib.contextmanager
def slapd(directory: Path, chain: ServedChain | None) -> Iterator[Server]:
    """slapd with no database at all: StartTLS and the handshake need none.

    With a chain it also listens for ldaps:// (implicit TLS) on `tls_port`.
    """
    binary = require("slapd")
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["include /etc/ldap/schema/core.schema", f"pidfile {directory / 'slapd.pid'}"]
    ports = [free_port()]
    urls = [f"ldap://127.0.0.1:{ports[0]}/"]
    if chain:
        certificate, key = chain.write(directory)
        # slapd.conf(5): TLSCertificateFile may hold the intermediates after the server's own
        # certificate, and slapd sends them all, in file order.
        lines += [f"TLSCertificateFile {certificate}", f"TLSCertificateKeyFile {key}"]
        ports.append(free_port())
        urls.append(f"ldaps://127.0.0.1:{ports[1]}/")
    config = directory / "slapd.conf"
    config.write_text("\n".join(lines) + "\n")
    log = directory / "slapd.log"
    # -d 0: stay in the foreground, without debug output.
    with foreground([binary, "-d", "0", "-h", " ".join(urls), "-f", str(config)], ports, log):
        yield Server(ports[0], log, tls_port=ports[1] if chain else None)


# --- Prosody (XMPP) ----------------------------------------------------------------------------


@contextlib.contextmanager
def prosody(directory: Path, chain: ServedChain) -> Iterator[Server]:
    """Prosody, c2s on `port` and s2s on `s2s_port`.

    XMPP_DOMAIN has the certificate; XMPP_DOMAIN_WITHOUT_CERTIFICATE has none, so Prosody offers
    no STARTTLS on its streams (and the certificate directory it would search does not exist).
    """
    binary = require("prosody")
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = chain.write(directory)
    (directory / "data").mkdir(exist_ok=True)
    c2s, s2s = free_port(), free_port()
    config = directory / "prosody.cfg.lua"
    config.write_text(f"""-- Written by the certcensus tests.
run_as_root = true -- CI runs as root, which Prosody refuses unless told
pidfile = "{directory}/prosody.pid"
data_path = "{directory}/data"
log = {{ info = "*console" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
modules_enabled = {{ "tls", "saslauth", "disco" }}
certificates = "{directory}/no-certificates-here"
VirtualHost "{XMPP_DOMAIN}"
  ssl = {{ certificate = "{certificate}", key = "{key}" }}
VirtualHost "{XMPP_DOMAIN_WITHOUT_CERTIFICATE}"
""")
    log = directory / "prosody.log"
    with foreground([binary, "--config", str(config), "-F"], [c2s, s2s], log):
        yield Server(c2s, log, s2s_port=s2s)


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_binary(name: str) -> str:
    """Debian keeps the server outside PATH, in /usr/lib/postgresql/<major>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        missing(f"{name} is not installed (run ./scripts/install-debian-packages.sh)")
    return found


@contextlib.contextmanager
def postgres_clusters(chain: ServedChain) -> Iterator[Path]:
    """One initdb (the slow part, about 3 s), copied to `data` and `data-plain`."""
    initdb = postgres_binary("initdb")
    user = system_user("postgres")
    with service_directory(user) as directory:
        log = directory / "initdb.log"
        run_to_completion(
            [
                initdb,
                "-D",
                str(directory / "data"),
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "--username=postgres",
            ],
            log,
            user,
        )
        run_to_completion(
            ["cp", "-a", str(directory / "data"), str(directory / "data-plain")], log, user
        )
        write_chain_for(user, chain, directory)
        yield directory


@contextlib.contextmanager
def postgres(directory: Path, *, ssl: bool) -> Iterator[Server]:
    """postgres on the cluster `data` (ssl=on, the chain) or `data-plain` (ssl=off)."""
    port = free_port()
    data = directory / ("data" if ssl else "data-plain")
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(data),
        "fsync": "off",
        "ssl": "on" if ssl else "off",
    }
    if ssl:
        # ssl_cert_file may hold intermediates after the server's certificate; PostgreSQL
        # sends them (runtime-config-connection: "the first certificate must be the server's").
        settings |= {
            "ssl_cert_file": str(directory / "server.crt"),
            "ssl_key_file": str(directory / "server.key"),
        }
    command = [postgres_binary("postgres"), "-D", str(data)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    log = directory / f"postgres-{port}.log"
    with foreground(command, [port], log, user=system_user("postgres")):
        yield Server(port, log)


# --- MariaDB -------------------------------------------------------------------------------------


@contextlib.contextmanager
def mariadb_datadirs(chain: ServedChain) -> Iterator[Path]:
    """One mariadb-install-db (about 3 s), copied to `data` and `data-plain`."""
    install = require("mariadb-install-db")
    user = system_user("mysql")
    with service_directory(user) as directory:
        log = directory / "install.log"
        command = [
            install,
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        run_to_completion(command + ([f"--user={user}"] if user else []), log)
        run_to_completion(["cp", "-a", str(directory / "data"), str(directory / "data-plain")], log)
        write_chain_for(user, chain, directory)
        yield directory


@contextlib.contextmanager
def mariadb(directory: Path, *, ssl: bool) -> Iterator[Server]:
    """mariadbd with --ssl-cert (leaf then intermediate: it sends both), or with --skip-ssl."""
    binary = require("mariadbd")
    user = system_user("mysql")
    port = free_port()
    data = directory / ("data" if ssl else "data-plain")
    command = [
        binary,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={data}/mysqld.sock",
        f"--pid-file={data}/mysqld.pid",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        # Probes hang up before logging in; each such abort counts against the client's host
        # (ER_HOST_IS_BLOCKED after max_connect_errors), which is not what these tests measure.
        "--max-connect-errors=1000000",
        "--max-connections=1000",
    ]
    if ssl:
        command += [
            f"--ssl-cert={directory / 'server.crt'}",
            f"--ssl-key={directory / 'server.key'}",
        ]
    else:
        command += ["--skip-ssl"]
    if user:
        command.append(f"--user={user}")
    log = directory / f"mariadbd-{port}.log"
    with foreground(command, [port], log):
        yield Server(port, log)


# --- InspIRCd (IRC) ----------------------------------------------------------------------------


@contextlib.contextmanager
def inspircd(
    directory: Path, chain: ServedChain, *, starttls: bool = True, resolve_hostnames: bool = True
) -> Iterator[Server]:
    """InspIRCd 3 with ssl_gnutls: a plaintext port (`port`) and an implicit TLS one (`tls_port`).

    With `starttls`, the starttls module offers the IRCv3 `tls` upgrade on the plaintext port.
    Hostname lookups go to 127.0.0.1 (nothing answers: the lookup fails fast), and the server's
    "*** Looking up your hostname..." NOTICE comes before its 670, as on real networks.
    """
    binary = require("inspircd")
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = chain.write(directory)
    port, tls_port = free_port(), free_port()
    resolve = "yes" if resolve_hostnames else "no"
    modules = '<module name="ssl_gnutls">\n'
    if starttls:
        modules += '<module name="starttls">\n<starttls provider="Clients">\n'
    config = directory / "inspircd.conf"
    config.write_text(f"""<server name="irc.certcensus.test" description="certcensus tests" network="certcensus">
<admin name="certcensus" nick="certcensus" email="certcensus@certcensus.test">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="Clients">
<connect allow="*" timeout="60" threshold="100000" localmax="100000" globalmax="100000"
         resolvehostnames="{resolve}" useident="no">
<dns server="127.0.0.1" timeout="1">
<pid file="{directory}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{directory}/inspircd.log">
{modules}<sslprofile name="Clients" provider="gnutls" certfile="{certificate}" keyfile="{key}" dhfile="">
""")
    log = directory / "inspircd.out"
    # --runasroot: CI runs as root, which InspIRCd refuses unless told.
    command = [binary, "--nofork", "--runasroot", f"--config={config}"]
    with foreground(command, [port, tls_port], log):
        yield Server(port, log, tls_port=tls_port)


# --- xrdp (RDP) ----------------------------------------------------------------------------------


@contextlib.contextmanager
def xrdp(directory: Path, chain: ServedChain, *, security_layer: str = "tls") -> Iterator[Server]:
    """xrdp answering the X.224 Connection Request; `security_layer` tls, negotiate or rdp.

    xrdp listens with a backlog of 2 (common/os_calls.c: `listen(sck, 2)`): probe it with low
    concurrency, or the kernel drops connections and probes time out.
    """
    binary = require("xrdp")
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = chain.write(directory)
    port = free_port()
    config = directory / "xrdp.ini"
    config.write_text(f"""[Globals]
ini_version=1
; one process per connection, as xrdp is normally run; -n keeps the listener in the foreground
fork=true
port=tcp://127.0.0.1:{port}
security_layer={security_layer}
crypt_level=high
certificate={certificate}
key_file={key}
ssl_protocols=TLSv1.2, TLSv1.3
[Logging]
LogFile={directory}/xrdp.log
LogLevel=INFO
EnableSyslog=false
EnableConsole=true
ConsoleLevel=WARNING
""")
    log = directory / "xrdp.out"
    with foreground([binary, "--nodaemon", "--config", str(config)], [port], log):
        yield Server(port, log)


# --- module-scoped fixtures: each server starts once for the test module -----------------------


@pytest.fixture(scope="module")
def slapd_with_tls(tmp_path_factory, served_chain) -> Iterator[Server]:
    with slapd(tmp_path_factory.mktemp("slapd-tls"), served_chain) as server:
        yield server


@pytest.fixture(scope="module")
def slapd_without_tls(tmp_path_factory) -> Iterator[Server]:
    with slapd(tmp_path_factory.mktemp("slapd-plain"), None) as server:
        yield server


@pytest.fixture(scope="module")
def prosody_server(tmp_path_factory, served_chain) -> Iterator[Server]:
    with prosody(tmp_path_factory.mktemp("prosody"), served_chain) as server:
        yield server


@pytest.fixture(scope="module")
def postgres_directory(served_chain) -> Iterator[Path]:
    with postgres_clusters(served_chain) as directory:
        yield directory


@pytest.fixture(scope="module")
def mariadb_directory(served_chain) -> Iterator[Path]:
    with mariadb_datadirs(served_chain) as directory:
        yield directory


@pytest.fixture(scope="module")
def inspircd_with_starttls(tmp_path_factory, served_chain) -> Iterator[Server]:
    with inspircd(tmp_path_factory.mktemp("inspircd"), served_chain) as server:
        yield server


@pytest.fixture(scope="module")
def xrdp_with_tls(tmp_path_factory, served_rsa_chain) -> Iterator[Server]:
    with xrdp(tmp_path_factory.mktemp("xrdp"), served_rsa_chain) as server:
        yield server
