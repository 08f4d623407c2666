"""XMPP STARTTLS (RFC 6120 section 5.4): stream header, stream features, starttls, proceed.

    C: <?xml version='1.0'?><stream:stream to='example.com' version='1.0'
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>
    S: <?xml version='1.0'?><stream:stream from='example.com' id='...' version='1.0' ...>
    S: <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>
       </stream:features>
    C: <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
    S: <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>

The server's half is one XML document that never ends while the stream lives, so it is parsed
incrementally with expat (stdlib, namespace-aware) and judged element by element. RFC 6120
section 11.1 restricts XML on streams: no comments, processing instructions, DTDs or entity
declarations; any of those is a protocol error here, which also shuts out entity expansion.

Expat 2.6 (and Debian 12's 2.5.0, which has the fix backported) may defer a parse: when a call
consumed nothing (the bytes so far end inside a token), it does not retry until the buffered
bytes have doubled, so the token that completes `<proceed/>` can be held until bytes arrive that
a waiting server never sends. Python only offers to turn that off from 3.13 and 3.12.3/3.11.9
(SetReparseDeferralEnabled); Debian's 3.11.2 has expat deferring and no way to say no. So the
dialog gives expat only whole pieces of markup (up to the end of the last complete tag, comment,
CDATA section or processing instruction): each call then ends on a token boundary and consumes
what it was given, and a parse is never deferred, whatever expat does.
"""

from __future__ import annotations

import re
from xml.parsers import expat
from xml.sax.saxutils import escape

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import MAX_BUFFER, Dialog, DialogError, DialogOption
from certcensus.probe.identity.greetings import xmpp_stream_identity

STREAMS_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
# Stream features run to a few KiB; nesting past this is not XMPP.
MAX_DEPTH = 16


# Where a piece of markup ends, by how it starts (tags: the first ">" outside quotes).
_MARKUP_ENDS = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))
_IN_TAG = re.compile(rb"[>'\"]")


def create_parser() -> expat.XMLParserType:
    """The expat parser a dialog feeds (a seam: tests swap in parsers that defer)."""
    # RFC 6120 section 11.6: the stream is UTF-8; an XML declaration naming another encoding is
    # ignored rather than looked up (an unknown name raised LookupError).
    return expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")


XMPP_DOMAIN_OPTION = DialogOption(
    "xmpp_domain", "--xmpp-domain", None, "Domain for the XMPP stream's to= (default: the host)."
)


class _Restricted(DialogError):
    pass


def _forbidden(what: str):
    def handler(*_args):
        raise _Restricted(f"XML {what} on an XMPP stream (RFC 6120 section 11.1)")

    return handler


