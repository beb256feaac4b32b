#!/usr/bin/python3
"""Log in to the secure example (examples/secure/README.md) over WAMP with
autobahn-python, by one authentication method, then publish to
devices.sensor-1.temp and devices.sensor-1.cmd to show what the role allows.

  python3 examples/secure/wamp_login.py METHOD        (from the repository root)

METHOD:
  ticket        alice's password as a WAMP ticket
  wampcra       sensor-1's WAMP-CRA secret
  cryptosign    sensor-1's Ed25519 key (examples/secure/out/sensor-1.ed25519)
  tls           sensor-2's client certificate
  anonymous     no credentials: role guest
  jwt           $TOKEN (from `junction token`) as a WAMP ticket
  token-query   $TOKEN on the WebSocket upgrade: wss://…/ws?token=…
  token-header  $TOKEN on the WebSocket upgrade: Authorization: Bearer …
  token-cookie  $TOKEN on the WebSocket upgrade: Cookie: junction_token=…

Needs Debian's python3-autobahn (and python3-nacl for cryptosign).
"""

import asyncio
import os
import ssl
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

OUT = "examples/secure/out"
URL = "wss://localhost:8443/ws"
REALM = "realm1"

# wss: trust the example's CA.
tls = ssl.create_default_context(cafile=f"{OUT}/ca.pem")


class Session(ApplicationSession):
    """Prints who the router says we are, publishes twice, and leaves."""

    async def onJoin(self, details):
        self.joined = True
        print(f"joined {details.realm} as {details.authid} (role {details.authrole}, "
              f"authmethod {details.authmethod}, method {details.authextra.get('method')})")
        for topic in ("devices.sensor-1.temp", "devices.sensor-1.cmd"):
            try:
                await self.publish(topic, "hello", options=PublishOptions(acknowledge=True))
                print(f"publish {topic}: ok")
            except ApplicationError as e:
                print(f"publish {topic}: refused, {e.error}")
        self.leave()

    def onLeave(self, details):
        if not getattr(self, "joined", False):
            print(f"login refused: {details.reason} {details.message or ''}")
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


class Ticket(Session):
    def onConnect(self):
        self.join(REALM, authmethods=["ticket"], authid="alice")

    def onChallenge(self, challenge):
        return "alice-pw"


class WampCRA(Session):
    def onConnect(self):
        self.join(REALM, authmethods=["wampcra"], authid="sensor-1")

    def onChallenge(self, challenge):
        # The router stores a salted key: derive it from the secret with the
        # salt, iterations and keylen the CHALLENGE carries.
        key = auth.derive_key("sensor-1-cra", challenge.extra["salt"],
                              challenge.extra["iterations"], challenge.extra["keylen"])
        return auth.compute_wcs(key, challenge.extra["challenge"])


class Cryptosign(Session):
    def onConnect(self):
        from autobahn.wamp.cryptosign import CryptosignKey
        with open(f"{OUT}/sensor-1.ed25519") as f:
            self.key = CryptosignKey.from_bytes(bytes.fromhex(f.read().strip()))
        self.join(REALM, authmethods=["cryptosign"], authid="sensor-1",
                  authextra={"pubkey": self.key.public_key()})

    async def onChallenge(self, challenge):
        return await self.key.sign_challenge(challenge)


class ClientCert(Session):
    def onConnect(self):
        # The certificate is presented in the TLS handshake (see main).
        self.join(REALM, authmethods=["tls"])


class TokenTicket(Session):
    def onConnect(self):
        self.join(REALM, authmethods=["ticket"])   # an authid, if given, must be the token's sub

    def onChallenge(self, challenge):
        return os.environ["TOKEN"]


class Anonymous(Session):
    def onConnect(self):
        # No authmethods: a token on the upgrade request or a client
        # certificate decides, else the realm's anonymous role.
        self.join(REALM)


def main():
    method = sys.argv[1] if len(sys.argv) == 2 else ""
    url, headers = URL, None
    sessions = {"ticket": Ticket, "wampcra": WampCRA, "cryptosign": Cryptosign, "tls": ClientCert,
                "anonymous": Anonymous, "jwt": TokenTicket, "token-query": Anonymous,
                "token-header": Anonymous, "token-cookie": Anonymous}
    if method not in sessions:
        sys.exit(__doc__)
    if method == "tls":
        tls.load_cert_chain(f"{OUT}/sensor-2.pem", f"{OUT}/sensor-2-key.pem")
    elif method == "token-query":
        url = URL + "?token=" + os.environ["TOKEN"]
    elif method == "token-header":
        headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
    elif method == "token-cookie":
        headers = {"Cookie": "junction_token=" + os.environ["TOKEN"]}
    ApplicationRunner(url, REALM, ssl=tls, headers=headers).run(sessions[method], log_level="warn")


if __name__ == "__main__":
    main()
