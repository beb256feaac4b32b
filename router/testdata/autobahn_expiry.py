#!/usr/bin/python3
"""autobahn-python client that joins Junction with a JWT as its WAMP ticket
and then does what its stdin tells it, so that the Go test
(router/expiry_external_test.go) decides when. Run it with Debian's
/usr/bin/python3 (python3-autobahn).

  autobahn_expiry.py URL REALM TOKEN

Commands, one a line on stdin, each done in turn:
  reauth TOKEN   call junction.session.reauthenticate with TOKEN
  call URI ARG   call URI with the one argument ARG
  publish URI    publish to URI, acknowledged
Each is reported as {"event": "reauth"|"call"|"publish", "ok", "result",
"error"}: result is the call's first result, error the URI of the
ApplicationError autobahn raised. When stdin closes, the client leaves.

It prints one JSON object per line on stdout (anything else there is
autobahn's logging):
  {"event": "joined", "authid", "authrole", "authmethod", "authextra"}
  {"event": ...}                               one per command
  {"event": "leave", "reason", "message", "at"}   at: time.time() in onLeave
  {"event": "disconnected"}
It exits 0 when the session ended after joining (by the router or because
stdin closed), 1 otherwise.
"""

import asyncio
import json
import sys
import threading
import time

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer
from autobahn.wamp.types import PublishOptions

STEP_TIMEOUT = 10
exit_code = 1


def out(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


class Expiring(ApplicationSession):
    def onConnect(self):
        self.join(self.config.realm, authmethods=["ticket"])

    def onChallenge(self, challenge):
        if challenge.method != "ticket":
            raise Exception("unexpected challenge method {}".format(challenge.method))
        return self.config.extra["token"]

    async def onJoin(self, details):
        out(event="joined", authid=details.authid, authrole=details.authrole,
            authmethod=details.authmethod, authextra=details.authextra)
        self.joined = True
        loop = asyncio.get_running_loop()
        commands = asyncio.Queue()

        def read_stdin():
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, line.split())
            loop.call_soon_threadsafe(commands.put_nowait, None)

        threading.Thread(target=read_stdin, daemon=True).start()
        while True:
            cmd = await commands.get()
            if cmd is None:
                break
            if not cmd:
                continue
            if not self.is_attached():
                return
            await self.command(cmd)
        if self.is_attached():
            self.leave()

    async def command(self, cmd):
        name, args = cmd[0], cmd[1:]
        try:
            if name == "reauth":
                res = await asyncio.wait_for(self.call("junction.session.reauthenticate", args[0]), STEP_TIMEOUT)
            elif name == "call":
                res = await asyncio.wait_for(self.call(args[0], args[1]), STEP_TIMEOUT)
            elif name == "publish":
                await asyncio.wait_for(self.publish(args[0], "still here", options=PublishOptions(acknowledge=True)), STEP_TIMEOUT)
                res = None
            else:
                out(event="error", error="unknown command {}".format(cmd))
                return
            out(event=name, ok=True, result=res, error=None)
        except ApplicationError as e:
            out(event=name, ok=False, result=None, error=e.error)
        except Exception as e:
            out(event=name, ok=False, result=None, error=repr(e))

    def onLeave(self, details):
        global exit_code
        out(event="leave", reason=details.reason, message=details.message, at=time.time())
        if getattr(self, "joined", False):
            exit_code = 0
        self.disconnect()

    def onDisconnect(self):
        out(event="disconnected")
        asyncio.get_event_loop().stop()


def main():
    if len(sys.argv) != 4:
        out(event="error", error="usage: autobahn_expiry.py URL REALM TOKEN")
        return 2
    url, realm, token = sys.argv[1:]
    runner = ApplicationRunner(url, realm, extra={"token": token}, serializers=[JsonSerializer()])
    runner.run(Expiring, log_level="warn")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
