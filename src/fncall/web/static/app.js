// The playground: wires the panels, sends the conversation, streams replies into the log, asks for call
// results and continues. One request at a time; Stop aborts it, which cancels it on the server.

import { ApiError, events, getJSON, key, startChat } from "./api.js";
import { LANGUAGES } from "./codegen.js";
import { ToolsPanel } from "./tools.js";
import { Log } from "./view.js";

const $ = (id) => document.getElementById(id);

const state = {
  info: null, // GET /ui/api/info
  messages: [], // the conversation so far, as OpenAI messages
  pending: null, // {reply, cards}: calls of the last reply that wait for results
  controller: null, // AbortController of the running request
  lastRequest: null,
};

const log = new Log($("log"));
const prompt = $("prompt");
const tools = new ToolsPanel(
  () => ({ model: state.info?.model, messages: [...state.messages, { role: "user", content: prompt.value || "Hi" }] }),
  (preset) => {
    if (!prompt.value.trim()) prompt.value = preset.question;
  },
);

function status(text) {
  $("status").textContent = text;
}

function busy(running) {
  $("send").disabled = running;
  $("stop").disabled = !running;
}

// --- settings

function number(id, parse) {
  const raw = $(id).value.trim();
  if (!raw) return undefined;
  const value = parse(raw);
  return Number.isFinite(value) ? value : raw; // a bad value goes to the server, which names it
}

function sampling() {
  const fields = {
    temperature: number("temperature", Number),
    top_p: number("top_p", Number),
    max_tokens: number("max_tokens", Number),
    seed: number("seed", Number),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

function showDefaults(info) {
  const d = info.defaults;
  const shown = (v, off) => (v === null || v === off ? "off" : String(v));
  $("temperature").placeholder = `${d.temperature} (default)`;
  $("top_p").placeholder = `${d.top_p} (default)`;
  $("max_tokens").placeholder = d.max_tokens ?? `until the context (${info.ctx}) is full`;
  $("defaults").textContent =
    `Model defaults: temperature ${d.temperature} · top_p ${d.top_p} · top_k ${shown(d.top_k, 0)} · ` +
    `min_p ${shown(d.min_p, 0)} · max tokens ${d.max_tokens ?? "until the context is full"}. ` +
    "Empty fields use them.";
  $("model").textContent = `${info.model} · context ${info.ctx} · ${info.slots} slots · tool format ${info.tool_format}`;
}

// --- the API key

function askForKey(message) {
  const dialog = $("key-dialog");
  $("key-error").hidden = !message;
  $("key-error").textContent = message ?? "";
  if (!dialog.open) dialog.showModal();
  $("key").focus();
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  key.set($("key").value.trim());
  if (await connect()) {
    $("key-dialog").close();
    $("key").value = "";
    prompt.focus();
  }
});

/** Loads the model's facts; asks for a key when the server wants one. True once connected. */
async function connect() {
  try {
    state.info = await getJSON("ui/api/info");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      askForKey(key.get() ? "That key was refused." : null);
      key.set("");
      return false;
    }
    $("model").textContent = `cannot reach the server: ${err.message}`;
    return false;
  }
  showDefaults(state.info);
  tools.schedule(0);
  return true;
}

// --- one request

function requestBody(fields) {
  const body = { model: state.info.model, messages: [...state.messages], ...fields, ...sampling() };
  if ($("stream").checked) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return body;
}

/** The request the composer would send now (for "copy as" before anything was sent). */
function draft(fields) {
  const body = requestBody(fields);
  return { ...body, messages: [...state.messages, { role: "user", content: prompt.value.trim() || "Hi" }] };
}

function showRaw(id, text, meta) {
  $(id).textContent = text;
  $(`${id}-meta`).textContent = meta ?? "";
}

async function streamed(response, reply, started) {
  const raw = [];
  let first = null;
  let last = null;
  let finishReason = null;
  let usage = null;
  try {
    for await (const { raw: text, data } of events(response)) {
      raw.push(text);
      if (data === "[DONE]") break;
      if (data.error) throw new ApiError(200, data.error);
      if (data.usage) usage = data.usage;
      const choice = data.choices?.[0];
      if (!choice) continue;
      const delta = choice.delta ?? {};
      const produced = delta.content || delta.reasoning_content || delta.tool_calls?.length;
      if (produced) last = performance.now();
      if (produced && first === null) first = last;
      if (delta.content) reply.addText(delta.content);
      if (delta.reasoning_content) reply.addReasoning(delta.reasoning_content);
      for (const call of delta.tool_calls ?? []) reply.addCall(call);
      finishReason = choice.finish_reason ?? finishReason;
    }
  } finally {
    showRaw("raw-response", raw.join("\n\n"), `(${raw.length} server-sent events)`);
  }
  const n = usage?.completion_tokens ?? 0;
  const tokensPerSecond = n > 1 && last > first ? ((n - 1) * 1000) / (last - first) : null;
  return { ttft: first === null ? null : first - started, tokensPerSecond, usage, finishReason };
}

