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

const { out, fail, connect, messages } = require('./mqttjs_common');

const [mode, url, clientId, filter, qosArg, countArg] = process.argv.slice(2);
const qos = Number(qosArg);
const count = Number(countArg);
if (mode !== 'subscribe' || !url || !clientId || !filter || ![0, 1, 2].includes(qos) || !(count >= 0)) {
  fail('usage: mqttjs_bridge.js subscribe URL CLIENT_ID FILTER 0|1|2 COUNT');
}

async function subscribe() {
  const c = await connect(url, clientId);
  // Messages are queued from the start: a retained one can arrive with the
  // SUBACK, and "suback" is always printed first.
  const next = messages(c);
  const granted = await c.subscribeAsync(filter, { qos });
  out({ event: 'suback', granted: granted.map((g) => ({ topic: g.topic, qos: g.qos })) });

  for (let i = 0; i < count; i++) {
    const m = await next(`message ${i + 1} of ${count}`);
    const p = m.props;
    out({
      event: 'message', topic: m.topic, payload: m.payload.toString('utf8'), qos: m.packet.qos, retain: m.packet.retain,
      contentType: p.contentType === undefined ? null : p.contentType,
      payloadFormatIndicator: p.payloadFormatIndicator === undefined ? null : p.payloadFormatIndicator,
      userProperties: p.userProperties || null,
    });
  }
  await c.endAsync();
  out({ event: 'done' });
}

subscribe().then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
