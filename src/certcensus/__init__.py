"""certcensus: find every certificate chain a TLS service presents, and what a client must trust."""

__version__ = "0.1.0"
