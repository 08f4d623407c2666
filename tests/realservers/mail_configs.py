"""Postfix, Dovecot, INN's nnrpd and ProFTPD from Debian packages, each on loopback with its own
configuration in a scratch directory, serving a test chain (leaf + intermediate).

Nothing here uses or changes the system services' configuration in /etc (Postfix only reads its
package metadata there, meta_directory = /etc/postfix): every server gets a config of its own, listens on 127.0.0.1 (and 127.0.0.2 where a second address
selects other settings) on free ports, runs in the foreground as a child we track, and logs to a
file the tests can read. The launchers are plain context managers so a benchmark can use them
without pytest.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from certcensus.lab.pki import PKI, Issued

from ..servers import free_port, stop, wait_for_port

POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
NNRPD = "/usr/lib/news/bin/nnrpd"
MAKEHISTORY = "/usr/lib/news/bin/makehistory"
DOVECOT_DH = "/usr/share/dovecot/dh.pem"
PROFTPD_MODULES = "/usr/lib/proftpd"


@dataclass(frozen=True)
class ServerChain:
    """What every server here presents: a leaf and the intermediate that issued it."""

    leaf: Issued
    intermediate: Issued

    @property
    def wire_ders(self) -> list[bytes]:
        return [self.leaf.der, self.intermediate.der]

    def write(self, directory: Path) -> dict[str, Path]:
        """Write the files servers ask for: full chain, leaf alone, intermediate alone, key."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "chain": (directory / "server-chain.crt", self.leaf.pem + self.intermediate.pem),
            "leaf": (directory / "server-leaf.crt", self.leaf.pem),
            "intermediate": (directory / "intermediate.crt", self.intermediate.pem),
            "key": (directory / "server.key", self.leaf.key_pem),
        }
        for path, content in files.values():
            path.write_bytes(content)
        files["key"][0].chmod(0o600)
        return {name: path for name, (path, _) in files.items()}


def make_server_chain() -> ServerChain:
    # RSA because ProFTPD's TLSRSACertificateFile wants it and every other server takes it too.
    pki = PKI()
    root = pki.root("certcensus Mail Test Root")
    intermediate = pki.intermediate("certcensus Mail Test CA", root)
    leaf = pki.leaf(["mail.test", "127.0.0.1"], intermediate)
    return ServerChain(leaf, intermediate)


