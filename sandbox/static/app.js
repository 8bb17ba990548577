// The sandbox chat page: act as a Telegram user and chat with the bot through /sandbox/api.
"use strict";

const api = "/sandbox/api";
const state = { users: [], userId: null, seq: -1, replyTo: null, poll: null, box: null };
const $ = (id) => document.getElementById(id);

async function call(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(api + path, options);
  const data = await response.json();
  if (!response.ok) {
    throw new Error((data.error && data.error.message) || response.statusText);
  }
  return data;
}

function toast(text, ms = 2500) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

function failed(error) { toast("⚠ " + error.message, 4000); }

// --- users ---------------------------------------------------------------------------------

async function loadUsers() {
  state.users = (await call("GET", "/users")).users;
  const list = $("user-list");
  list.replaceChildren(...state.users.map((user) => {
    const li = document.createElement("li");
    li.dataset.userId = user.id;
    li.className = user.id === state.userId ? "active" : "";
    const name = document.createElement("div");
    name.textContent = user.first_name + (user.username ? " @" + user.username : "");
    const role = document.createElement("div");
    role.className = "role";
    role.textContent = `${user.role || "user"} · ${user.language_code || "?"} · ${user.id}`;
    li.append(name, role);
    if (user.note) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = user.note;
      li.append(note);
    }
    if (user.blocked) {
      const blocked = document.createElement("div");
      blocked.className = "blocked";
      blocked.textContent = "has blocked the bot";
      li.append(blocked);
    }
    li.addEventListener("click", () => selectUser(user.id));
    return li;
  }));
  fillPicker();
}

// The header's "act as" picker: every user, e.g. the demo's people bound to their roles.
function fillPicker() {
  const picker = $("act-as");
  const wanted = state.users.map((u) => `${u.id}:${u.first_name}:${u.note || u.role || ""}`).join("|");
  if (picker.dataset.users !== wanted) {
    picker.dataset.users = wanted;
    picker.replaceChildren(picker.options[0], ...state.users.map((user) => {
      const option = document.createElement("option");
      option.value = String(user.id);
      option.textContent = `${user.first_name} — ${user.note || user.role || "user"}`;
      return option;
    }));
  }
  picker.value = state.userId ? String(state.userId) : "";
}

async function createUser(event) {
  event.preventDefault();
  const role = $("new-role").value;
  const name = $("new-name").value.trim() || role;
  const user = await call("POST", "/users", {
    first_name: name, role, language_code: $("new-lang").value,
  });
  $("new-name").value = "";
  await loadUsers();
  selectUser(user.id);
}

function selectUser(userId) {
  state.userId = userId;
  state.seq = -1;
  state.replyTo = null;
  $("reply-to").hidden = true;
  const user = state.users.find((u) => u.id === userId);
  $("chat-title").textContent = user
    ? `Chat of ${user.first_name} (${user.note || user.role || "user"})` : "";
  $("act-as").value = String(userId);
  if (user && user.home && state.box) {  // the pin where this user works
    $("lat").value = user.home.latitude.toFixed(5);
    $("lon").value = user.home.longitude.toFixed(5);
    placePin();
  }
  $("chat-title").classList.remove("muted");
  for (const li of $("user-list").children) {
    li.className = Number(li.dataset.userId) === userId ? "active" : "";
  }
  $("messages").replaceChildren();
  $("reply-keyboard").replaceChildren();
  if (state.poll) state.poll.abort();
  pollChat();
}

// --- the conversation ----------------------------------------------------------------------

