// What the MQTT.js scripts the Go tests run share (mqttjs_bridge.js,
// mqttjs_rpc.js): one JSON object per line on stdout, an {"event":"error"}
// line and exit 1 on any failure, an MQTT 5 connection, and a queue of
// received messages waited on with a deadline.
'use strict';

const mqtt = require('mqtt');
const WebSocket = require('ws');

const STEP_TIMEOUT_MS = 15000;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

// connect opens an MQTT 5 connection (clean start, no reconnects) and prints
// {"event":"connected"}. Every WebSocket it opens is reported as
// {"event":"websocket"} with the subprotocols offered and accepted.
function connect(url, clientId) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      clientId,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 30,
      clean: true,
      createWebsocket(wsURL, protocols, opts) {
        const ws = new WebSocket(wsURL, protocols, opts.wsOptions);
        ws.on('open', () => out({ event: 'websocket', offered: protocols, accepted: ws.protocol }));
        return ws;
      },
    });
    const onError = (err) => reject(new Error(`${clientId}: ${err.message}`));
    c.once('error', onError);
    c.once('connect', (connack) => {
      c.removeListener('error', onError);
      c.on('error', (err) => fail(`${clientId}: ${err.message}`));
      out({ event: 'connected', reasonCode: connack.reasonCode });
      resolve(c);
    });
  });
}

// messages queues what c receives from now on, so that nothing is lost
// between waits, and returns next(what): the next message, or an error
// after STEP_TIMEOUT_MS.
function messages(c) {
  const queue = [];
  let wake = null;
  c.on('message', (topic, payload, packet) => {
    queue.push({ topic, payload, packet, props: packet.properties || {} });
    if (wake) wake();
  });
  return async function next(what) {
    if (queue.length === 0) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
        wake = () => { clearTimeout(timer); wake = null; resolve(); };
      });
    }
    return queue.shift();
  };
}

module.exports = { out, fail, connect, messages };
