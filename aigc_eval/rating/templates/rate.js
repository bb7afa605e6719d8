"use strict";
// The rating page: one vote per key press (auto-repeat and presses during a request are ignored).
const KEYS = {"1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right",
              "b": "both_bad", "B": "both_bad", "c": "cant_tell", "C": "cant_tell"};
const UNDO_KEYS = new Set(["u", "U", "Backspace"]);
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("rating-token");
let pair = null;
let busy = false;

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-Rating-Token": token || ""},
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (response.status === 403) {
    sessionStorage.removeItem("rating-token");
    token = null;
    showStart();
  }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showStart() {
  $("start").hidden = false;
  $("rating").hidden = true;
  document.body.dataset.state = "start";
}

function show(data) {
  pair = data;
  $("start").hidden = true;
  $("rating").hidden = false;
  $("rater").textContent = data.rater;
  $("question").textContent = data.question;
  $("count").textContent = String(data.votes);
  for (const side of ["left", "right"]) {
    const sample = data[side];
    const box = $(side).querySelector(".content");
    box.replaceChildren();
    if (sample.src) {
      const img = document.createElement("img");
      img.src = sample.src;
      img.alt = side === "left" ? "sample A" : "sample B";
      box.append(img);
    } else {
      const p = document.createElement("p");
      p.textContent = sample.text;
      box.append(p);
    }
    $(side).dataset.sampleId = sample.id;
  }
  document.body.dataset.votes = String(data.votes);
  document.body.dataset.state = "ready";
}

async function act(work) {
  if (busy) return;
  busy = true;
  document.body.dataset.state = "busy";
  $("message").textContent = "";
  try {
    await work();
  } catch (error) {
    $("message").textContent = error.message;
    if (token) document.body.dataset.state = "ready";
  } finally {
    busy = false;
  }
}

function vote(answer) {
  if (!pair) return;
  act(async () => {
    await api("/api/vote", {left: pair.left.id, right: pair.right.id, answer});
    show(await api("/api/next"));
  });
}

function undo() {
  act(async () => show(await api("/api/undo")));
}

$("start").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    const started = await api("/api/session", {rater: $("rater-name").value});
    token = started.token;
    sessionStorage.setItem("rating-token", token);
    show(await api("/api/next"));
  });
});

document.addEventListener("keydown", (event) => {
  if (event.repeat || event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (!token || !pair) return;
  if (KEYS[event.key]) {
    event.preventDefault();
    vote(KEYS[event.key]);
  } else if (UNDO_KEYS.has(event.key)) {
    event.preventDefault();
    undo();
  }
});

for (const button of document.querySelectorAll("button[data-answer]")) {
  button.addEventListener("click", () => vote(button.dataset.answer));
}
$("undo").addEventListener("click", undo);

if (token) act(async () => show(await api("/api/next")));
else showStart();