async function pollChat() {
  const userId = state.userId;
  const controller = new AbortController();
  state.poll = controller;
  while (state.userId === userId && !controller.signal.aborted) {
    try {
      const query = state.seq < 0 ? "" : `?since_seq=${state.seq}&timeout=20`;
      const response = await fetch(`${api}/chats/${userId}/messages${query}`,
                                    { signal: controller.signal });
      const chat = await response.json();
      if (!response.ok) throw new Error(chat.error ? chat.error.message : response.statusText);
      if (state.userId !== userId) return;
      if (chat.seq !== state.seq) {
        state.seq = chat.seq;
        render(chat);
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// Entity offsets are UTF-16 code units, which is what JavaScript string indices are.
function formatted(text, entities) {
  const frag = document.createDocumentFragment();
  if (!entities || !entities.length) {
    frag.append(text);
    return frag;
  }
  const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code",
                 pre: "pre", spoiler: "span", text_link: "a", blockquote: "blockquote" };
  let start = 0;
  const active = (i) => entities.filter((e) => tags[e.type] && e.offset <= i
                                              && i < e.offset + e.length);
  while (start < text.length) {
    const here = active(start);
    let end = start + 1;
    const key = here.map((e) => e.type).join();
    while (end < text.length && active(end).map((e) => e.type).join() === key) end++;
    let node = document.createTextNode(text.slice(start, end));
    for (const entity of here) {
      const el = document.createElement(tags[entity.type]);
      if (entity.type === "text_link") { el.href = entity.url; el.target = "_blank"; }
      el.append(node);
      node = el;
    }
    frag.append(node);
    start = end;
  }
  return frag;
}

function summary(message) {
  if (message.text) return message.text;
  if (message.photo) return "🖼 photo";
  if (message.document) return "📄 " + (message.document.file_name || "file");
  if (message.location) return "📍 location";
  if (message.voice) return "🎤 voice";
  return "message";
}

function renderMessage(message) {
  const div = document.createElement("div");
  div.className = "msg " + (message.sandbox.outgoing ? "bot" : "user");
  div.dataset.messageId = message.message_id;
  if (message.reply_to_message) {
    const quote = document.createElement("div");
    quote.className = "quote";
    quote.textContent = summary(message.reply_to_message);
    div.append(quote);
  }
  if (message.photo) {
    const img = document.createElement("img");
    img.src = message.sandbox.photo_url;
    img.alt = "photo";
    div.append(img);
  }
  if (message.document) {
    const link = document.createElement("a");
    link.href = message.sandbox.document_url;
    link.textContent = `📄 ${message.document.file_name || "file"} (${message.document.mime_type || "?"}, ${message.document.file_size} B)`;
    link.target = "_blank";
    div.append(link);
  }
  if (message.voice) {
    const voice = document.createElement("div");
    voice.append(`🎤 voice ${message.voice.duration}s `);
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = message.sandbox.voice_url;
    voice.append(audio);
    div.append(voice);
  }
  if (message.venue) {
    const venue = document.createElement("div");
    venue.textContent = `🏢 ${message.venue.title} — ${message.venue.address}`;
    div.append(venue);
  }
  if (message.location) {
    const where = document.createElement("div");
    where.textContent = `📍 ${message.location.latitude.toFixed(5)}, ${message.location.longitude.toFixed(5)}`
      + (message.location.live_period ? " (live)" : "");
    div.append(where);
  }
  if (message.contact) {
    const contact = document.createElement("div");
    contact.textContent = `👤 ${message.contact.first_name} ${message.contact.phone_number}`;
    div.append(contact);
  }
  const text = message.text ?? message.caption;
  if (text) {
    const body = document.createElement("div");
    body.className = "text";
    body.append(formatted(text, message.entities || message.caption_entities));
    div.append(body);
  }
  const keyboard = message.reply_markup && message.reply_markup.inline_keyboard;
  if (keyboard) {
    const box = document.createElement("div");
    box.className = "inline-keyboard";
    for (const row of keyboard) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const el = document.createElement("button");
        el.type = "button";
        el.className = "inline-button";
        el.textContent = button.text;
        if (button.callback_data !== undefined) {
          el.dataset.callbackData = button.callback_data;
          el.addEventListener("click", () => press(message.message_id, button.callback_data)
            .catch(failed));
        } else if (button.url) {
          el.addEventListener("click", () => window.open(button.url, "_blank"));
        }
        line.append(el);
      }
      box.append(line);
    }
    div.append(box);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const time = new Date(message.date * 1000);
  meta.append(`#${message.message_id} · ${time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })}`
    + (message.sandbox.edits ? " · edited" : ""));
  const reply = document.createElement("a");
  reply.textContent = "reply";
  reply.className = "reply-link";
  reply.addEventListener("click", () => {
    state.replyTo = message.message_id;
    $("reply-to-text").textContent = summary(message).slice(0, 60);
    $("reply-to").hidden = false;
    $("text-input").focus();
  });
  meta.append(reply);
  div.append(meta);
  return div;
}

function render(chat) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...chat.messages.map(renderMessage));
  if (atBottom || state.seq >= 0) box.scrollTop = box.scrollHeight;
  const keyboard = $("reply-keyboard");
  keyboard.replaceChildren();
  if (chat.reply_keyboard) {
    for (const row of chat.reply_keyboard.keyboard) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const el = document.createElement("button");
        el.type = "button";
        el.className = "reply-button";
        el.textContent = button.text;
        el.addEventListener("click", () => pressReplyButton(button).catch(failed));
        line.append(el);
      }
      keyboard.append(line);
    }
  }
}

// --- what the user does --------------------------------------------------------------------

function withReply(body) {
  if (state.replyTo !== null) body.reply_to_message_id = state.replyTo;
  state.replyTo = null;
  $("reply-to").hidden = true;
  return body;
}

async function sendText(text) {
  if (!state.userId) throw new Error("pick a user first");
  await call("POST", `/users/${state.userId}/text`, withReply({ text }));
}

async function sendLocation() {
  if (!state.userId) throw new Error("pick a user first");
  const latitude = Number($("lat").value);
  const longitude = Number($("lon").value);
  await call("POST", `/users/${state.userId}/location`, withReply({ latitude, longitude }));
}

async function pressReplyButton(button) {
  if (button.request_location) return sendLocation();
  if (button.request_contact) {
    const phone = prompt("Phone number to share", "+86 138 0000 0000");
    if (!phone) return undefined;
    return call("POST", `/users/${state.userId}/contact`,
                { phone_number: phone, user_id: state.userId });
  }
  return sendText(button.text);
}

