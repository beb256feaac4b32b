// MQTT.js client the Go RPC tests (router/rpc_external_test.go) drive
// against Junction: an MQTT 5 caller or callee of WAMP procedures. It prints
// one JSON object per line on stdout and exits 0 when its scenario
// completed, 1 on any error.
//
//   node mqttjs_rpc.js call URL CLIENT_ID PROCEDURE_TOPIC PAYLOAD CONTENT_TYPE USER_PROPS_JSON
//       Subscribes to replies/CLIENT_ID, publishes PAYLOAD to
//       PROCEDURE_TOPIC ($rpc/...) at QoS 1 with Response Topic
//       replies/CLIENT_ID, Correlation Data "corr-1", the content type
//       CONTENT_TYPE (none if "") and the user properties USER_PROPS_JSON
//       (an object), prints {"event":"puback"} with its
//       reason code, then one {"event":"reply"} line per reply (payload,
//       correlation data, content type, user properties) until one that is
//       not marked progress, and disconnects.
//   node mqttjs_rpc.js register URL CLIENT_ID FILTER COUNT
//       Subscribes to FILTER ($rpc/...) at QoS 1, prints {"event":"suback"},
//       then answers COUNT invocations: payload "echo:" + the invocation's
//       payload to its Response Topic with its Correlation Data, printing
//       {"event":"invocation"} (topic, payload, user properties) for each.
'use strict';

const { out, fail, connect, messages } = require('./mqttjs_common');

const [mode, url, clientId, ...rest] = process.argv.slice(2);
if (!['call', 'register'].includes(mode) || !url || !clientId) {
  fail('usage: mqttjs_rpc.js call URL CLIENT_ID TOPIC PAYLOAD CONTENT_TYPE PROPS_JSON | register URL CLIENT_ID FILTER COUNT');
}

async function call([topic, payload, contentType, propsJSON]) {
  const c = await connect(url, clientId);
  const next = messages(c);
  const replyTo = `replies/${clientId}`;
  await c.subscribeAsync(replyTo, { qos: 1 });
  const properties = { responseTopic: replyTo, correlationData: Buffer.from('corr-1') };
  const userProperties = JSON.parse(propsJSON);
  // MQTT.js writes an empty userProperties object as a packet the server
  // waits on forever: leave it out when there are none.
  if (Object.keys(userProperties).length > 0) properties.userProperties = userProperties;
  if (contentType) properties.contentType = contentType;
  const ack = await c.publishAsync(topic, payload, { qos: 1, properties });
  out({ event: 'puback', reasonCode: ack && ack.reasonCode !== undefined ? ack.reasonCode : 0 });
  for (;;) {
    const m = await next('reply');
    const up = m.props.userProperties || {};
    out({
      event: 'reply', topic: m.topic, payload: m.payload.toString('utf8'),
      correlation: m.props.correlationData ? m.props.correlationData.toString('utf8') : null,
      contentType: m.props.contentType === undefined ? null : m.props.contentType,
      userProperties: up,
    });
    if (up.progress !== 'true') break;
  }
  await c.endAsync();
  out({ event: 'done' });
}

async function register([filter, countArg]) {
  const c = await connect(url, clientId);
  const next = messages(c);
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  out({ event: 'suback', granted: granted.map((g) => ({ topic: g.topic, qos: g.qos })) });
  for (let i = 0; i < Number(countArg); i++) {
    const m = await next(`invocation ${i + 1}`);
    await c.publishAsync(m.props.responseTopic, 'echo:' + m.payload.toString('utf8'), {
      qos: 1, properties: { correlationData: m.props.correlationData },
    });
    out({
      event: 'invocation', topic: m.topic, payload: m.payload.toString('utf8'),
      responseTopic: m.props.responseTopic, userProperties: m.props.userProperties || {},
    });
  }
  await c.endAsync();
  out({ event: 'done' });
}

(mode === 'call' ? call(rest) : register(rest)).then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