@dataclass
class RunningServer:
    """A started server: its ports by name and the file its log goes to."""

    ports: dict[str, int]
    log: Path
    process: subprocess.Popen = field(repr=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log_lines(self, *needles: str, count: int, limit: float = 15.0) -> list[str]:
        """The log lines containing every needle once there are `count` of them (servers log
        after the connection closed, so the last lines may land a moment after a scan returned)."""
        deadline = time.monotonic() + limit
        while True:
            lines = [
                line for line in self.log_text().splitlines() if all(n in line for n in needles)
            ]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def find_binary(name: str) -> str:
    """The binary's path, looking in the sbin directories too; `name` itself if not found."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


@contextlib.contextmanager
def reachable_directory(name: str) -> Iterator[Path]:
    """A scratch directory that servers' unprivileged users can reach (mode 0755 under /tmp).

    Postfix's master opens its lock file as the postfix user and nnrpd reads its files as news,
    and neither can traverse pytest's tmp_path, whose parents are root-only (0700).
    """
    directory = Path(tempfile.mkdtemp(prefix=f"certcensus-{name}-"))
    try:
        directory.chmod(0o755)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _tracked(command: list[str], ports: dict[str, int], log: Path, env=None, cwd=None):
    """Run `command` with output to `log`, wait for every port, stop it (and only it) after."""
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    server = RunningServer(ports, log, process)
    try:
        for name, port in ports.items():
            host = "127.0.0.2" if name.endswith("@127.0.0.2") else "127.0.0.1"
            try:
                wait_for_port(port, process, host=host)
            except (RuntimeError, TimeoutError) as error:
                log_text = server.log_text()
                raise RuntimeError(
                    f"{command[0]} did not listen on {name}: {error}\n{log_text}"
                ) from error
        yield server
    finally:
        stop(process, grace=15)


# --- Postfix -------------------------------------------------------------------------------------


def postfix_main_cf(directory: Path, certs: dict[str, Path], myhostname: str = "mail.test") -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = {myhostname}
mydestination =
# Without this smtpd asks the proxymap service for local users and stalls when it is absent.
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = {directory}/maillog
# Postfix writes maillog_file only under these prefixes (default: /var, /dev/stdout).
maillog_file_prefixes = {directory}
smtpd_banner = $myhostname ESMTP certcensus test
smtpd_tls_security_level = may
# Postfix 3.4+: key first, then the certificates in the order they go on the wire.
smtpd_tls_chain_files = {certs["key"]}, {certs["chain"]}
# A census opens hundreds of connections from one address: no anvil limits.
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
"""


def postfix_master_cf(tls_port: int, plain_port: int) -> str:
    # Only what an EHLO/STARTTLS session needs: two smtpd listeners (the second with TLS off and
    # its own log name, "postfix-plain/smtpd"), anvil and tlsmgr which smtpd talks to, and
    # postlogd for maillog_file. No chroot.
    return f"""\
127.0.0.1:{tls_port} inet n - n - - smtpd
127.0.0.1:{plain_port} inet n - n - - smtpd
  -o smtpd_tls_security_level=none -o syslog_name=postfix-plain
anvil unix - - n - 1 anvil
tlsmgr unix - - n 1000? 1 tlsmgr
postlog unix-dgram n - n - 1 postlogd
"""


@contextlib.contextmanager
def running_postfix(chain: ServerChain, myhostname: str = "mail.test") -> Iterator[RunningServer]:
    """Postfix's master in the foreground (`master -d`, what `postfix start-fg` runs) with a
    config directory of its own; ports "smtp" (STARTTLS offered) and "smtp-plain" (TLS off)."""
    with reachable_directory("postfix") as directory:
        yield from _postfix_in(directory, chain, myhostname)


def _postfix_in(directory: Path, chain: ServerChain, myhostname: str) -> Iterator[RunningServer]:
    certs = chain.write(directory / "certs")
    ports = {"smtp": free_port(), "smtp-plain": free_port()}
    config = directory / "etc"
    config.mkdir(parents=True)
    (config / "main.cf").write_text(postfix_main_cf(directory, certs, myhostname))
    (config / "master.cf").write_text(postfix_master_cf(ports["smtp"], ports["smtp-plain"]))
    # What `postfix start` would create (postfix-script's create-missing) and master needs: a
    # root-owned pid/ and the service socket directories owned by mail_owner. Without pid/ the
    # master exits 1 before it can log why.
    postfix_user = pwd.getpwnam("postfix")
    postdrop = grp.getgrnam("postdrop").gr_gid
    queue = directory / "queue"
    for sub, mode, owner in (
        ("pid", 0o755, None),
        ("private", 0o700, 0),
        ("public", 0o710, postdrop),
    ):
        (queue / sub).mkdir(parents=True)
        (queue / sub).chmod(mode)
        if owner is not None:
            os.chown(queue / sub, postfix_user.pw_uid, owner)
    data = directory / "data"
    data.mkdir()
    os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)  # master's lock file lives here
    command = [POSTFIX_MASTER, "-c", str(config), "-d"]
    with _tracked(command, ports, directory / "master.log") as server:
        server.log = directory / "maillog"
        yield server


# --- Dovecot -------------------------------------------------------------------------------------


