// What both pages share: the form, errors, messages and device readings.
// A page calls chatPage with how it connects and sends; the rest is here.
"use strict";

const $ = (id) => document.getElementById(id);

// The router's WebSocket endpoint: the page's own host, unless ?url= says.
const params = new URLSearchParams(location.search);
const wsURL = params.get("url") || (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
const realm = params.get("realm") || "realm1";

// Every error is shown on the page (and logged): nothing fails silently.
function showError(msg) {
  const e = $("error");
  e.hidden = false;
  e.textContent += (e.textContent ? "\n" : "") + msg;
  document.body.dataset.state = "error";
  console.error(msg);
}
window.addEventListener("error", (ev) => showError("script error: " + ev.message));
window.addEventListener("unhandledrejection", (ev) => showError("unhandled rejection: " + describe(ev.reason)));

function describe(err) {
  if (err && err.error) return err.error + (err.args && err.args.length ? " " + JSON.stringify(err.args) : ""); // autobahn.Error
  if (err && err.message) return err.message;
  return String(err);
}

function setStatus(text, state) {
  $("status").textContent = text;
  if (state && document.body.dataset.state !== "error") document.body.dataset.state = state;
}

function addMessage(m, via) {
  if (!m || typeof m.text !== "string") {
    showError("a message that is not {from, text}: " + JSON.stringify(m));
    return;
  }
  const li = document.createElement("li");
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = String(m.from || "?");
  li.append(from, ": " + m.text);
  if (via) {
    const v = document.createElement("span");
    v.className = "via";
    v.textContent = "  via " + via;
    li.append(v);
  }
  const list = $("messages");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function setReading(device, value) {
  let row = document.querySelector(`#devices tr[data-device="${CSS.escape(device)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.device = device;
    row.append(document.createElement("td"), document.createElement("td"), document.createElement("td"));
    row.cells[0].textContent = device;
    $("devices").append(row);
  }
  row.cells[1].textContent = typeof value === "string" ? value : JSON.stringify(value);
  row.cells[2].textContent = new Date().toLocaleTimeString();
}

// chatPage wires the forms to impl: impl.join(name, room) connects and
// resolves once the page receives; impl.send(text) publishes.
function chatPage(impl) {
  $("name").value = params.get("name") || "";
  $("room").value = params.get("room") || $("room").value;
  // Keep name and room when switching pages.
  const other = $("other-mode");
  other.addEventListener("click", () => {
    const q = new URLSearchParams(location.search);
    if ($("name").value) q.set("name", $("name").value);
    q.set("room", $("room").value);
    other.search = "?" + q;
  });

  let joined = false;
  const join = async () => {
    const name = $("name").value.trim();
    const room = $("room").value.trim();
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(room)) {
      showError("a room name is letters, digits, _ and - (it is a topic level)");
      return;
    }
    if (!name) {
      showError("choose a name");
      return;
    }
    if (joined) return;
    joined = true;
    for (const el of $("join").elements) el.disabled = true;
    setStatus("connecting to " + wsURL + " …", "connecting");
    try {
      await impl.join(name, room);
    } catch (err) {
      showError("join: " + describe(err));
      return;
    }
    $("text").disabled = $("send-button").disabled = false;
    $("text").focus();
  };
  $("join").addEventListener("submit", (ev) => {
    ev.preventDefault();
    join();
  });
  $("send").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    if (!text) return;
    $("text").value = "";
    try {
      await impl.send(text);
    } catch (err) {
      showError("send: " + describe(err));
    }
  });
  // ?name=...&room=... joins at once.
  if (params.get("name") && params.get("room")) join();
}
