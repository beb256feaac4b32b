"""What the autobahn-python scripts the Go tests run share (bridge_autobahn.py,
rpc_autobahn.py): a session that runs one scenario, prints JSON lines and
reports success in the process's exit code. Imported from the scripts'
directory; run them with Debian's /usr/bin/python3 (python3-autobahn).
"""

import asyncio
import json

from autobahn.asyncio.rawsocket import PrefixProtocol
from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

# autobahn 22.7.1 (Debian's python3-autobahn) asyncio RawSocket clients crash
# on WELCOME: onWelcome reads the transport's transport_details, which its
# RawSocket protocol lacks (crossbario/autobahn-python#1592, fixed upstream by
# #1593). This is that fix's property; a no-op where autobahn has it.
if not hasattr(PrefixProtocol, "transport_details"):
    PrefixProtocol.transport_details = property(lambda self: self._transport_details)

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

_result = {"exit_code": 1}


def out(**kw):
    """Prints one JSON line for the test to read."""
    print(json.dumps(kw, ensure_ascii=False, default=repr), flush=True)


def transport(session):
    """The WebSocket subprotocol, or for RawSocket the serializer's."""
    t = session._transport
    ws = getattr(t, "websocket_protocol_in_use", None)
    if ws:
        return ws
    ser = getattr(t, "_serializer", None)
    return "rawsocket." + ser.SERIALIZER_ID if ser is not None else None


class Scenario(ApplicationSession):
    """Runs self.scenario(extra) once joined, then leaves; an exception is
    printed as {"event": "error"} and makes the process exit 1."""

    async def onJoin(self, details):
        try:
            await self.scenario(self.config.extra)
            _result["exit_code"] = 0
        except Exception as e:  # reported, and the process exits 1
            out(event="error", error="%s: %s" % (type(e).__name__, e))
        self.leave()

    def onLeave(self, details):
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def run(url, session, extra, serializer):
    """Runs session in realm1 at url and returns the exit code."""
    runner = ApplicationRunner(url, "realm1", extra=extra, serializers=[SERIALIZERS[serializer]()])
    runner.run(session, log_level="warn")
    return _result["exit_code"]