class XMPPDialog(Dialog):
    name = "xmpp"
    default_ports = (5222,)
    schemes = {"xmpp": 5222}
    aliases = ("xmpp-client", "jabber")
    command_line_options = (XMPP_DOMAIN_OPTION,)
    content_namespace = "jabber:client"

    def __init__(self, options):
        super().__init__(options)
        self._state = "features"
        self._stream = bytearray()  # everything fed to the parser, bounded by MAX_BUFFER
        self._out = b""
        self._depth = 0
        self._top = ""  # the current child of <stream:stream>
        self._features: list[str] = []
        self._error_condition = ""
        self._error_text: list[str] = []
        self._in_error_text = False
        self._proceed_end = -1
        self._proceed_has_content = False
        self._fed = 0  # bytes of _stream given to expat: whole pieces of markup only
        self._scanned = 0  # where the search for the end of markup goes on
        self._markup_end: bytes | None = None  # what ends the markup being scanned, if any
        self._quote: bytes | None = None  # the quote open inside a tag, if any
        self._parser = create_parser()
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._characters
        self._parser.CommentHandler = _forbidden("comment")
        self._parser.ProcessingInstructionHandler = _forbidden("processing instruction")
        self._parser.StartDoctypeDeclHandler = _forbidden("DTD")
        self._parser.EntityDeclHandler = _forbidden("entity declaration")

    def initiate(self) -> bytes:
        domain = self.options.value(XMPP_DOMAIN_OPTION) or self.options.host
        return (
            "<?xml version='1.0'?><stream:stream to='"
            + escape(domain, {"'": "&apos;", '"': "&quot;"})
            + f"' version='1.0' xmlns='{self.content_namespace}'"
            + f" xmlns:stream='{STREAMS_NS}'>"
        ).encode("utf-8")

    def _on_data(self) -> bytes:
        if self._eof or not self._buffer:
            return b""
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._stream += chunk
        if len(self._stream) > MAX_BUFFER:
            raise DialogError(f"XMPP stream features longer than {MAX_BUFFER} bytes")
        end = self._end_of_whole_markup()
        if end <= self._fed:
            return b""
        whole, self._fed = bytes(self._stream[self._fed : end]), end
        try:
            self._parser.Parse(whole, False)
        except (expat.ExpatError, LookupError, ValueError) as error:
            if not self.done:
                raise DialogError(f"malformed XML from the server: {error}") from None
        except _Restricted:
            if not self.done:
                raise
        if self.ready:
            self._buffer += self._bytes_after_proceed()
        out, self._out = self._out, b""
        return out

    def _end_of_whole_markup(self) -> int:
        """Where the last complete piece of markup in `_stream` ends (see the module's text)."""
        data, at, end = self._stream, self._scanned, self._fed
        while at < len(data):
            if self._quote is not None:  # inside a quoted attribute value
                close = data.find(self._quote, at)
                if close < 0:
                    at = len(data)
                    break
                at, self._quote = close + 1, None
            elif self._markup_end == b">":  # inside a tag
                found = _IN_TAG.search(data, at)
                if found is None:
                    at = len(data)
                    break
                at = found.end()
                if found[0] == b">":
                    self._markup_end, end = None, at
                else:
                    self._quote = found[0]
            elif self._markup_end is not None:  # a comment, CDATA section or PI
                close = data.find(self._markup_end, at)
                if close < 0:  # keep the tail that may be the start of the terminator
                    at = max(at, len(data) - len(self._markup_end) + 1)
                    break
                at = end = close + len(self._markup_end)
                self._markup_end = None
            else:  # character data, up to the next markup
                start = data.find(b"<", at)
                if start < 0:
                    at = len(data)
                    break
                rest = bytes(data[start : start + 9])
                if any(len(rest) < len(opening) and opening.startswith(rest)
                       for opening, _ in _MARKUP_ENDS[:2]):  # fmt: skip
                    at = start  # "<!" or "<![CD": which kind is not known yet
                    break
                for opening, closing in _MARKUP_ENDS:
                    if rest.startswith(opening):
                        self._markup_end, at = closing, start + len(opening)
                        break
                else:
                    self._markup_end, at = b">", start + 1
        self._scanned = at
        return end

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.done:
            return
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise DialogError(f"XML nested deeper than {MAX_DEPTH}")
        if self._depth == 1:
            if name != f"{STREAMS_NS} stream":
                raise DialogError(f"server's stream starts with <{_local(name)}>, not <stream>")
            self.identity = xmpp_stream_identity(attributes.get("from"), attributes.get("id"))
            # RFC 6120 section 4.7.5: no version attribute means version 0.9, which has no stream
            # features and so no STARTTLS.
            version = attributes.get("version", "0.9")
            if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 1:
                self._refuse(Outcome.STARTTLS_UNSUPPORTED, f"stream version {version}: no features")
        elif self._depth == 2:
            self._top = name
        elif self._depth == 3:
            if self._top == f"{STREAMS_NS} features":
                self._features.append(name)
            elif self._top == f"{STREAMS_NS} error" and name.startswith(STREAM_ERRORS_NS + " "):
                if _local(name) == "text":
                    self._in_error_text = True
                elif not self._error_condition:
                    self._error_condition = _local(name)
        if self._top == f"{TLS_NS} proceed" and self._depth > 2:
            self._proceed_has_content = True

    def _characters(self, text: str) -> None:
        if self._in_error_text:
            self._error_text.append(text)
        if self._top == f"{TLS_NS} proceed" and self._depth == 2:
            self._proceed_has_content = True

    def _end(self, name: str) -> None:
        if self.done:
            return
        self._depth -= 1
        self._in_error_text = False
        if self._depth == 0:
            raise DialogError("server closed the XMPP stream before STARTTLS")
        if self._depth != 1:
            return
        if name == f"{STREAMS_NS} error":
            # RFC 6120 section 4.9.3: the first child in the streams namespace is the condition.
            text = "".join(self._error_text).strip()
            said = f"stream error: {self._error_condition or 'no condition'}"
            self._refuse(Outcome.STARTTLS_REFUSED, f"{said}: {text}" if text else said)
        elif name == f"{STREAMS_NS} features" and self._state == "features":
            self._on_features()
        elif name == f"{TLS_NS} proceed" and self._state == "proceed":
            self._proceed_end = self._parser.CurrentByteIndex
            self.ready = True
        elif name == f"{TLS_NS} failure" and self._state == "proceed":
            # RFC 6120 section 5.4.2.2: "<failure/>" and the server closes the stream.
            self._refuse(Outcome.STARTTLS_REFUSED, f"<failure xmlns='{TLS_NS}'/>")
        self._top = ""

    def _on_features(self) -> None:
        if f"{TLS_NS} starttls" not in self._features:
            offered = ", ".join(_local(name) for name in self._features) or "none"
            said = f"starttls not in stream features: {offered}"
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
            return
        self._state = "proceed"
        self._out += f"<starttls xmlns='{TLS_NS}'/>".encode()

    def _bytes_after_proceed(self) -> bytes:
        """What the server sent after </proceed>: RFC 6120 section 5.4.3.3 has it send nothing."""
        end = self._proceed_end
        # expat reports the end of an empty element (<proceed/>) just past its "/>", and the end
        # of <proceed></proceed> at the start of its end tag.
        empty = not self._proceed_has_content and self._stream[end - 2 : end] == b"/>"
        if not empty:
            close = self._stream.find(b">", end)
            end = len(self._stream) if close < 0 else close + 1
        return bytes(self._stream[end:])


class XMPPServerDialog(XMPPDialog):
    """Server-to-server streams (RFC 6120 section 4.7.1): the same dialog, jabber:server."""

    name = "xmpp-server"
    default_ports = (5269,)
    schemes = {"xmpp-server": 5269}
    aliases = ("xmpp-s2s",)  # type: ignore[assignment]  # not the client's (sslyze: xmpp_server)
    content_namespace = "jabber:server"


def _local(name: str) -> str:
    return name.rpartition(" ")[2]
