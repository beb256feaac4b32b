// The WAMP page: autobahn-js over WebSocket.
//
//   chat.<room>.messages        a message: args [{from, text, via}]
//   chat.<room>.member.<id>     a procedure each member registers; calling it
//                               returns {name, since}. Presence is the list of
//                               these registrations, read with the WAMP meta
//                               API: wamp.registration.list and .get, then
//                               wamp.registration.on_create and .on_delete.
//                               A federated router registers every other
//                               router's procedures in its own dealer, so the
//                               list spans the cluster.
//   devices..temp               device readings, MQTT devices/<id>/temp
"use strict";

let session = null;
let msgTopic = "";
let me = "";

function join(name, room) {
  msgTopic = `chat.${room}.messages`;
  me = name;
  return new Promise((resolve, reject) => {
    let opened = false;
    let leaving = false;
    const connection = new autobahn.Connection({ url: wsURL, realm, max_retries: 0 });
    connection.onopen = async (s) => {
      opened = true;
      session = s;
      try {
        await setUp(s, name, room);
      } catch (err) {
        reject(err);
        return;
      }
      setStatus(`joined ${room} as ${name} (WAMP session ${s.id}, ${wsURL})`, "joined");
      resolve();
    };
    connection.onclose = (reason, details) => {
      session = null;
      const why = `${reason}${details && details.reason ? " (" + details.reason + ")" : ""}${details && details.message ? ": " + details.message : ""}`;
      if (!opened) {
        reject(new Error("cannot connect to " + wsURL + ": " + why));
      } else if (!leaving) {
        showError("connection closed: " + why + "; reload the page to join again");
        setStatus("disconnected", "closed");
      }
      return true; // no reconnect
    };
    // Leave cleanly, so that the others see it at once.
    window.addEventListener("pagehide", () => {
      leaving = true;
      if (connection.isOpen) connection.close();
    });
    connection.open();
  });
}

async function setUp(s, name, room) {
  $("room-topic").textContent = msgTopic;

  // Presence: follow the meta events first, then read the list, so that no
  // member is missed in between (a registration seen twice is one member).
  const prefix = `chat.${room}.member.`;
  const mine = prefix + s.id;
  const members = new Map(); // registration id -> {name, you}
  const render = () => {
    const list = $("members");
    list.replaceChildren(...[...members.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => {
        const li = document.createElement("li");
        li.textContent = m.name;
        if (m.you) {
          const you = document.createElement("span");
          you.className = "you";
          you.textContent = " (you)";
          li.append(you);
        }
        return li;
      }));
  };
  const learn = async (regID, uri) => {
    if (typeof uri !== "string" || !uri.startsWith(prefix) || members.has(regID)) return;
    if (uri === mine) {
      members.set(regID, { name, you: true });
      render();
      return;
    }
    const m = { name: "…", you: false };
    members.set(regID, m);
    render();
    try {
      const info = await s.call(uri);
      m.name = String(info && info.name);
    } catch (err) {
      // A member that left between its on_create and this call is gone.
      if (err && (err.error === "wamp.error.no_such_procedure" || err.error === "wamp.error.canceled")) {
        members.delete(regID);
      } else {
        throw err;
      }
    }
    render();
  };
  const report = (p) => p.catch((err) => showError("presence: " + describe(err)));

  await s.subscribe("wamp.registration.on_create", ([, details]) => report(learn(details.id, details.uri)));
  await s.subscribe("wamp.registration.on_delete", ([, regID]) => {
    if (members.delete(regID)) render();
  });

  await s.subscribe(msgTopic, ([m]) => addMessage(m, m && m.via));
  await s.subscribe("devices..temp", (args, kwargs, details) => {
    const parts = String(details.topic).split(".");
    let id = parts[1];
    try {
      id = decodeURIComponent(id); // the bridge escapes ".", "%" and spaces in MQTT levels
    } catch (_) { /* keep it as it came */ }
    setReading(id, args.length === 1 ? args[0] : args);
  }, { match: "wildcard", get_retained: true });

  const since = new Date().toISOString();
  await s.register(mine, () => ({ name, since }));

  const regs = await s.call("wamp.registration.list");
  await Promise.all((regs.exact || []).map(async (id) => {
    let reg;
    try {
      reg = await s.call("wamp.registration.get", [id]);
    } catch (err) {
      if (err && err.error === "wamp.error.no_such_registration") return; // gone meanwhile
      throw err;
    }
    await learn(reg.id, reg.uri);
  }));
}

async function send(text) {
  if (!session) throw new Error("not connected");
  await session.publish(msgTopic, [{ from: me, text, via: "WAMP" }], {}, { acknowledge: true, exclude_me: false });
}

chatPage({ join, send });
