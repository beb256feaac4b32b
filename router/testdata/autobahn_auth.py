#!/usr/bin/python3
"""autobahn-python client that logs in to Junction with one WAMP
authentication method and then tries actions its role may or may not allow.
The Go tests (router/auth_external_test.go) drive it. Run it with Debian's
/usr/bin/python3 (python3-autobahn, python3-nacl for cryptosign).

  autobahn_auth.py URL REALM METHOD AUTHID SECRET [ACTION:URI ...]

METHOD is one of
  ticket      SECRET is the ticket: a password or a JWT
  wampcra     SECRET is the WAMP-CRA secret; the key is derived with the
              salt, iterations and keylen of the CHALLENGE's extra, as
              autobahn's documentation shows
  cryptosign  SECRET is the hex of the 32-byte Ed25519 seed
  anonymous   no authmethods in HELLO; SECRET is ignored
AUTHID "-" sends no authid.

ACTION is publish, subscribe, call or register. Each one is done once,
acknowledged, and reported as {"event": "action", "action", "uri", "ok",
"error"} where error is the URI of the ApplicationError autobahn raised.

It prints one JSON object per line on stdout (anything else there is
autobahn's logging):
  {"event": "challenge", "method", "extra"}    when the router challenges
  {"event": "joined", "realm", "authid", "authrole", "authmethod", "authprovider"}
  {"event": "action", ...}                      one per ACTION, in order
  {"event": "leave", "reason", "message"}      always last: GOODBYE or ABORT
It exits 0 when the session ended by itself (joined, did the actions and
left, or was refused with ABORT), 1 on an unexpected error.
"""

import asyncio
import binascii
import json
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer
from autobahn.wamp.types import PublishOptions

exit_code = 1


def out(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


class Login(ApplicationSession):
    def onConnect(self):
        cfg = self.config.extra
        method, authid, secret = cfg["method"], cfg["authid"], cfg["secret"]
        kw = {}
        if authid != "-":
            kw["authid"] = authid
        if method == "cryptosign":
            from autobahn.wamp.cryptosign import CryptosignKey
            self.key = CryptosignKey.from_bytes(binascii.a2b_hex(secret))
            kw["authextra"] = {"pubkey": self.key.public_key()}
        if method != "anonymous":
            kw["authmethods"] = [method]
        self.join(self.config.realm, **kw)

    async def onChallenge(self, challenge):
        out(event="challenge", method=challenge.method, extra=challenge.extra)
        secret = self.config.extra["secret"]
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            key = secret.encode("utf8")
            if "salt" in challenge.extra:
                key = auth.derive_key(secret, challenge.extra["salt"],
                                      challenge.extra["iterations"], challenge.extra["keylen"])
            return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")
        if challenge.method == "cryptosign":
            return await self.key.sign_challenge(challenge)
        raise Exception("unexpected challenge method {}".format(challenge.method))

    async def onJoin(self, details):
        global exit_code
        self.joined = True
        out(event="joined", realm=details.realm, authid=details.authid, authrole=details.authrole,
            authmethod=details.authmethod, authprovider=details.authprovider)
        try:
            for a in self.config.extra["actions"]:
                action, uri = a.split(":", 1)
                try:
                    await self.act(action, uri)
                    out(event="action", action=action, uri=uri, ok=True, error=None)
                except ApplicationError as e:
                    out(event="action", action=action, uri=uri, ok=False, error=e.error)
            exit_code = 0
        except Exception as e:
            out(event="error", error=repr(e))
        self.leave()

    async def act(self, action, uri):
        if action == "publish":
            await self.publish(uri, "from autobahn-python", options=PublishOptions(acknowledge=True))
        elif action == "subscribe":
            await self.subscribe(lambda *a, **kw: None, uri)
        elif action == "call":
            await self.call(uri, 1)
        elif action == "register":
            await self.register(lambda *a, **kw: None, uri)
        else:
            raise Exception("unknown action {}".format(action))

    def onLeave(self, details):
        global exit_code
        out(event="leave", reason=details.reason, message=details.message)
        if not getattr(self, "joined", False):  # refused: ABORT instead of WELCOME
            exit_code = 0
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def main():
    methods = ("ticket", "wampcra", "cryptosign", "anonymous")
    if len(sys.argv) < 6 or sys.argv[3] not in methods:
        out(event="error", error="usage: autobahn_auth.py URL REALM ticket|wampcra|cryptosign|anonymous AUTHID SECRET [ACTION:URI ...]")
        return 2
    url, realm, method, authid, secret = sys.argv[1:6]
    extra = {"method": method, "authid": authid, "secret": secret, "actions": sys.argv[6:]}
    runner = ApplicationRunner(url, realm, extra=extra, serializers=[JsonSerializer()])
    runner.run(Login, log_level="warn")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
