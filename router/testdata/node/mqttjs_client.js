// MQTT.js client the Go tests (router/external_test.go) drive against Junction.
// It prints one JSON object per line on stdout and exits 0 when its scenario
// completed, 1 on any error.
//
//   node mqttjs_client.js roundtrip URL PROTOCOL_VERSION TAG
//       Two clients, mqttjs-sub-TAG and mqttjs-pub-TAG: sub subscribes to
//       junction/mqttjs/TAG at QoS 1, pub publishes there at QoS 1 (with MQTT 5
//       properties when PROTOCOL_VERSION is 5); prints what each saw.
//   node mqttjs_client.js drain URL TAG
//       One MQTT 5 client, mqttjs-drain-TAG: prints {"event":"connected"},
//       then waits for the server to end the session and prints the
//       DISCONNECT it got.
'use strict';

const mqtt = require('mqtt');
const WebSocket = require('ws');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

const mode = process.argv[2];
const url = process.argv[3];
const protocolVersion = mode === 'drain' ? 5 : Number(process.argv[4]);
const tag = mode === 'drain' ? process.argv[4] : process.argv[5];
if (!url || !tag || ![3, 4, 5].includes(protocolVersion)) {
  fail('usage: mqttjs_client.js roundtrip URL 3|4|5 TAG | drain URL TAG');
}

// Every WebSocket MQTT.js opens goes through here, so the test sees the
// subprotocol MQTT.js offers and the one the server picked.
function options(clientId, extra) {
  const o = {
    clientId,
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    keepalive: 30,
    clean: true,
    createWebsocket(wsURL, protocols, opts) {
      const ws = new WebSocket(wsURL, protocols, opts.wsOptions);
      ws.on('open', () => out({ event: 'websocket', client: clientId, offered: protocols, accepted: ws.protocol, extensions: ws.extensions }));
      return ws;
    },
    ...extra,
  };
  if (protocolVersion === 3) o.protocolId = 'MQIsdp';
  return o;
}

function connect(clientId, extra) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, options(clientId, extra));
    const onError = (err) => reject(new Error(`${clientId}: ${err.message}`));
    c.once('error', onError);
    c.once('connect', (connack) => {
      c.removeListener('error', onError);
      c.on('error', (err) => fail(`${clientId}: ${err.message}`));
      out({ event: 'connected', client: clientId, returnCode: connack.returnCode, reasonCode: connack.reasonCode });
      resolve(c);
    });
  });
}

async function roundtrip() {
  const topic = `junction/mqttjs/${tag}`;
  const sub = await connect(`mqttjs-sub-${tag}`);
  const pub = await connect(`mqttjs-pub-${tag}`);

  const received = new Promise((resolve) => {
    sub.on('message', (t, payload, packet) => {
      const p = packet.properties || {};
      resolve({
        event: 'message', topic: t, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain,
        userProperties: p.userProperties || null, contentType: p.contentType || null,
        responseTopic: p.responseTopic || null,
        correlationData: p.correlationData ? p.correlationData.toString('utf8') : null,
      });
    });
  });

  const granted = await sub.subscribeAsync(topic, { qos: 1 });
  out({ event: 'suback', granted: granted.map((g) => ({ topic: g.topic, qos: g.qos })) });

  const opts = { qos: 1 };
  if (protocolVersion === 5) {
    opts.properties = {
      userProperties: { origin: 'mqtt.js', 'ünï': 'cödé' },
      contentType: 'application/json',
      responseTopic: 'junction/mqttjs/reply',
      correlationData: Buffer.from('corr-42'),
    };
  }
  const payload = JSON.stringify({ hello: 'junction', n: 42 });
  const puback = await pub.publishAsync(topic, payload, opts);
  // Resolved once the PUBACK came back.
  out({ event: 'puback', messageId: puback ? puback.messageId : null });

  out(await received);
  await Promise.all([pub.endAsync(), sub.endAsync()]);
  out({ event: 'done' });
}

async function drain() {
  const c = await connect(`mqttjs-drain-${tag}`);
  await new Promise((resolve) => {
    let disconnect = null;
    c.on('disconnect', (packet) => {
      disconnect = packet;
      out({ event: 'disconnect', reasonCode: packet.reasonCode, properties: packet.properties || null });
    });
    c.on('close', () => {
      out({ event: 'close', gotDisconnect: disconnect !== null });
      c.end(true, resolve);
    });
  });
}

const scenarios = { roundtrip, drain };
if (!scenarios[mode]) fail(`unknown mode ${mode}`);
scenarios[mode]().then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
