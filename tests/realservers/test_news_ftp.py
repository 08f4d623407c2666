"""The NNTP and FTP dialogs against INN's nnrpd and ProFTPD (mod_tls) from Debian.

Each server sends a leaf and its intermediate; every probe must record exactly that chain. The
same servers without TLS must be classified as refusing (nnrpd) or not offering (ProFTPD) the
upgrade, and ProFTPD's command log shows the probe stopped at FEAT instead of trying AUTH TLS.
"""

from __future__ import annotations

import subprocess

import pytest

from . import mail_configs
from .mail_fixtures import (  # noqa: F401 (fixtures)
    assert_every_probe_refused,
    assert_every_probe_saw_the_chain,
    mail_chain,
    nnrpd,
    nnrpd_without_tls,
    proftpd,
    require_file,
    scan,
)

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server

COUNT = 50


def test_nnrpd_starttls_presents_leaf_and_intermediate(cli, db, nnrpd, mail_chain):
    result, census = scan(cli, db, f"127.0.0.1:{nnrpd.ports['nntp']}", "nntp", COUNT)
    assert_every_probe_saw_the_chain(result, census, mail_chain, COUNT)
    (backend,) = census["backends"]  # the banner: "news.test InterNetNews NNRP server INN ..."
    assert backend["identity"].startswith("news.test InterNetNews NNRP server INN ")


def test_the_test_nnrpd_serves_readers_whatever_the_machines_load(tmp_path):
    # The blank-machine run failed here: under the load of a full suite on a shared machine,
    # nnrpd's default load limit (16) answered probes "400 load at ..., try later" (busy).
    # INN's own configuration reader says what the test server will do.
    require_file(mail_configs.INNCONFVAL, "inn2")
    (tmp_path / "inn.conf").write_text(mail_configs.inn_conf(tmp_path, None))
    read = subprocess.run(
        [mail_configs.INNCONFVAL, "-i", str(tmp_path / "inn.conf"), "nnrpdloadlimit"],
        capture_output=True,
        text=True,
    )
    assert read.stdout.strip() == "0", read.stderr


def test_nnrpd_without_certificate_files_refuses_starttls(cli, db, nnrpd_without_tls):
    # INN 2.7 built with TLS lists STARTTLS in CAPABILITIES whatever inn.conf says, and when it
    # cannot load a certificate answers the command with RFC 4642's 580: a refusal, not absence.
    result, census = scan(cli, db, f"127.0.0.1:{nnrpd_without_tls.ports['nntp']}", "nntp", 10)
    assert result.code == 1
    assert_every_probe_refused(census, "starttls-refused", "580 Error initializing TLS", 10)


def test_proftpd_auth_tls_presents_leaf_and_intermediate(cli, db, proftpd, mail_chain):
    result, census = scan(cli, db, f"127.0.0.1:{proftpd.ports['ftp']}", "ftp", COUNT)
    assert_every_probe_saw_the_chain(result, census, mail_chain, COUNT)
    (backend,) = census["backends"]  # the banner names the server
    assert backend["identity"].startswith("ProFTPD") and "certcensus test" in backend["identity"]


def test_proftpd_without_tls_is_unsupported_and_the_probe_stops_at_feat(cli, db, proftpd):
    commands_log = proftpd.log.parent / "commands-plain.log"
    before = len(commands_log.read_text().split()) if commands_log.exists() else 0  # other engine
    result, census = scan(cli, db, f"127.0.0.1:{proftpd.ports['ftp-plain']}", "ftp", COUNT)
    assert result.code == 1
    said = "AUTH TLS not in FEAT: 211 Features:"
    assert_every_probe_refused(census, "starttls-unsupported", said, COUNT)
    # ProFTPD logged every command the probes sent on that virtual host: FEAT, and only FEAT.
    commands = commands_log.read_text().split()[before:]
    assert commands == ["FEAT"] * COUNT
