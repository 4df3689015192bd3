// The chat page: plain JavaScript over the demo's JSON API (same in all three apps).
//
// Which session? By default the one in the app's signed, HttpOnly cookie, which
// this script never sees. Opening another session from the list sends its id in
// the X-Session-ID header instead (kept in sessionStorage, so a reload of this
// tab stays on it). Session ids never go into a URL.
"use strict";

const $ = (selector) => document.querySelector(selector);
const SELECTED = "agentsession-demo.selected";

let user = null;
let selected = sessionStorage.getItem(SELECTED);
let busy = false; // one action at a time; buttons are disabled meanwhile
let switchable = false; // whether "Switch" has a branch to go to (see renderBranches)

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code; // the "error" field: session_not_found, checkpoint_not_found, ...
  }
}

function select(id) {
  selected = id;
  if (id) sessionStorage.setItem(SELECTED, id);
  else sessionStorage.removeItem(SELECTED);
}

function csrfToken() {
  // Django's CSRF protection wants its token echoed in a header; the others ignore it.
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (selected) headers["X-Session-ID"] = selected;
  const token = csrfToken();
  if (token && method !== "GET") headers["X-CSRFToken"] = token;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (selected && data.error === "session_not_found" && method !== "DELETE") {
    // The session we named is gone (deleted elsewhere, or another user's): fall back
    // to the cookie's session. Any other error (a checkpoint_not_found 404 too)
    // leaves the selection alone, and a DELETE never moves on to another session.
    select(null);
    return api(method, path, body);
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.error, data.message || data.error || response.statusText);
  }
  return data;
}

