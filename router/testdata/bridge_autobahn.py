#!/usr/bin/python3
"""autobahn-python client the Go bridge tests (router/bridge_external_test.go)
drive against Junction, on the WAMP side of the MQTT ⇄ WAMP bridge. Run it
with Debian's /usr/bin/python3 (python3-autobahn). URL is ws://... or, for
WAMP RawSocket, rs://host:port.

It prints one JSON object per line on stdout (anything else there is
autobahn's logging) and exits 0 when its scenario completed.

  bridge_autobahn.py subscribe URL SERIALIZER TOPIC MATCH GET_RETAINED COUNT
      subscribes to TOPIC with match MATCH (exact, prefix or wildcard) and,
      when GET_RETAINED is "true", get_retained; prints {"event":
      "subscribed"} once the router has acknowledged the subscription, then
      one {"event": "event", ...} line for each of the first COUNT events
      (args, kwargs, the Python type of each arg, details.topic,
      details.retained), and leaves.
  bridge_autobahn.py publish URL SERIALIZER TOPIC ARGS_JSON OPTIONS_JSON
      publishes to TOPIC the args ARGS_JSON (a JSON array) with the
      PublishOptions OPTIONS_JSON (a JSON object, acknowledge included), prints
      {"event": "published", ...} once the router acknowledged it, and leaves.
"""

import asyncio
import json
import sys

from autobahn.wamp.types import PublishOptions, SubscribeOptions

from scenario import SERIALIZERS, Scenario, out, run, transport

STEP_TIMEOUT = 10


class Subscribe(Scenario):
    async def scenario(self, cfg):
        # Events can arrive before subscribe() returns (retained events come
        # right after SUBSCRIBED); they wait here so that "subscribed" is
        # always printed first.
        queue = asyncio.Queue()

        def on_event(*args, details=None, **kwargs):
            queue.put_nowait((list(args), kwargs, details))

        sub = await self.subscribe(on_event, cfg["topic"], options=SubscribeOptions(
            match=cfg["match"], get_retained=cfg["get_retained"], details_arg="details"))
        out(event="subscribed", subscription=sub.id, transport=transport(self))
        for i in range(cfg["count"]):
            try:
                args, kwargs, details = await asyncio.wait_for(queue.get(), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise Exception("no event %d of %d within %ds" % (i + 1, cfg["count"], STEP_TIMEOUT))
            out(event="event", args=args, kwargs=kwargs, types=[type(a).__name__ for a in args],
                topic=details.topic, retained=details.retained)


class Publish(Scenario):
    async def scenario(self, cfg):
        pub = await asyncio.wait_for(
            self.publish(cfg["topic"], *cfg["args"], options=PublishOptions(**cfg["options"])), STEP_TIMEOUT)
        out(event="published", acknowledged=pub is not None and pub.id > 0, transport=transport(self))


def main():
    usage = ("usage: bridge_autobahn.py subscribe URL json|msgpack|cbor TOPIC MATCH true|false COUNT"
             " | publish URL json|msgpack|cbor TOPIC ARGS_JSON OPTIONS_JSON")
    argv = sys.argv[1:]
    try:
        mode, url, ser = argv[:3]
        if ser not in SERIALIZERS:
            raise ValueError(ser)
        if mode == "subscribe" and len(argv) == 7:
            session = Subscribe
            extra = {"topic": argv[3], "match": argv[4], "get_retained": argv[5] == "true", "count": int(argv[6])}
        elif mode == "publish" and len(argv) == 6:
            session = Publish
            extra = {"topic": argv[3], "args": json.loads(argv[4]), "options": json.loads(argv[5])}
        else:
            raise ValueError(mode)
    except ValueError:
        out(event="error", error=usage)
        return 2
    return run(url, session, extra, ser)


if __name__ == "__main__":
    sys.exit(main())
