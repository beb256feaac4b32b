// autobahn-js client the Go tests (router/external_test.go) drive against
// Junction. It prints one JSON object per line on stdout and exits 0 when the
// scenario completed, 1 on any error.
//
//   node autobahn_client.js ws://HOST:PORT/ws json|msgpack
//   node autobahn_client.js rs://HOST:PORT json       (WAMP RawSocket)
//
// Scenario: publish to itself (exclude_me false, acknowledged); a call with
// receive_progress to com.ext.py.progress, which an autobahn-python callee
// (autobahn_client.py callee) registered and which sends progressive results;
// the same call to a procedure autobahn-js registers itself. autobahn-js 22.x
// does not implement call canceling as a callee, so a WAMP dealer must treat
// it as not supporting progressive results (WAMP spec, Progressive Call
// Results): it gets no receive_progress and answers with its final result.
'use strict';

const autobahn = require('autobahn');

const PROGRESS_STEPS = 3;
const STEP_TIMEOUT_MS = 5000;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

const [url, ser] = process.argv.slice(2);
const serializers = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
};
if (!url || !serializers[ser]) fail('usage: autobahn_client.js URL json|msgpack');

let transport;
const u = new URL(url);
if (u.protocol === 'rs:') {
  if (ser !== 'json') fail('autobahn-js RawSocket speaks json only');
  transport = { type: 'rawsocket', host: u.hostname, port: Number(u.port) };
} else {
  transport = { type: 'websocket', url, serializers: [serializers[ser]()] };
}

function withTimeout(promise, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
    Promise.resolve(promise).then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); });
  });
}

function describeError(e) {
  if (e && e.error) return `${e.error} ${JSON.stringify(e.args || [])}`;
  return e && e.stack ? e.stack : String(e);
}

async function scenario(session) {
  // Publish to ourselves.
  const args = [1, 'two', { three: 3 }, [4.5, null, true]];
  const kwargs = { a: 'b', n: -1, list: ['x', 'y'] };
  let onEvent;
  const event = new Promise((resolve) => { onEvent = resolve; });
  await withTimeout(session.subscribe('com.ext.js.topic', (a, kw, details) => onEvent({ args: a, kwargs: kw, topic: details.topic })), 'SUBSCRIBED');
  const pub = await withTimeout(session.publish('com.ext.js.topic', args, kwargs, { acknowledge: true, exclude_me: false }), 'PUBLISHED');
  out({ event: 'published', acknowledged: !!(pub && pub.id) });
  out({ event: 'event', ...(await withTimeout(event, 'EVENT')) });

  out({ event: 'progressive', procedure: 'com.ext.py.progress',
    ...(await progressiveCall(session, 'com.ext.py.progress')) });

  // The same, with autobahn-js as the callee.
  let receiveProgress = null;
  await withTimeout(session.register('com.ext.js.progress', (a, kw, details) => {
    receiveProgress = !!(details && details.progress);
    const n = a[0];
    for (let i = 1; i <= n; i++) {
      if (details && details.progress) details.progress([i], { step: i });
    }
    return new autobahn.Result(['final', n], { done: true });
  }), 'REGISTERED');
  const own = await progressiveCall(session, 'com.ext.js.progress');
  out({ event: 'progressive', procedure: 'com.ext.js.progress', calleeReceiveProgress: receiveProgress, ...own });
}

// progressiveCall calls procedure with receive_progress and returns every
// progressive result and the final one, each as {args, kwargs}.
async function progressiveCall(session, procedure) {
  const norm = (r) => (r instanceof autobahn.Result ? { args: r.args, kwargs: r.kwargs } : { args: [r], kwargs: {} });
  const progress = [];
  const call = session.call(procedure, [PROGRESS_STEPS], {}, { receive_progress: true });
  // when.js promises take the progress handler as then's third argument.
  const res = await withTimeout(call.then((r) => r, (e) => { throw e; }, (p) => progress.push(norm(p))),
    `RESULT of ${procedure}`);
  return { progress, result: norm(res) };
}

const connection = new autobahn.Connection({
  realm: 'realm1',
  transports: [transport],
  max_retries: 0,
  retry_if_unreachable: false,
});

let finished = false;

connection.onopen = (session, details) => {
  out({ event: 'joined', realm: session.realm, transport: connection.transport ? connection.transport.info : null });
  scenario(session).then(
    () => { finished = true; out({ event: 'done' }); connection.close(); },
    (e) => fail(describeError(e)));
};

// reason is autobahn-js's view of the WebSocket close ("closed" only for close
// code 1000); details.reason is the WAMP one.
connection.onclose = (reason, details) => {
  const wampReason = details && details.reason;
  out({ event: 'closed', reason, details: wampReason });
  process.exit(finished && wampReason === 'wamp.close.goodbye_and_out' ? 0 : 1);
};

connection.open();
