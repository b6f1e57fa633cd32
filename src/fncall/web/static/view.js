// The conversation as DOM: messages, a reply that streams (text, reasoning, tool call cards), its figures.
// Model output is only ever set as textContent, never parsed as HTML.

import { runMock } from "./presets.js";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** "TTFT 0.42 s · 13.1 tok/s · prompt 312 (cached 280) · completion 48 · tool_calls" */
export function figures({ ttft, tokensPerSecond, total, usage, finishReason }) {
  const parts = [];
  if (ttft != null) parts.push(`time to first token ${seconds(ttft)}`);
  else if (total != null) parts.push(`total ${seconds(total)}`);
  if (tokensPerSecond != null) parts.push(`${tokensPerSecond.toFixed(1)} tok/s`);
  if (usage) {
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    parts.push(`prompt ${usage.prompt_tokens} (cached ${cached})`, `completion ${usage.completion_tokens}`);
  }
  if (finishReason) parts.push(`finish: ${finishReason}`);
  return parts.join(" · ");
}

export class CallCard {
  constructor(parent, index) {
    this.index = index;
    this.id = "";
    this.name = "";
    this.arguments = "";
    this.nameEl = el("span", { class: "fn" });
    this.idEl = el("code", { class: "id" });
    this.badge = el("span", { class: "badge", text: "streaming…" });
    this.argsEl = el("pre", { class: "args" });
    this.node = el(
      "article",
      { class: "call streaming", "data-index": index, "aria-label": `tool call ${index + 1}` },
      el("header", {}, this.nameEl, this.idEl, this.badge),
      this.argsEl,
    );
    parent.append(this.node);
  }

  update(delta) {
    if (delta.id) this.idEl.textContent = this.id = delta.id;
    if (delta.function?.name) this.nameEl.textContent = this.name += delta.function.name;
    if (delta.function?.arguments) {
      this.arguments += delta.function.arguments;
      this.argsEl.textContent = this.arguments;
    }
  }

  /** Ends streaming: valid JSON is pretty-printed; returns whether it was valid. */
  finish() {
    this.node.classList.remove("streaming");
    let valid = true;
    try {
      this.argsEl.textContent = JSON.stringify(JSON.parse(this.arguments || "{}"), null, 2);
    } catch {
      valid = false;
    }
    this.node.classList.add(valid ? "valid" : "invalid");
    this.badge.textContent = valid ? "valid JSON" : "not JSON";
    this.badge.classList.add(valid ? "ok" : "bad");
    return valid;
  }

  /** The call as the next request's assistant message carries it. */
  get call() {
    return { id: this.id, type: "function", function: { name: this.name, arguments: this.arguments } };
  }

  /** A box for the call's result, with "Run mock" when the tool has one. */
  askResult() {
    const label = `Result of ${this.name} (call ${this.index + 1})`;
    this.result = el("textarea", { class: "code", rows: 3, "aria-label": label, placeholder: "What the function returned (text or JSON)" });
    const mock = runMock(this.name, this.arguments) === null ? null : el("button", {
      type: "button",
      class: "mock",
      text: "Run mock",
      onclick: () => {
        this.result.value = runMock(this.name, this.arguments);
        this.result.dispatchEvent(new Event("input", { bubbles: true }));
      },
    });
    this.node.append(el("div", { class: "result" }, this.result, mock));
    return this.result;
  }

  freeze() {
    this.result?.setAttribute("readonly", "");
    this.node.querySelector("button.mock")?.remove();
  }
}

export class Reply {
  constructor(log) {
    this.text = el("div", { class: "text content" });
    this.thinking = el("div", { class: "text" });
    this.reasoning = el("details", { class: "reasoning", hidden: true }, el("summary", { text: "reasoning" }), this.thinking);
    this.calls = el("div", { class: "calls" });
    this.stats = el("p", { class: "stats" });
    this.actions = el("div", { class: "turn-actions" });
    this.node = el("li", { class: "msg assistant streaming" }, el("div", { class: "who", text: "assistant" }), this.reasoning, this.text, this.calls, this.stats);
    this.cards = [];
    this.content = "";
    log.append(this.node);
  }

  addText(delta) {
    this.content += delta;
    this.text.textContent = this.content;
  }

  addReasoning(delta) {
    this.reasoning.hidden = false;
    this.thinking.textContent += delta;
  }

  addCall(delta) {
    const index = delta.index ?? this.cards.length;
    this.cards[index] ??= new CallCard(this.calls, index);
    this.cards[index].update(delta);
  }

  finish(numbers) {
    this.node.classList.remove("streaming");
    for (const card of this.cards) card?.finish();
    this.stats.textContent = figures(numbers);
  }

  stopped() {
    this.node.classList.remove("streaming");
    for (const card of this.cards) card?.finish();
    this.stats.textContent = "stopped";
  }

  fail(error) {
    this.node.classList.remove("streaming");
    const where = error.param ? ` (${error.param})` : "";
    this.node.append(el("p", { class: "error-box", role: "alert", text: `${error.message}${where}` }));
  }

  /** The assistant message for the conversation (content null when only calls were made). */
  message() {
    const calls = this.cards.filter(Boolean).map((c) => c.call);
    const message = { role: "assistant", content: this.content || (calls.length ? null : "") };
    if (calls.length) message.tool_calls = calls;
    return message;
  }
}

export class Log {
  constructor(node) {
    this.node = node;
  }

  clear() {
    this.node.replaceChildren();
  }

  user(text) {
    this.node.append(el("li", { class: "msg user" }, el("div", { class: "who", text: "you" }), el("div", { class: "text", text })));
  }

  toolResult(card, content) {
    const who = el("div", { class: "who", text: `tool · ${card.name} · ${card.id}` });
    this.node.append(el("li", { class: "msg tool" }, who, el("pre", { text: content })));
  }

  reply() {
    const reply = new Reply(this.node);
    reply.node.scrollIntoView?.({ block: "end" });
    return reply;
  }

  error(error) {
    const where = error.param ? ` (${error.param})` : "";
    this.node.append(el("li", { class: "msg error", role: "alert", text: `${error.message}${where}` }));
  }
}