// -- rendering ----------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function time(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function status(text, isError = false) {
  const line = $("#status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

function renderMessages(messages) {
  const list = $("#messages");
  list.replaceChildren(
    ...messages.map((m) =>
      el(
        "li",
        { className: `msg ${m.role === "user" ? "user" : "assistant"}`, title: m.role },
        el("div", { className: "bubble", textContent: m.content }),
        el("span", { className: "time", textContent: time(m.created_at) }),
      ),
    ),
  );
  $("#empty").hidden = messages.length > 0;
  list.scrollTop = list.scrollHeight;
}

function emptyRow(text) {
  return el("li", { className: "empty-row", textContent: text });
}

function renderSessions(sessions) {
  const rows = sessions.map((s) => {
    const open = el(
      "button",
      { type: "button", className: "open", title: "Open this session" },
      el("span", { className: "label", textContent: s.title }),
      el("span", { className: "meta", textContent: `${s.message_count} messages · ${time(s.updated_at)}` }),
    );
    open.addEventListener("click", () => run(async () => {
      select(s.id);
      await refresh();
      showPanel(false);
    }));
    const remove = el("button", {
      type: "button", className: "icon delete", textContent: "×", title: "Delete this session",
    });
    remove.setAttribute("aria-label", `Delete ${s.title}`);
    remove.addEventListener("click", () => run(() => deleteSession(s)));
    return el("li", { className: s.current ? "current" : "" }, el("div", { className: "grow" }, open), remove);
  });
  $("#sessions").replaceChildren(...(rows.length ? rows : [emptyRow("No sessions yet: say something.")]));
  const current = sessions.find((s) => s.current);
  $("#title").textContent = current ? current.title : "New conversation";
}

function renderCheckpoints(checkpoints) {
  const rows = checkpoints.map((c) => {
    const restore = el("button", { type: "button", className: "small restore", textContent: "Restore" });
    restore.addEventListener("click", () => run(async () => {
      await api("POST", "/api/checkpoints/restore", { checkpoint_id: c.id });
      await refresh();
      showPanel(false);
      status(`Restored "${c.name}": later messages are on another branch now.`);
    }));
    return el(
      "li", {},
      el(
        "div", { className: "grow" },
        el("span", { className: "label", textContent: c.name }),
        el("span", { className: "meta", textContent: `taken at ${time(c.created_at)}` }),
      ),
      restore,
    );
  });
  $("#checkpoints").replaceChildren(...(rows.length ? rows : [emptyRow("None yet.")]));
}

function renderBranches(branches) {
  const picker = $("#branch-select");
  const options = branches.map((b, i) =>
    el("option", {
      value: b.leaf_id,
      selected: b.is_current,
      textContent: `${b.is_current ? "✓ " : ""}#${i + 1} · ${b.message_count} messages`,
    }),
  );
  if (branches.length && !branches.some((b) => b.is_current)) {
    // After a restore the head sits inside a branch until the next message.
    options.unshift(el("option", { value: "", selected: true, disabled: true, textContent: "At a restored checkpoint" }));
  }
  picker.replaceChildren(...(options.length ? options : [el("option", { value: "", textContent: "No branches yet" })]));
  // Another branch to go to, or (after a restore) back to the tip of this one.
  switchable = branches.length > 1 || branches.some((b) => !b.is_current);
  $("#switch-branch").disabled = !switchable || busy;
}

// -- actions ------------------------------------------------------------------

async function refresh() {
  const [messages, sessions, checkpoints, branches] = await Promise.all([
    api("GET", "/api/messages"),
    api("GET", "/api/sessions"),
    api("GET", "/api/checkpoints"),
    api("GET", "/api/branches"),
  ]);
  renderMessages(messages.messages);
  renderSessions(sessions.sessions);
  renderCheckpoints(checkpoints.checkpoints);
  renderBranches(branches.branches);
}

async function loadUser() {
  const me = await api("GET", "/api/me");
  user = me.user;
  const who = $("#who");
  who.replaceChildren(
    ...(user ? ["Logged in as ", el("strong", { textContent: user })] : ["Not logged in (anonymous)"]),
  );
  $("#logout").hidden = !user;
  $("#login-form").hidden = Boolean(user);
  $("#agent-label").textContent = me.agent;
}

async function deleteSession(session) {
  if (!confirm(`Delete "${session.title}" and its whole history?`)) return;
  const previous = selected;
  select(session.id);
  try {
    await api("DELETE", "/api/session");
  } catch (error) {
    if (error.code !== "session_not_found") throw error; // already gone: fine
  } finally {
    select(previous === session.id ? null : previous);
  }
  await refresh();
  status("Session deleted.");
}

async function send(event) {
  event.preventDefault();
  const input = $("#message-input");
  const content = input.value.trim();
  if (!content || busy) return; // busy: keep the text, the user sends again
  input.value = "";
  await run(async () => {
    status("The agent is thinking…");
    await api("POST", "/api/messages", { content });
    await refresh();
    status("");
  }, () => { input.value = content; });
}

async function run(action, onError) {
  if (busy) return;
  busy = true;
  document.body.classList.add("busy");
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  try {
    await action();
  } catch (error) {
    if (onError) onError();
    status(error instanceof ApiError ? `Error ${error.status}: ${error.message}` : String(error), true);
  } finally {
    busy = false;
    document.body.classList.remove("busy");
    for (const b of document.querySelectorAll("button")) b.disabled = false;
    $("#switch-branch").disabled = !switchable;
  }
}

function showPanel(open) {
  // Phones only: the panel is a drawer there (always shown on wider screens).
  $("#panel").classList.toggle("open", open);
  $("#toggle-panel").setAttribute("aria-expanded", String(open));
}

function wire() {
  $("#composer").addEventListener("submit", send);
  $("#message-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("#composer").requestSubmit();
    }
  });
  $("#checkpoint").addEventListener("click", () => run(async () => {
    const { checkpoint } = await api("POST", "/api/checkpoints", {});
    await refresh();
    status(`Checkpoint "${checkpoint.name}" saved.`);
  }));
  $("#switch-branch").addEventListener("click", () => run(async () => {
    const entry = $("#branch-select").value;
    if (!entry) return;
    await api("POST", "/api/branches/switch", { entry_id: entry });
    await refresh();
    showPanel(false);
    status("Switched branch.");
  }));
  $("#new-session").addEventListener("click", () => run(async () => {
    const { session } = await api("POST", "/api/sessions", {});
    select(session.id);
    await refresh();
    showPanel(false);
    status("New session started.");
  }));
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(async () => {
      await api("POST", "/api/login", { user: $("#login-name").value.trim() });
      select(null);
      await loadUser();
      await refresh();
      status("");
    });
  });
  $("#logout").addEventListener("click", () => run(async () => {
    await api("POST", "/api/logout", {});
    select(null);
    await loadUser();
    await refresh();
  }));
  $("#toggle-panel").addEventListener("click", () => showPanel(!$("#panel").classList.contains("open")));
  $("#close-panel").addEventListener("click", () => showPanel(false));
}

wire();
run(async () => {
  await loadUser();
  await refresh();
});
