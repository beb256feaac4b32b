#!/usr/bin/python3
"""autobahn-python client the Go tests (router/external_test.go) drive against
Junction. Run it with Debian's /usr/bin/python3 (python3-autobahn).

It prints one JSON object per line on stdout (anything else there is
autobahn's logging) and exits 0 when its scenario completed.

  autobahn_client.py basic URL SERIALIZER
      pub/sub with args and kwargs, a call, wildcard and prefix
      subscriptions, a call to a procedure nobody registered.
  autobahn_client.py callee URL SERIALIZER
      registers com.ext.py.progress, which sends N progressive results before
      its final one, prints {"event": "registered"} and serves until its
      stdin closes.
  autobahn_client.py drain URL SERIALIZER
      joins, prints {"event": "joined"}, then reports how the router ended
      the session.
"""

import asyncio
import json
import sys
import threading

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallOptions, CallResult, PublishOptions, RegisterOptions, SubscribeOptions

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

# What the publication carries; the test compares the event with these.
ARGS = [1, "two", 3.5, True, None, ["nested", {"k": "v"}], "ünïcödé"]
KWARGS = {"a": 1, "b": "x", "c": {"d": [1, 2, 3]}, "e": -7}

STEP_TIMEOUT = 5
exit_code = 1


def out(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


def subprotocol(session):
    return getattr(session._transport, "websocket_protocol_in_use", None)


class Basic(ApplicationSession):
    async def onJoin(self, details):
        global exit_code
        try:
            out(event="joined", realm=details.realm, session=details.session, subprotocol=subprotocol(self))
            await self.scenario()
            out(event="done")
            exit_code = 0
        except Exception as e:  # reported, and the process exits 1
            out(event="error", error=str(e))
        self.leave()

    async def scenario(self):
        loop = asyncio.get_running_loop()

        # Publish to ourselves: exclude_me=False, acknowledged by the router.
        got = loop.create_future()

        def on_event(*args, **kwargs):
            if not got.done():
                got.set_result((list(args), kwargs))

        await self.subscribe(on_event, "com.ext.topic")
        pub = await self.publish("com.ext.topic", *ARGS,
                                 options=PublishOptions(acknowledge=True, exclude_me=False), **KWARGS)
        out(event="published", acknowledged=pub is not None and pub.id > 0)
        args, kwargs = await asyncio.wait_for(got, STEP_TIMEOUT)
        out(event="event", args=args, kwargs=kwargs)

        # A procedure and calls to it.
        def add(a, b, **kw):
            return CallResult(a + b, "sum", tag=kw.get("tag"))

        await self.register(add, "com.ext.add")
        await self.register(lambda x: x, "com.ext.echo")
        res = await self.call("com.ext.add", 2, 3, tag="t1")
        out(event="call", results=list(res.results), kwargs=res.kwresults)
        echo = await self.call("com.ext.echo", "ping")
        out(event="echo", result=echo)

        # Progressive call results, both ends autobahn-python.
        await self.register(progressive, "com.ext.py.progress", options=RegisterOptions(details_arg="details"))
        seen = []
        res = await self.call("com.ext.py.progress", 3,
                              options=CallOptions(on_progress=lambda *a, **kw: seen.append({"args": list(a), "kwargs": kw})))
        out(event="progressive", progress=seen, results=list(res.results), kwargs=res.kwresults)

        # Pattern-based subscriptions report the concrete topic.
        for match, pattern, topic in (("wildcard", "com.x..t", "com.x.a.t"),
                                      ("prefix", "com.y", "com.y.z.w")):
            fut = loop.create_future()

            def on_match(*args, details=None, fut=fut, **kwargs):
                if not fut.done():
                    fut.set_result((list(args), details.topic))

            await self.subscribe(on_match, pattern,
                                 options=SubscribeOptions(match=match, details_arg="details"))
            await self.publish(topic, match, options=PublishOptions(acknowledge=True, exclude_me=False))
            args, got_topic = await asyncio.wait_for(fut, STEP_TIMEOUT)
            out(event="pattern", match=match, args=args, topic=got_topic)

        # Nobody registered this one.
        try:
            res = await self.call("com.ext.missing", 1)
            out(event="missing", error=None, result=repr(res))
        except ApplicationError as e:
            out(event="missing", error=e.error)

    def onLeave(self, details):
        out(event="leave", reason=details.reason)
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def progressive(n, details=None):
    """Sends n progressive results (when the caller asked for them), then the final one."""
    if details is not None and details.progress:
        for i in range(1, n + 1):
            details.progress(i, step=i)
    return CallResult("final", n, done=True, progressive=bool(details is not None and details.progress))


class Callee(ApplicationSession):
    async def onJoin(self, details):
        try:
            await self.register(progressive, "com.ext.py.progress", options=RegisterOptions(details_arg="details"))
        except Exception as e:
            out(event="error", error=str(e))
            self.leave()
            return
        out(event="registered", subprotocol=subprotocol(self))
        loop = asyncio.get_running_loop()

        def wait_stdin():
            sys.stdin.read()
            loop.call_soon_threadsafe(self.stop)

        threading.Thread(target=wait_stdin, daemon=True).start()

    def stop(self):
        self.stopping = True
        self.leave()

    def onLeave(self, details):
        global exit_code
        out(event="leave", reason=details.reason)
        if getattr(self, "stopping", False):  # we asked to leave
            exit_code = 0
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


class Drain(ApplicationSession):
    async def onJoin(self, details):
        out(event="joined", realm=details.realm, subprotocol=subprotocol(self))

    def onLeave(self, details):
        global exit_code
        out(event="leave", reason=details.reason, message=details.message)
        exit_code = 0
        self.disconnect()

    def onDisconnect(self):
        out(event="disconnected")
        asyncio.get_event_loop().stop()


def main():
    modes = {"basic": Basic, "callee": Callee, "drain": Drain}
    if len(sys.argv) != 4 or sys.argv[1] not in modes or sys.argv[3] not in SERIALIZERS:
        out(event="error", error="usage: autobahn_client.py basic|callee|drain URL json|msgpack|cbor")
        return 2
    mode, url, ser = sys.argv[1:]
    runner = ApplicationRunner(url, "realm1", serializers=[SERIALIZERS[ser]()])
    runner.run(modes[mode], log_level="warn")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
