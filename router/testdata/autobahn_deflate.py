#!/usr/bin/python3
"""autobahn-python WAMP client over WebSocket with permessage-deflate, which
the Go test TestExternalAutobahnPythonDeflate (router/conn_external_test.go)
drives against Junction. Run it with Debian's /usr/bin/python3
(python3-autobahn).

  autobahn_deflate.py URL SERIALIZER offer|none

offer: the WebSocket opening handshake offers permessage-deflate
(setProtocolOptions perMessageCompressionOffers/perMessageCompressionAccept);
none: it offers no extension.

It joins realm1 anonymously, then
  - subscribes to com.ext.deflate.topic and publishes PAYLOAD there
    (exclude_me=False, acknowledged), and waits for the event;
  - registers com.ext.deflate.echo and calls it with PAYLOAD.
PAYLOAD is args [TEXT], kwargs {"lines": LINES, "blob": BLOB}: TEXT is LINES
lines "%05d junction permessage-deflate ünïcödé\\n" (i from 0), BLOB the
bytes 0..255 repeated 64 times. Both compress well; the Go test builds the
same and compares SHA-256 digests.

It prints one JSON object per line on stdout (anything else there is
autobahn's logging):
  {"event": "joined", "subprotocol", "offered": [...], "extensions": [...], "header"}
      extensions: the names of the WebSocket extensions in use;
      header: the server's Sec-WebSocket-Extensions (null without one)
  {"event": "event", "text_len", "text_sha256", "lines", "blob_sha256", "stats"}
  {"event": "invocation", ...same digests}   what the callee got
  {"event": "result", ...same digests, "stats"}   what the caller got back
  {"event": "done"}
  {"event": "leave", "reason"}
stats: autobahn's traffic counters over that exchange, incoming and outgoing
octets at WebSocket level (on the wire, compressed) and application level
(inflated).
It exits 0 when it completed.
"""

import asyncio
import hashlib
import json
import sys

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallResult, ComponentConfig, PublishOptions
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateResponse, PerMessageDeflateResponseAccept
from autobahn.websocket.util import parse_url

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

LINES = 2000
TEXT = "".join("%05d junction permessage-deflate ünïcödé\n" % i for i in range(LINES))
BLOB = bytes(range(256)) * 64

STEP_TIMEOUT = 10
exit_code = 1


def out(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


def digests(text, lines, blob):
    return {
        "text_len": len(text),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lines": lines,
        "blob_sha256": hashlib.sha256(blob).hexdigest() if isinstance(blob, bytes) else repr(type(blob)),
    }


class Counters:
    """What autobahn counted on the connection since it was made."""

    KEYS = ("incomingOctetsWebSocketLevel", "incomingOctetsAppLevel",
            "outgoingOctetsWebSocketLevel", "outgoingOctetsAppLevel")

    def __init__(self, transport):
        self.transport = transport
        self.start = self.now()

    def now(self):
        s = self.transport.trafficStats
        return {k: getattr(s, k) for k in self.KEYS}

    def since(self):
        now = self.now()
        return {k: now[k] - self.start[k] for k in self.KEYS}


class Deflate(ApplicationSession):
    async def onJoin(self, details):
        global exit_code
        try:
            tr = self._transport
            out(event="joined", subprotocol=tr.websocket_protocol_in_use,
                offered=[o.get_extension_string() for o in tr.factory.perMessageCompressionOffers],
                extensions=[e.EXTENSION_NAME for e in tr.websocket_extensions_in_use],
                header=tr.http_headers.get("sec-websocket-extensions"))
            await self.scenario()
            out(event="done")
            exit_code = 0
        except Exception as e:  # reported, and the process exits 1
            out(event="error", error=repr(e))
        self.leave()

    async def scenario(self):
        loop = asyncio.get_running_loop()

        got = loop.create_future()

        def on_event(text, lines=None, blob=None):
            if not got.done():
                got.set_result(digests(text, lines, blob))

        await self.subscribe(on_event, "com.ext.deflate.topic")
        c = Counters(self._transport)
        await self.publish("com.ext.deflate.topic", TEXT, lines=LINES, blob=BLOB,
                           options=PublishOptions(acknowledge=True, exclude_me=False))
        ev = await asyncio.wait_for(got, STEP_TIMEOUT)
        out(event="event", stats=c.since(), **ev)

        def echo(text, lines=None, blob=None):
            out(event="invocation", **digests(text, lines, blob))
            return CallResult(text, lines=lines, blob=blob)

        await self.register(echo, "com.ext.deflate.echo")
        c = Counters(self._transport)
        res = await asyncio.wait_for(self.call("com.ext.deflate.echo", TEXT, lines=LINES, blob=BLOB), STEP_TIMEOUT)
        out(event="result", stats=c.since(),
            **digests(res.results[0], res.kwresults.get("lines"), res.kwresults.get("blob")))

    def onLeave(self, details):
        out(event="leave", reason=details.reason)
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def accept(response):
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in SERIALIZERS or sys.argv[3] not in ("offer", "none"):
        out(event="error", error="usage: autobahn_deflate.py URL json|msgpack|cbor offer|none")
        return 2
    url, ser, offer = sys.argv[1:]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    cfg = ComponentConfig("realm1")
    factory = WampWebSocketClientFactory(lambda: Deflate(cfg), url=url, serializers=[SERIALIZERS[ser]()])
    opts = {"openHandshakeTimeout": 5, "closeHandshakeTimeout": 2}
    if offer == "offer":
        opts.update(perMessageCompressionOffers=[PerMessageDeflateOffer()], perMessageCompressionAccept=accept)
    factory.setProtocolOptions(**opts)
    _, host, port, _, _, _ = parse_url(url)

    async def connect():
        try:
            await loop.create_connection(factory, host, port)
        except Exception as e:
            out(event="error", error=repr(e))
            loop.stop()

    loop.create_task(connect())
    loop.run_forever()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