async function press(messageId, data) {
  const pressed = await call("POST", `/users/${state.userId}/press`,
                             { message_id: messageId, data });
  const answer = await call("GET", `/callbacks/${pressed.callback_query_id}?timeout=10`);
  if (answer.answered && answer.answer.text) {
    if (answer.answer.show_alert) alert(answer.answer.text);
    else toast(answer.answer.text);
  } else if (!answer.answered) {
    toast("the bot did not answer the button (spinner would keep turning)");
  }
}

async function sendPhoto(event) {
  event.preventDefault();
  if (!state.userId) throw new Error("pick a user first");
  const file = $("photo-input").files[0];
  if (!file) throw new Error("choose a photo first");
  const form = new FormData();
  form.append("photo", file, file.name);
  if ($("as-file").checked) form.append("as_document", "true");
  if ($("caption").value) form.append("caption", $("caption").value);
  if (state.replyTo !== null) form.append("reply_to_message_id", String(state.replyTo));
  withReply({});
  await call("POST", `/users/${state.userId}/photo`, form);
  $("photo-input").value = "";
  $("caption").value = "";
}

// A drawn picture (a heap by a wall), so a visitor can report without a photo at hand.
function samplePhoto() {
  const canvas = document.createElement("canvas");
  canvas.width = 640;
  canvas.height = 480;
  const g = canvas.getContext("2d");
  g.fillStyle = "#9fb7c9"; g.fillRect(0, 0, 640, 260);
  g.fillStyle = "#b9a68a"; g.fillRect(0, 260, 640, 220);
  g.fillStyle = "#c9c1b3"; g.fillRect(60, 90, 520, 200);
  const seed = Date.now() % 997;
  for (let i = 0; i < 40; i++) {
    g.fillStyle = `hsl(${(seed + i * 37) % 360}, 35%, ${30 + (i * 7) % 40}%)`;
    const x = 140 + ((seed * (i + 3)) % 360), y = 250 + ((seed + i * 13) % 120);
    g.beginPath(); g.ellipse(x, y, 18 + (i % 5) * 6, 10 + (i % 3) * 5, i, 0, Math.PI * 2); g.fill();
  }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

async function sendSamplePhoto() {
  if (!state.userId) throw new Error("pick a user first");
  const form = new FormData();
  form.append("photo", await samplePhoto(), "sample.jpg");
  if ($("caption").value) form.append("caption", $("caption").value);
  if (state.replyTo !== null) form.append("reply_to_message_id", String(state.replyTo));
  withReply({});
  await call("POST", `/users/${state.userId}/photo`, form);
  $("caption").value = "";
}

function placePin() {
  const [west, south, east, north] = state.box;
  const x = (Number($("lon").value) - west) / (east - west);
  const y = (north - Number($("lat").value)) / (north - south);
  const pin = $("map-pin");
  pin.hidden = !(x >= 0 && x <= 1 && y >= 0 && y <= 1);
  pin.style.left = `${x * 100}%`;
  pin.style.top = `${y * 100}%`;
}

function pickOnMap(event) {
  const [west, south, east, north] = state.box;
  const rect = $("map").getBoundingClientRect();
  const x = (event.clientX - rect.left) / rect.width;
  const y = (event.clientY - rect.top) / rect.height;
  $("lon").value = (west + x * (east - west)).toFixed(5);
  $("lat").value = (north - y * (north - south)).toFixed(5);
  placePin();
}

async function start() {
  const info = await call("GET", "/info");
  $("bot-name").textContent = `${info.bot.first_name} @${info.bot.username}`;
  $("rate-limits").checked = info.rate_limits;
  state.box = info.map_box;
  $("lon").value = ((state.box[0] + state.box[2]) / 2).toFixed(5);
  $("lat").value = ((state.box[1] + state.box[3]) / 2).toFixed(5);
  placePin();
  $("rate-limits").addEventListener("change", (e) =>
    call("POST", "/settings", { rate_limits: e.target.checked }).catch(failed));
  $("new-user").addEventListener("submit", (e) => createUser(e).catch(failed));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text-input").value;
    if (!text.trim()) return;
    sendText(text).then(() => { $("text-input").value = ""; }).catch(failed);
  });
  $("photo-form").addEventListener("submit", (e) => sendPhoto(e).catch(failed));
  $("sample-photo").addEventListener("click", () => sendSamplePhoto().catch(failed));
  $("act-as").addEventListener("change", (e) => {
    if (e.target.value) selectUser(Number(e.target.value));
  });
  $("location-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sendLocation().catch(failed);
  });
  $("reply-cancel").addEventListener("click", () => withReply({}));
  $("map").addEventListener("click", pickOnMap);
  $("lat").addEventListener("input", placePin);
  $("lon").addEventListener("input", placePin);
  await loadUsers();
  setInterval(() => loadUsers().catch(() => {}), 3000);
  const wanted = Number(new URLSearchParams(location.search).get("user"));
  if (wanted && state.users.some((u) => u.id === wanted)) selectUser(wanted);
}

start().catch(failed);
