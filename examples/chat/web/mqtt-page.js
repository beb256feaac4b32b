// The MQTT page: MQTT.js over WebSocket, to the same router and the same
// messages as the WAMP page (MQTT topic a/b/c is WAMP URI a.b.c, and a JSON
// payload is the WAMP event's one argument).
//
//   chat/<room>/messages   a message: {"from": ..., "text": ..., "via": ...}
//   devices/+/temp         device readings
"use strict";

let client = null;
let msgTopic = "";
let me = "";

function join(name, room) {
  msgTopic = `chat/${room}/messages`;
  me = name;
  $("room-topic").textContent = msgTopic;
  return new Promise((resolve, reject) => {
    let connected = false;
    let leaving = false;
    client = mqtt.connect(wsURL, {
      protocolVersion: 5,
      clientId: "chat-" + Math.random().toString(16).slice(2, 10),
      clean: true,
      reconnectPeriod: 0, // no reconnect: a lost connection is shown
      connectTimeout: 10000,
    });
    client.on("connect", async () => {
      connected = true;
      try {
        const granted = await client.subscribeAsync([msgTopic, "devices/+/temp"], { qos: 1 });
        const refused = granted.filter((g) => g.qos > 2);
        if (refused.length) throw new Error("subscription refused: " + JSON.stringify(refused));
      } catch (err) {
        reject(err);
        return;
      }
      setStatus(`joined ${room} as ${name} (MQTT client ${client.options.clientId}, ${wsURL})`, "joined");
      resolve();
    });
    client.on("message", (topic, payload) => {
      const text = new TextDecoder().decode(payload);
      if (topic === msgTopic) {
        let m;
        try {
          m = JSON.parse(text);
        } catch (err) {
          showError(`${topic}: not JSON: ${text}`);
          return;
        }
        addMessage(m, m && m.via);
        return;
      }
      const levels = topic.split("/");
      if (levels[0] === "devices" && levels[2] === "temp") {
        let v = text;
        try {
          v = JSON.parse(text);
        } catch (_) { /* a reading that is not JSON is shown as it came */ }
        setReading(levels[1], v);
      }
    });
    client.on("error", (err) => {
      if (!connected) reject(err);
      else showError("MQTT: " + describe(err));
    });
    client.on("close", () => {
      if (!connected) {
        reject(new Error("cannot connect to " + wsURL));
      } else if (!leaving) {
        showError("connection closed; reload the page to join again");
        setStatus("disconnected", "closed");
      }
    });
    window.addEventListener("pagehide", () => {
      leaving = true;
      client.end(true);
    });
  });
}

async function send(text) {
  if (!client || !client.connected) throw new Error("not connected");
  await client.publishAsync(msgTopic, JSON.stringify({ from: me, text, via: "MQTT" }), { qos: 1 });
}

chatPage({ join, send });