def dovecot_conf(
    directory: Path, certs: dict[str, Path], ports: dict[str, int], ssl: bool, extra: str = ""
) -> str:
    dh = f"ssl_dh = <{DOVECOT_DH}" if ssl else ""
    return f"""\
base_dir = {directory}/run
state_dir = {directory}/state
instance_name = certcensus-{directory.name}
log_path = {directory}/dovecot.log
protocols = imap pop3 sieve lmtp
listen = 127.0.0.1, 127.0.0.2
ssl = {"yes" if ssl else "no"}
ssl_cert = <{certs["chain"]}
ssl_key = <{certs["key"]}
{dh}
# Login processes run as dovenull and the rest as dovecot (the package creates both users);
# the master stays root, which Dovecot allows.
default_login_user = dovenull
default_internal_user = dovecot
# One login process per connection (Dovecot's default) and a census opens dozens at once: past
# process_limit (default 100) Dovecot drops new connections, and exiting login processes still
# count for a moment, so leave room on a loaded 2-core machine.
default_process_limit = 500
default_client_limit = 3000
auth_mechanisms = plain
passdb {{
  driver = static
  args = password=not-used-by-the-tests
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service imap-login {{
  inet_listener imap {{
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    port = {ports.get("imaps", 0)}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports["pop3"]}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service managesieve-login {{
  inet_listener sieve {{
    port = {ports["sieve"]}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    port = {ports["lmtp"]}
  }}
}}
# Connections to 127.0.0.2 get TLS switched off for the login services (IMAP, POP3, ManageSieve).
local 127.0.0.2 {{
  ssl = no
}}
{extra}
"""


@contextlib.contextmanager
def running_dovecot(
    directory: Path, chain: ServerChain, ssl: bool = True, login_greeting: str | None = None
) -> Iterator[RunningServer]:
    """`dovecot -F -c FILE`: IMAP, POP3, ManageSieve and LMTP on free ports of 127.0.0.1 and
    127.0.0.2, and imaps on 127.0.0.1; `ssl=False` starts one with TLS off everywhere;
    `login_greeting` replaces the greeting's text ("Dovecot (Debian) ready.")."""
    certs = chain.write(directory / "certs")
    names = ("imap", "pop3", "sieve", "lmtp", *(("imaps",) if ssl else ()))
    ports = {name: free_port() for name in names}
    extra = f"login_greeting = {login_greeting}" if login_greeting else ""
    for sub in ("run", "state"):
        (directory / sub).mkdir(parents=True)
    config = directory / "dovecot.conf"
    config.write_text(dovecot_conf(directory, certs, ports, ssl, extra))
    ports |= {
        f"{name}@127.0.0.2": port
        for name, port in list(ports.items())
        if name not in ("lmtp", "imaps")
    }
    command = [find_binary("dovecot"), "-F", "-c", str(config)]
    with _tracked(command, ports, directory / "master.log") as server:
        server.log = directory / "dovecot.log"
        yield server


# --- INN's nnrpd ---------------------------------------------------------------------------------


INNCONFVAL = "/usr/lib/news/bin/innconfval"


def inn_conf(directory: Path, certs: dict[str, Path] | None) -> str:
    """INN's settings for a test nnrpd. `nnrpdloadlimit: 0`: by default (16) nnrpd turns readers
    away with "400 load at 17.02, try later" while the machine's load average is above 16, which
    a shared test machine reaches under a full suite; the load of the machine is not under test."""
    tls = f"tlscertfile: {certs['chain']}\ntlskeyfile: {certs['key']}\n" if certs else ""
    return f"""\
pathhost: news.test
domain: test
mta: "/bin/false %s"
organization: "certcensus test"
pathnews: /usr/lib/news
pathetc: {directory}/etc
pathrun: {directory}/run
pathlog: {directory}/log
pathdb: {directory}/db
pathspool: {directory}/spool
pathoverview: {directory}/overview
pathtmp: {directory}/tmp
ovmethod: tradindexed
hismethod: hisv6
nnrpdloadlimit: 0
{tls}"""


READERS_CONF = """\
auth "loopback" {
    hosts: "127.0.0.0/8"
    default: "<loopback>"
}
access "loopback" {
    users: "<loopback>"
    newsgroups: "*"
    access: R
}
"""

