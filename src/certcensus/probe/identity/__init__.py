"""What a server says about itself, per probe: the backend behind the balancer.

Sans-IO like the dialogs: `text.py` bounds and cleans what a server said, `greetings.py` reads
the backend's name out of each protocol's greeting (the STARTTLS dialogs call it, and so does
`after_tls.py` for implicit-TLS greetings read after the handshake), `http_head.py` reads the
headers that name a backend from the answer to `HEAD /`, and `server_hello.py` fingerprints the
ServerHello from the raw handshake bytes. The prober drives them and owns the socket and clock.
"""

from certcensus.probe.identity.text import MAX_IDENTITY, ServerIdentity

__all__ = ["MAX_IDENTITY", "ServerIdentity"]
