"""Targets as users type them -> host, port and how TLS starts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certcensus.probe.targets import TargetError, parse_target


@pytest.mark.parametrize(
    "text, host, port, protocol, name",
    [
        ("example.com", "example.com", 443, "tls", "example.com:443"),
        ("example.com:25", "example.com", 25, "smtp", "example.com:25"),
        ("example.com:587", "example.com", 587, "smtp", "example.com:587"),
        ("example.com:465", "example.com", 465, "tls", "example.com:465"),
        ("127.0.0.1:2525", "127.0.0.1", 2525, "smtp", "127.0.0.1:2525"),
        ("[2001:db8::1]:993", "2001:db8::1", 993, "tls", "[2001:db8::1]:993"),
        ("[::1]", "::1", 443, "tls", "[::1]:443"),
        ("2001:db8::1", "2001:db8::1", 443, "tls", "[2001:db8::1]:443"),
        ("smtp://mail.example.com", "mail.example.com", 25, "smtp", "mail.example.com:25"),
        ("submission://mail.example.com", "mail.example.com", 587, "smtp", "mail.example.com:587"),
        ("smtps://mail.example.com", "mail.example.com", 465, "tls", "mail.example.com:465"),
        ("https://www.example.com/path?q=1", "www.example.com", 443, "tls", "www.example.com:443"),
        (
            "imaps://u:p@mail.example.com:1993",
            "mail.example.com",
            1993,
            "tls",
            "mail.example.com:1993",
        ),
        ("pop3s://mail.example.com", "mail.example.com", 995, "tls", "mail.example.com:995"),
        ("ldaps://ldap.example.com", "ldap.example.com", 636, "tls", "ldap.example.com:636"),
        ("SMTP://Mail.Example.com:2525", "Mail.Example.com", 2525, "smtp", "Mail.Example.com:2525"),
    ],
)
def test_parse_target(text, host, port, protocol, name):
    target = parse_target(text)
    assert (target.host, target.port, target.protocol, target.name) == (host, port, protocol, name)


def test_starttls_override():
    assert parse_target("example.com:25", "none").protocol == "tls"
    assert parse_target("example.com:8025", "smtp").protocol == "smtp"
    assert parse_target("smtps://example.com", "smtp").protocol == "smtp"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty target"),
        ("example.com:0", "not a number from 1 to 65535"),
        ("example.com:70000", "not a number from 1 to 65535"),
        ("example.com:http", "not a number"),
        ("gopher://example.com", "unknown scheme"),
        ("[example.com]:443", "not an IPv6 address"),
        ("[::1", "missing ']'"),
        ("exa mple.com", "not a valid host name"),
        ("-bad-.com", "not a valid host name"),
        ("a:b:c", "neither host:port nor an IPv6 address"),
        ("https://:443", "no host"),
    ],
)
def test_bad_targets_say_why(text, message):
    with pytest.raises(TargetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_target(text)


def test_unknown_starttls_protocol_is_a_target_error():
    with pytest.raises(TargetError, match="unknown STARTTLS protocol"):
        parse_target("example.com:25", "carrier-pigeon")


@given(st.text(max_size=80))
def test_parser_only_ever_raises_target_error(text):
    try:
        target = parse_target(text)
    except TargetError as error:
        assert "\n" not in str(error)
    else:
        assert 0 < target.port < 65536 and target.host
