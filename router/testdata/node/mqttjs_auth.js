// MQTT.js client that logs in to Junction and then tries publishes and
// subscriptions its identity may or may not be allowed. The Go tests
// (router/auth_external_test.go) drive it.
//
//   node mqttjs_auth.js URL PROTOCOL_VERSION CLIENT_ID USERNAME PASSWORD [ACTION:TOPIC ...]
//
// USERNAME "-" sends no username; PASSWORD may be a JWT. ACTION is pub (a
// QoS 1 publish) or sub (a QoS 1 subscription). It prints one JSON object per
// line on stdout:
//   {"event": "connected", "reasonCode", "returnCode"}   the CONNACK
//   {"event": "refused", "message", "code"}              the error MQTT.js reports for a refused CONNACK
//   {"event": "puback", "topic", "reasonCode", "error", "code"}
//   {"event": "suback", "topic", "reasonCodes", "error"}
//   {"event": "done"}
// and exits 0 when its scenario completed (a refusal completes it), 1 on
// any other error.
'use strict';

const mqtt = require('mqtt');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

const [url, version, clientId, username, password, ...actions] = process.argv.slice(2);
const protocolVersion = Number(version);
if (!password || ![4, 5].includes(protocolVersion)) {
  fail('usage: mqttjs_auth.js URL 4|5 CLIENT_ID USERNAME PASSWORD [pub:TOPIC|sub:FILTER ...]');
}

function connect() {
  return new Promise((resolve) => {
    const opts = { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 10000, keepalive: 30, clean: true };
    if (username !== '-') opts.username = username;
    opts.password = password;
    const c = mqtt.connect(url, opts);
    const onError = (err) => {
      out({ event: 'refused', message: err.message, code: err.code === undefined ? null : err.code });
      c.end(true, () => resolve(null));
    };
    c.once('error', onError);
    c.once('connect', (connack) => {
      c.removeListener('error', onError);
      c.on('error', (err) => fail(`${clientId}: ${err.message}`));
      out({ event: 'connected', reasonCode: connack.reasonCode === undefined ? null : connack.reasonCode,
        returnCode: connack.returnCode === undefined ? null : connack.returnCode });
      resolve(c);
    });
  });
}

// publish reports the PUBACK: MQTT.js resolves on a success code and rejects
// with an error carrying the reason code on a failure code (MQTT 5).
function publish(c, topic) {
  return new Promise((resolve) => {
    c.publish(topic, `from MQTT.js ${clientId}`, { qos: 1 }, (err, packet) => {
      if (err) {
        out({ event: 'puback', topic, reasonCode: null, error: err.message, code: err.code === undefined ? null : err.code });
      } else {
        out({ event: 'puback', topic, reasonCode: packet && packet.reasonCode !== undefined ? packet.reasonCode : 0, error: null, code: null });
      }
      resolve();
    });
  });
}

// subscribe reports the SUBACK's reason codes; MQTT.js also reports a
// refused filter as an error.
function subscribe(c, filter) {
  return new Promise((resolve) => {
    c.subscribe(filter, { qos: 1 }, (err, granted, packet) => {
      out({ event: 'suback', topic: filter, reasonCodes: packet ? packet.granted : null, error: err ? err.message : null });
      resolve();
    });
  });
}

async function main() {
  const c = await connect();
  if (c) {
    for (const a of actions) {
      const i = a.indexOf(':');
      const [action, topic] = [a.slice(0, i), a.slice(i + 1)];
      if (action === 'pub') await publish(c, topic);
      else if (action === 'sub') await subscribe(c, topic);
      else fail(`unknown action ${a}`);
    }
    await c.endAsync();
  }
  out({ event: 'done' });
}

main().then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
