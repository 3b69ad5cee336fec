// Sync Hub web console: a single-page app served from the web bucket through the CDN.
// Sign-in is Cognito's OAuth 2.0 authorization-code flow with PKCE (hosted UI, email or Google);
// the ID token (it carries the tenant) is sent to the API as a bearer token.
"use strict";

const $ = (sel) => document.querySelector(sel);
let config = null;
let selectedGroup = null;

function setStatus(text, isError) {
  const el = $("#status");
  el.textContent = text || "";
  el.className = isError ? "error" : "";
}

function b64url(bytes) {
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes);
  return b64url(bytes);
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

function claims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const json = decodeURIComponent(atob(part).split("").map(
    (c) => "%" + ("00" + c.charCodeAt(0).toString(16)).slice(-2)).join(""));
  return JSON.parse(json);
}

function token() {
  const value = sessionStorage.getItem("id_token");
  if (!value) return null;
  try {
    if (claims(value).exp * 1000 < Date.now()) { sessionStorage.removeItem("id_token"); return null; }
  } catch (e) { return null; }
  return value;
}

async function signIn(provider) {
  const state = randomString(16);
  const verifier = randomString(48);
  sessionStorage.setItem("oauth_state", state);
  sessionStorage.setItem("oauth_verifier", verifier);
  sessionStorage.setItem("after_signin", location.pathname + location.search);
  const query = new URLSearchParams({
    response_type: "code", client_id: config.clientId, redirect_uri: config.redirectUri,
    scope: config.scopes, state: state, code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  if (provider) query.set("identity_provider", provider);
  location.assign(config.hostedUiUrl + "/oauth2/authorize?" + query.toString());
}

async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  if (params.get("error")) throw new Error("sign-in failed: " + params.get("error"));
  if (!params.get("code") || params.get("state") !== sessionStorage.getItem("oauth_state")) {
    throw new Error("sign-in failed: the answer does not match the request (state)");
  }
  const form = new URLSearchParams({
    grant_type: "authorization_code", client_id: config.clientId, code: params.get("code"),
    redirect_uri: config.redirectUri, code_verifier: sessionStorage.getItem("oauth_verifier"),
  });
  const answer = await fetch(config.hostedUiUrl + "/oauth2/token", {
    method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: form,
  });
  const tokens = await answer.json();
  if (!answer.ok || !tokens.id_token) throw new Error("token exchange failed: " + JSON.stringify(tokens));
  sessionStorage.setItem("id_token", tokens.id_token);
  sessionStorage.removeItem("oauth_state");
  sessionStorage.removeItem("oauth_verifier");
  const next = sessionStorage.getItem("after_signin") || "/";
  sessionStorage.removeItem("after_signin");
  history.replaceState(null, "", next === "/callback" ? "/" : next);
}

async function api(method, path, body) {
  const headers = {"Authorization": "Bearer " + token()};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(config.apiUrl + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = answer.status === 204 ? {} : await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${data.message || ""}`);
  return data;
}

function li(children, id) {
  const item = document.createElement("li");
  if (id) item.dataset.id = id;
  children.forEach((c) => item.appendChild(c));
  return item;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

async function loadBookmarks() {
  const list = $("#bookmarks");
  const data = await api("GET", "/bookmarks");
  list.replaceChildren(...data.items.map((b) => {
    const link = el("a", b.title || b.url, "title");
    link.href = b.url;
    const remove = el("button", "Remove", "delete");
    remove.addEventListener("click", () => run(async () => {
      await api("DELETE", "/bookmarks/" + b.bookmark_id);
      await loadBookmarks();
      setStatus("bookmark removed");
    }));
    return li([link, el("span", (b.tags || []).join(", "), "tags"), remove], b.bookmark_id);
  }));
  list.dataset.count = String(data.items.length);
}

async function loadGroups() {
  const data = await api("GET", "/groups");
  const list = $("#groups");
  list.replaceChildren(...data.items.map((g) => {
    const open = el("a", `${g.name} (${g.role})`, "title");
    open.href = "#";
    open.addEventListener("click", (e) => { e.preventDefault(); run(() => openGroup(g)); });
    const item = li([open], g.group_id);
    if (selectedGroup && selectedGroup.group_id === g.group_id) item.className = "selected";
    return item;
  }));
  list.dataset.count = String(data.items.length);
}

async function openGroup(group) {
  selectedGroup = group;
  $("#group-detail").hidden = false;
  $("#group-title").textContent = group.name;
  $("#group-role").textContent = "your role: " + group.role;
  $("#setting-form").hidden = group.role === "member";
  const data = await api("GET", `/groups/${group.group_id}/settings`);
  const list = $("#group-settings");
  list.replaceChildren(...data.items.map((s) => {
    const parts = [el("span", s.key, "title"), el("code", JSON.stringify(s.value)),
                   el("span", "v" + s.version, "tags")];
    if (group.role !== "member") {
      const remove = el("button", "Remove", "delete");
      remove.addEventListener("click", () => run(async () => {
        await api("DELETE", `/groups/${group.group_id}/settings/${encodeURIComponent(s.key)}`);
        await openGroup(group);
        setStatus("setting removed");
      }));
      parts.push(remove);
    }
    return li(parts, s.key);
  }));
  list.dataset.count = String(data.items.length);
  list.dataset.group = group.group_id;
  await loadGroups();
}

function parseValue(text) {
  try { return JSON.parse(text); } catch (e) { return text; }
}

async function run(action) {
  try {
    await action();
  } catch (error) {
    setStatus(error.message, true);
  }
}

function wire() {
  $("#signin").addEventListener("click", () => run(() => signIn(null)));
  $("#signin-google").addEventListener("click", () => run(() => signIn("Google")));
  $("#signout").addEventListener("click", () => { sessionStorage.clear(); location.assign("/"); });
  $("#bookmark-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(async () => {
      const tags = $("#bookmark-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
      await api("POST", "/bookmarks", {url: $("#bookmark-url").value, title: $("#bookmark-title").value, tags});
      e.target.reset();
      await loadBookmarks();
      setStatus("bookmark added");
    });
  });
  $("#group-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(async () => {
      const made = await api("POST", "/groups", {name: $("#group-name").value});
      e.target.reset();
      await openGroup(made.group);
      setStatus("group created");
    });
  });
  $("#setting-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(async () => {
      const key = $("#setting-key").value;
      await api("PUT", `/groups/${selectedGroup.group_id}/settings/${encodeURIComponent(key)}`,
                {value: parseValue($("#setting-value").value)});
      e.target.reset();
      await openGroup(selectedGroup);
      setStatus("setting saved");
    });
  });
  const decide = (approve) => run(async () => {
    const answer = await api("POST", "/auth/device/approve", {user_code: $("#device-code").value, approve});
    setStatus(approve ? "device connected: " + answer.session.device_name : "device refused");
    $("#device").dataset.result = answer.status;
  });
  $("#device-form").addEventListener("submit", (e) => { e.preventDefault(); decide(true); });
  $("#device-deny").addEventListener("click", () => decide(false));
}

async function main() {
  config = await (await fetch("/config.json", {cache: "no-store"})).json();
  wire();
  if (location.pathname === "/callback") await finishSignIn();
  const current = token();
  if (!current) {
    $("#signed-out").hidden = false;
    document.body.dataset.state = "signed-out";
    return;
  }
  const who = claims(current);
  $("#user").textContent = `${who.email || who["cognito:username"]} · ${who["custom:tenant_id"] || "no tenant"}`;
  $("#signout").hidden = false;
  if (location.pathname === "/device") {
    $("#device").hidden = false;
    $("#device-code").value = new URLSearchParams(location.search).get("user_code") || "";
    document.body.dataset.state = "device";
    return;
  }
  $("#bookmarks-panel").hidden = false;
  $("#groups-panel").hidden = false;
  await loadBookmarks();
  await loadGroups();
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  setStatus(error.message, true);
  document.body.dataset.state = "error";
});
