// confab dashboard: sign in, watch the live feed (Server-Sent Events), mute or kick.
// Plain JavaScript, no build step; the server embeds this file.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = null;
let feed = null;
let callsTimer = null;

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (csrf) init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (_) { data = null; }
  }
  return { ok: response.ok, status: response.status, data };
}

function showSignIn(message) {
  csrf = null;
  if (feed) { feed.close(); feed = null; }
  $("live-view").hidden = true;
  $("who").hidden = true;
  $("sign-in-view").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("conferences").replaceChildren();
}

function showLive(session) {
  csrf = session.csrf;
  $("who-sid").textContent = session.accountSid;
  $("who").hidden = false;
  $("sign-in-view").hidden = true;
  $("live-view").hidden = false;
  connect();
  loadCalls();
}

// Calls end after their room says so: the list is also refreshed now and then.
setInterval(() => { if (csrf) loadCalls(); }, 10000);

async function signIn(event) {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  const result = await api("POST", "/dashboard/session", {
    accountSid: $("account-sid").value,
    authToken: $("auth-token").value,
  });
  if (result.ok) {
    $("auth-token").value = "";
    showLive(result.data);
  } else {
    $("sign-in-error").textContent = (result.data && result.data.error) || "Sign-in failed.";
  }
}

async function signOut() {
  await api("DELETE", "/dashboard/session");
  showSignIn("Signed out.");
}

function connect() {
  if (feed) feed.close();
  feed = new EventSource("/dashboard/events");
  feed.onopen = () => { $("feed-state").textContent = "Live."; };
  feed.onerror = async () => {
    $("feed-state").textContent = "Reconnecting…";
    if (feed && feed.readyState === EventSource.CLOSED) {
      const who = await api("GET", "/dashboard/session");
      if (who.ok) { setTimeout(connect, 1000); } else { showSignIn("Your session ended; sign in again."); }
    }
  };
  feed.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    const keep = new Set(data.conferences.map((c) => c.sid));
    for (const el of [...$("conferences").children]) {
      if (!keep.has(el.dataset.sid)) el.remove();
    }
    data.conferences.forEach(renderConference);
    updateEmpty();
  });
  feed.addEventListener("conference", (e) => {
    renderConference(JSON.parse(e.data));
    updateEmpty();
    scheduleCalls();
  });
  feed.addEventListener("ended", (e) => {
    const el = conferenceElement(JSON.parse(e.data).sid);
    if (el) el.remove();
    updateEmpty();
    scheduleCalls();
  });
  feed.addEventListener("level", (e) => {
    const data = JSON.parse(e.data);
    const el = conferenceElement(data.sid);
    if (el) setLevel(el, data.levelDbfs);
  });
}

function updateEmpty() {
  $("no-conferences").hidden = $("conferences").children.length > 0;
}

function conferenceElement(sid) {
  return [...$("conferences").children].find((el) => el.dataset.sid === sid) || null;
}

function make(tag, attrs, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderConference(c) {
  let el = conferenceElement(c.sid);
  if (!el) {
    el = make("section", { class: "conference", "data-testid": "conference", "data-sid": c.sid });
    const title = make("h3", { id: "title-" + c.sid });
    el.setAttribute("aria-labelledby", title.id);
    const meterId = "meter-" + c.sid;
    const meter = make("p", { class: "meter" });
    meter.append(make("label", { for: meterId }, "Level"),
      make("meter", { id: meterId, min: "-60", max: "0", low: "-40", high: "-6", optimum: "-20", "data-testid": "level" }),
      make("span", { class: "db" }));
    el.append(title, meter, make("ul", { class: "participants", "aria-label": "Participants" }));
    $("conferences").append(el);
  }
  el.dataset.name = c.name;
  const title = el.querySelector("h3");
  title.textContent = c.name + " ";
  title.append(make("span", { class: "status" }, "(" + c.status + ", " + c.sid + ")"));
  setLevel(el, c.levelDbfs);
  const list = el.querySelector("ul");
  const keep = new Set(c.participants.map((p) => p.callSid));
  for (const li of [...list.children]) {
    if (!keep.has(li.dataset.sid)) li.remove();
  }
  for (const p of c.participants) renderParticipant(list, c.sid, p);
}

function setLevel(el, dbfs) {
  el.querySelector("meter").value = Math.max(-60, dbfs);
  el.querySelector(".db").textContent = dbfs <= -90 ? "silent" : dbfs + " dBFS";
}

function renderParticipant(list, conference, p) {
  let li = [...list.children].find((x) => x.dataset.sid === p.callSid);
  if (!li) {
    li = make("li", { class: "participant", "data-testid": "participant", "data-sid": p.callSid });
    const name = make("span", { class: "name" });
    const talking = make("span", { class: "badge talking" }, "talking");
    const muted = make("span", { class: "badge muted" }, "muted");
    const held = make("span", { class: "badge held" }, "on hold");
    const mute = make("button", { type: "button", "data-testid": "mute-toggle" });
    const kick = make("button", { type: "button", class: "kick", "data-testid": "kick" }, "Kick");
    mute.addEventListener("click", () => act(li, conference, "mute", { muted: li.dataset.muted !== "true" }));
    kick.addEventListener("click", () => act(li, conference, "kick"));
    li.append(name, talking, muted, held, mute, kick);
    list.append(li);
  }
  const who = p.label ? p.label + " (" + p.callSid + ")" : p.callSid;
  li.querySelector(".name").textContent = who;
  li.dataset.muted = String(p.muted);
  li.dataset.talking = String(p.talking);
  li.querySelector(".badge.talking").hidden = !p.talking;
  li.querySelector(".badge.muted").hidden = !p.muted;
  li.querySelector(".badge.held").hidden = !p.hold;
  const mute = li.querySelector("[data-testid=mute-toggle]");
  mute.textContent = p.muted ? "Unmute" : "Mute";
  mute.setAttribute("aria-pressed", String(p.muted));
  mute.setAttribute("aria-label", (p.muted ? "Unmute " : "Mute ") + who);
  li.querySelector("[data-testid=kick]").setAttribute("aria-label", "Kick " + who);
}

async function act(li, conference, action, body) {
  $("action-error").textContent = "";
  const path = "/dashboard/conferences/" + encodeURIComponent(conference) +
    "/participants/" + encodeURIComponent(li.dataset.sid) + "/" + action;
  const result = await api("POST", path, body === undefined ? {} : body);
  if (result.status === 401) { showSignIn("Your session ended; sign in again."); return; }
  if (!result.ok) {
    $("action-error").textContent = (result.data && result.data.error) || "That did not work.";
  }
}

function scheduleCalls() {
  if (callsTimer) return;
  callsTimer = setTimeout(() => { callsTimer = null; loadCalls(); }, 500);
}

async function loadCalls() {
  const result = await api("GET", "/dashboard/calls");
  if (!result.ok) return;
  const rows = result.data.calls.map((c) => {
    const tr = make("tr", { "data-testid": "recent-call", "data-sid": c.sid });
    tr.append(make("td", { class: "sid" }, c.sid), make("td", {}, c.from), make("td", {}, c.to),
      make("td", {}, c.status), make("td", {}, c.started || ""),
      make("td", {}, c.duration === null ? "" : String(c.duration)));
    return tr;
  });
  $("calls").replaceChildren(...rows);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  const who = await api("GET", "/dashboard/session");
  if (who.ok) { showLive(who.data); } else { showSignIn(""); }
});