async function whole(response, reply, started) {
  const body = await response.json();
  showRaw("raw-response", JSON.stringify(body, null, 2), "(JSON)");
  const { message, finish_reason: finishReason } = body.choices[0];
  if (message.reasoning_content) reply.addReasoning(message.reasoning_content);
  if (message.content) reply.addText(message.content);
  (message.tool_calls ?? []).forEach((call, index) => reply.addCall({ index, ...call }));
  return { total: performance.now() - started, usage: body.usage, finishReason };
}

/** The tools panel's request fields once the server accepts them; null (and nothing sent) otherwise. */
async function validTools() {
  const fields = await tools.validated().catch(onAuthError);
  if (!fields) {
    status("Fix the tools first: nothing was sent.");
    $("tools").focus();
  }
  return fields;
}

/** Sends the conversation as it stands; the reply joins it. */
async function run(fields) {
  const body = requestBody(fields);
  state.lastRequest = body;
  showRaw("raw-request", JSON.stringify(body, null, 2), `POST /v1/chat/completions`);
  showRaw("raw-response", "");
  const reply = log.reply();
  state.controller = new AbortController();
  busy(true);
  status("Generating…");
  const started = performance.now();
  try {
    const response = await startChat(body, state.controller.signal);
    const numbers = await (body.stream ? streamed(response, reply, started) : whole(response, reply, started));
    reply.finish(numbers);
    state.messages.push(reply.message());
    askForResults(reply);
    status("");
  } catch (err) {
    if (err.name === "AbortError") {
      reply.stopped();
      if (reply.content) state.messages.push({ role: "assistant", content: reply.content });
      status("Stopped: the request was cancelled.");
    } else {
      reply.fail(err);
      status("");
      if (err.status === 401) onAuthError(err);
    }
  } finally {
    state.controller = null;
    busy(false);
  }
}

function onAuthError(err) {
  if (err instanceof ApiError && err.status === 401) askForKey("The server wants a (new) API key.");
  else throw err;
  return null;
}

// --- tool results and continue

function askForResults(reply) {
  const cards = reply.cards.filter(Boolean);
  if (!cards.length) return;
  const boxes = cards.map((card) => card.askResult());
  const cont = document.createElement("button");
  cont.type = "button";
  cont.className = "primary continue";
  cont.textContent = "Continue";
  cont.addEventListener("click", () => continueWithResults());
  reply.actions.append(cont);
  const choice = $("tool-choice").value;
  if (choice !== "auto" && choice !== "none") {
    const note = `tool_choice is ${choice.replace("fn:", "function ")}, so the model must call again; choose auto or none for an answer.`;
    reply.actions.append(Object.assign(document.createElement("span"), { className: "note", textContent: note }));
  }
  reply.node.append(reply.actions);
  state.pending = { reply, cards };
  boxes[0].focus();
}

async function continueWithResults() {
  const { reply, cards } = state.pending;
  const missing = cards.find((card) => !card.result.value.trim());
  if (missing) {
    status(`Give every call a result first (${missing.name}).`);
    missing.result.focus();
    return;
  }
  const fields = await validTools();
  if (!fields) return;
  for (const card of cards) {
    const content = card.result.value;
    state.messages.push({ role: "tool", tool_call_id: card.id, content });
    card.freeze();
    log.toolResult(card, content);
  }
  reply.actions.remove();
  state.pending = null;
  await run(fields);
}

// --- the composer

async function send() {
  if (state.controller) return;
  if (state.pending) {
    status("Answer the tool calls above and press Continue, or start a new chat.");
    return;
  }
  const text = prompt.value.trim();
  if (!text) {
    prompt.focus();
    return;
  }
  if (!state.info && !(await connect())) return;
  const fields = await validTools();
  if (!fields) return;
  $("hint")?.remove();
  state.messages.push({ role: "user", content: text });
  log.user(text);
  prompt.value = "";
  await run(fields);
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
$("stop").addEventListener("click", () => state.controller?.abort());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.controller) state.controller.abort();
});
$("reset").addEventListener("click", () => {
  state.controller?.abort();
  state.messages = [];
  state.pending = null;
  log.clear();
  status("New chat.");
  prompt.focus();
});

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const language = button.dataset.copy;
    const body = state.lastRequest ?? draft((await tools.validated().catch(onAuthError)) ?? {});
    const code = LANGUAGES[language](body, {
      baseURL: new URL("v1", document.baseURI).href,
      keyed: Boolean(state.info?.auth),
    });
    $("code").textContent = code;
    try {
      await navigator.clipboard.writeText(code);
      status(`Copied as ${button.textContent}.`);
    } catch {
      status("Select the code below to copy it (the clipboard is not available here).");
    }
  });
}

connect();
