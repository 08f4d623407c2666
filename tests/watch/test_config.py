"""Targets files: TOML tables or one target per line."""

from __future__ import annotations

import pytest

from certcensus.watch.config import (
    ConfigError,
    WatchTarget,
    Webhook,
    read_fleet_file,
    read_targets_file,
)


def test_toml_targets(tmp_path):
    path = tmp_path / "certcensus.toml"
    path.write_text(
        '[[target]]\ntarget = "smtp://mx.example.com"\nsni = "mx"\ncount = 20\n\n'
        '[[target]]\ntarget = "imap.example.com:143"\nstarttls = "imap"\nprofile = "tls1.2"\n'
    )
    assert read_targets_file(path) == [
        WatchTarget("smtp://mx.example.com", sni="mx", count=20),
        WatchTarget("imap.example.com:143", starttls="imap", profile="tls1.2"),
    ]


def test_line_targets_with_options_and_comments(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text(
        "# mail\nsmtp://mx.example.com --starttls smtp --sni 'x y'\n\n"
        "example.com:443 --count=5  # web\n"
    )
    assert read_targets_file(path) == [
        WatchTarget("smtp://mx.example.com", starttls="smtp", sni="x y"),
        WatchTarget("example.com:443", count=5),
    ]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.toml", '[[target]]\nhost = "x"\n', "unknown key(s) host"),
        ("a.toml", '[[target]]\ntarget = "x"\ncount = 0\n', "count must be"),
        ("a.toml", "[[target]\n", "a.toml"),
        ("a.toml", 'title = "nothing"\n', "unknown table(s) or key(s) title"),
        ("a.toml", '[[targets]]\ntarget = "x"\n', "unknown table(s) or key(s) targets"),
        ("a.toml", '[watch]\nevery = "1m"\n', "no [[target]] tables"),
        (
            "a.toml",
            '[watch]\ncolour = 1\n[[target]]\ntarget = "x"\n',
            "[watch]: unknown key(s) colour",
        ),
        ("a.toml", '[watch]\nrate = "fast"\n[[target]]\ntarget = "x"\n', "rate must be a number"),
        (
            "a.toml",
            '[watch]\nengine = "gnutls"\n[[target]]\ntarget = "x"\n',
            "[watch]: engine must be one of native, openssl",
        ),
        (
            "a.toml",
            '[alerts]\npager = 1\n[[target]]\ntarget = "x"\n',
            "[alerts]: unknown key(s) pager",
        ),
        (
            "a.toml",
            '[[alerts.webhook]]\nurl = "http://x"\nfmt = "slack"\n[[target]]\ntarget = "x"\n',
            "unknown key(s) fmt",
        ),
        ("a.toml", '[[target]]\ntarget = "x"\nrate = -1\n', "rate must be a number"),
        ("a.txt", "x.example --count\n", "a.txt:1: --count needs a value"),
        ("a.txt", "x.example\ny.example --profile nope\n", "a.txt:2: unknown profile"),
        ("a.txt", "x.example --colour red\n", "unknown option '--colour'"),
        ("a.txt", "# nothing\n", "no targets"),
    ],
)
def test_bad_targets_files_say_where(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as error:
        read_targets_file(path)
    assert message in str(error.value)


def test_the_fleet_file_takes_what_the_command_line_does(tmp_path):
    path = tmp_path / "certcensus.toml"
    path.write_text(
        '[watch]\nevery = "5m"\ncount = 40\nrate = 2\ntrust_stores = ["system", "corp=/x.pem"]\n'
        'alerts_format = "json"\nmin_share = 0.05\nehlo_name = "mon.example"\nengine = "openssl"\n'
        '[alerts]\nexec = "logger"\n'
        '[[alerts.webhook]]\nurl = "http://am:9093/api/v2/alerts"\nformat = "alertmanager"\n'
        '[[alerts.webhook]]\nurl = "http://chat/hook"\nformat = "slack"\n'
        '[[target]]\ntarget = "smtp://mx.example.com"\nrate = 0.5\ntimeout = 3\n'
        'ehlo_name = "other.example"\n'
    )
    fleet = read_fleet_file(path)
    assert fleet.settings == {
        "every": "5m", "count": 40, "rate": 2.0, "trust_stores": ["system", "corp=/x.pem"],
        "alerts_format": "json", "min_share": 0.05, "ehlo_name": "mon.example", "engine": "openssl",
        "exec": "logger",
    }  # fmt: skip
    assert fleet.webhooks == [
        Webhook("http://am:9093/api/v2/alerts", "alertmanager"),
        Webhook("http://chat/hook", "slack"),
    ]
    assert fleet.targets == [
        WatchTarget("smtp://mx.example.com", rate=0.5, timeout=3.0,
                    protocol_options={"ehlo_name": "other.example"}),
    ]  # fmt: skip