# Articles are thrown away: nnrpd only needs a storage method that opens without files.
STORAGE_CONF = "method trash {\n    newsgroups: *\n    class: 0\n}\n"


@contextlib.contextmanager
def running_nnrpd(chain: ServerChain, tls: bool = True) -> Iterator[RunningServer]:
    """INN's reader daemon alone (`nnrpd -D -f`, no innd), with an inn.conf of its own (INNCONF).

    nnrpd drops to the news user before it reads its per-connection files and the TLS key (at
    STARTTLS time), so everything lives in a directory news can reach: pytest's tmp_path is
    under a root-only directory.
    """
    news = pwd.getpwnam("news")
    with reachable_directory("nnrpd") as directory:
        for sub in ("etc", "run", "log", "db", "spool", "overview", "tmp"):
            (directory / sub).mkdir()
        certs = chain.write(directory / "certs") if tls else None
        (directory / "etc" / "inn.conf").write_text(inn_conf(directory, certs))
        (directory / "etc" / "readers.conf").write_text(READERS_CONF)
        (directory / "etc" / "storage.conf").write_text(STORAGE_CONF)
        (directory / "db" / "active").write_text("")
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, news.pw_uid, news.pw_gid)
        env = {**os.environ, "INNCONF": str(directory / "etc" / "inn.conf")}
        # An empty tradindexed overview (group.index): nnrpd refuses readers ("400 NNTP server
        # unavailable") when it cannot open the overview.
        subprocess.run(
            [MAKEHISTORY, "-O", "-x"],
            env=env,
            check=True,
            capture_output=True,
            user=news.pw_uid,
            group=news.pw_gid,
            cwd=directory,
        )
        port = free_port()
        command = [NNRPD, "-D", "-f", "-n", "-b", "127.0.0.1", "-p", str(port)]
        log = directory / "nnrpd.log"
        with _tracked(command, {"nntp": port}, log, env=env, cwd=directory) as server:
            yield server


# --- ProFTPD -------------------------------------------------------------------------------------


def proftpd_conf(directory: Path, certs: dict[str, Path], tls_port: int, plain_port: int) -> str:
    return f"""\
ServerType standalone
ServerName "certcensus test"
DefaultAddress 127.0.0.1
Port {tls_port}
# proftpd starts as root (to bind) and serves each session as nobody.
User nobody
Group nogroup
PidFile {directory}/proftpd.pid
ScoreboardFile {directory}/proftpd.scoreboard
DelayTable none
WtmpLog off
UseReverseDNS off
UseIPv6 off
MaxInstances 500
ModulePath {PROFTPD_MODULES}
LoadModule mod_tls.c
TLSEngine on
TLSLog {directory}/tls.log
TLSRSACertificateFile {certs["leaf"]}
TLSRSACertificateKeyFile {certs["key"]}
TLSCertificateChainFile {certs["intermediate"]}
TLSRequired off
# Every command a client sends, one per line, so tests see what a probe said.
LogFormat commands "%m"
ExtendedLog {directory}/commands.log ALL commands
<VirtualHost 127.0.0.1>
  Port {plain_port}
  TLSEngine off
  ExtendedLog {directory}/commands-plain.log ALL commands
</VirtualHost>
"""


@contextlib.contextmanager
def running_proftpd(directory: Path, chain: ServerChain) -> Iterator[RunningServer]:
    """`proftpd -n -c FILE` with mod_tls: port "ftp" offers AUTH TLS, "ftp-plain" does not."""
    certs = chain.write(directory / "certs")
    ports = {"ftp": free_port(), "ftp-plain": free_port()}
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "proftpd.conf"
    config.write_text(proftpd_conf(directory, certs, ports["ftp"], ports["ftp-plain"]))
    command = [find_binary("proftpd"), "-n", "-c", str(config)]
    with _tracked(command, ports, directory / "proftpd.log") as server:
        yield server
