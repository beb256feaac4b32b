#!/usr/bin/python3
"""autobahn-python client the Go RPC tests (router/rpc_external_test.go) drive
against Junction, on the WAMP side of RPC for MQTT clients. Run it with
Debian's /usr/bin/python3 (python3-autobahn). URL is ws://... or, for WAMP
RawSocket, rs://host:port.

It prints one JSON object per line on stdout (anything else there is
autobahn's logging) and exits 0 when its scenario completed.

  rpc_autobahn.py register URL SERIALIZER PROCEDURE COUNT
      registers PROCEDURE, prints {"event": "registered"}, answers COUNT
      invocations and leaves. An invocation is answered with one result
      {"got": args, "kwargs": kwargs, "caller": caller_authid}, except: args
      ["fail"] raises the WAMP error com.acme.error.failed with args
      ["as asked"], and kwargs {"progress": N} first sends N progressive
      results [1], [2], ... when the caller accepts them. Each invocation is
      printed as {"event": "invocation", ...} after it was answered.
  rpc_autobahn.py call URL SERIALIZER PROCEDURE ARGS_JSON
      calls PROCEDURE with the args ARGS_JSON (a JSON array), prints
      {"event": "result", "args": ..., "kwargs": ...} or {"event":
      "call_error", "error": URI, "args": ...}, and leaves.
"""

import asyncio
import json
import sys

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, RegisterOptions

from scenario import SERIALIZERS, Scenario, out, run

STEP_TIMEOUT = 15


class Register(Scenario):
    async def scenario(self, cfg):
        done = asyncio.Queue()

        async def handler(*args, details=None, **kwargs):
            caller = details.caller_authid
            try:
                if args == ("fail",) or list(args) == ["fail"]:
                    raise ApplicationError("com.acme.error.failed", "as asked")
                n = kwargs.get("progress", 0)
                if n and details.progress:
                    for i in range(1, n + 1):
                        details.progress(i)
                return CallResult(got=list(args), kwargs=kwargs, caller=caller)
            finally:
                done.put_nowait(dict(args=list(args), kwargs=kwargs, caller=caller,
                                     procedure=details.procedure, progress=details.progress is not None))

        await self.register(handler, cfg["procedure"], options=RegisterOptions(details_arg="details"))
        out(event="registered")
        for i in range(cfg["count"]):
            try:
                inv = await asyncio.wait_for(done.get(), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise Exception("no invocation %d of %d within %ds" % (i + 1, cfg["count"], STEP_TIMEOUT))
            out(event="invocation", **inv)


class Call(Scenario):
    async def scenario(self, cfg):
        try:
            res = await asyncio.wait_for(self.call(cfg["procedure"], *cfg["args"]), STEP_TIMEOUT)
        except ApplicationError as e:
            out(event="call_error", error=e.error, args=list(e.args))
            return
        if isinstance(res, CallResult):
            out(event="result", args=list(res.results), kwargs=res.kwresults)
        else:
            out(event="result", args=[res], kwargs={})


def main():
    usage = ("usage: rpc_autobahn.py register URL json|msgpack|cbor PROCEDURE COUNT"
             " | call URL json|msgpack|cbor PROCEDURE ARGS_JSON")
    argv = sys.argv[1:]
    try:
        mode, url, ser = argv[:3]
        if ser not in SERIALIZERS:
            raise ValueError(ser)
        if mode == "register" and len(argv) == 5:
            session = Register
            extra = {"procedure": argv[3], "count": int(argv[4])}
        elif mode == "call" and len(argv) == 5:
            session = Call
            extra = {"procedure": argv[3], "args": json.loads(argv[4])}
        else:
            raise ValueError(mode)
    except ValueError:
        out(event="error", error=usage)
        return 2
    return run(url, session, extra, ser)


if __name__ == "__main__":
    sys.exit(main())
