// MQTT.js client the Go bridge tests (router/bridge_external_test.go) drive
// against Junction, on the MQTT side of the MQTT ⇄ WAMP bridge. It prints one
// JSON object per line on stdout and exits 0 when its scenario completed, 1
// on any error.
//
//   node mqttjs_bridge.js subscribe URL CLIENT_ID FILTER QOS COUNT
//       One MQTT 5 client: subscribes to FILTER at QOS, prints
//       {"event":"suback"} with the granted QoS, then one
//       {"event":"message"} line (topic, payload as UTF-8, QoS, retain flag
//       and the MQTT 5 payload properties) for each of the first COUNT
//       messages, and disconnects.
'use strict';

const mqtt = require('mqtt');
const WebSocket = require('ws');

const STEP_TIMEOUT_MS = 10000;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

const [mode, url, clientId, filter, qosArg, countArg] = process.argv.slice(2);
const qos = Number(qosArg);
const count = Number(countArg);
if (mode !== 'subscribe' || !url || !clientId || !filter || ![0, 1, 2].includes(qos) || !(count >= 0)) {
  fail('usage: mqttjs_bridge.js subscribe URL CLIENT_ID FILTER 0|1|2 COUNT');
}

function connect() {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      clientId,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 30,
      clean: true,
      // Every WebSocket MQTT.js opens goes through here, so the test sees
      // the subprotocol MQTT.js offers and the one the server picked.
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

async function subscribe() {
  const c = await connect();
  // Messages are queued from the start: a retained one can arrive with the
  // SUBACK, and "suback" is always printed first.
  const queue = [];
  let wake = null;
  c.on('message', (topic, payload, packet) => {
    const p = packet.properties || {};
    queue.push({
      event: 'message', topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain,
      contentType: p.contentType === undefined ? null : p.contentType,
      payloadFormatIndicator: p.payloadFormatIndicator === undefined ? null : p.payloadFormatIndicator,
      userProperties: p.userProperties || null,
    });
    if (wake) wake();
  });

  const granted = await c.subscribeAsync(filter, { qos });
  out({ event: 'suback', granted: granted.map((g) => ({ topic: g.topic, qos: g.qos })) });

  for (let i = 0; i < count; i++) {
    if (queue.length === 0) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message ${i + 1} of ${count} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
        wake = () => { clearTimeout(timer); wake = null; resolve(); };
      });
    }
    out(queue.shift());
  }
  await c.endAsync();
  out({ event: 'done' });
}

subscribe().then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
