"""Targets files: TOML tables or one target per line."""

from __future__ import annotations

import pytest

from certcensus.watch.config import ConfigError, WatchTarget, read_targets_file


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
        ("a.toml", 'title = "nothing"\n', "no [[target]] tables"),
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
