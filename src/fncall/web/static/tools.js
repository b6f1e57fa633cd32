// The tools panel: a JSON editor checked as you type, presets, tool_choice and parallel_tool_calls.
//
// JSON syntax is checked here; everything else by the server's own rules, through its dry run
// (POST /ui/api/check), which answers exactly as /v1/chat/completions would refuse the request.

import { ApiError, postJSON } from "./api.js";
import { PRESETS } from "./presets.js";

const DELAY_MS = 250;

/** Line and column (1-based) of a character offset in a text. */
function lineColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** The tools in the editor: {tools} (null when empty) or {error} with a message for the person. */
export function parseTools(text) {
  if (!text.trim()) return { tools: null };
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec(err.message);
    const where = at ? lineColumn(text, Number(at[1])) : null;
    const place = where ? ` (line ${where.line}, column ${where.column})` : "";
    return { error: `Not valid JSON${place}: ${err.message}` };
  }
  if (!Array.isArray(value)) return { error: "Tools must be a JSON array of tool objects: [{\"type\": \"function\", …}]." };
  return { tools: value.length ? value : null };
}

export class ToolsPanel {
  /** `context()` gives the model id and an example conversation for the dry run. */
  constructor(context, onChange) {
    this.context = context;
    this.onChange = onChange;
    this.editor = document.getElementById("tools");
    this.note = document.getElementById("tools-note");
    this.choice = document.getElementById("tool-choice");
    this.parallel = document.getElementById("parallel");
    this.preset = document.getElementById("preset");
    this.timer = null;
    this.checked = null; // {key, promise} of the latest check
    for (const [value, preset] of Object.entries(PRESETS)) this.preset.append(new Option(preset.label, value));
    this.editor.addEventListener("input", () => this.schedule());
    this.choice.addEventListener("change", () => this.schedule(0));
    this.parallel.addEventListener("change", () => this.schedule(0));
    this.preset.addEventListener("change", () => this.load(this.preset.value));
    this.schedule(0);
  }

  /** Puts a preset in the editor; returns its question. */
  load(name) {
    const preset = PRESETS[name];
    if (!preset) return "";
    this.editor.value = JSON.stringify(preset.tools, null, 2);
    this.schedule(0);
    this.onChange?.(preset);
    return preset.question;
  }

  /** The fields this panel adds to a request (empty when there are no tools). */
  fields(tools) {
    if (!tools) return {};
    const choice = this.choice.value;
    const named = choice.startsWith("fn:") ? { type: "function", function: { name: choice.slice(3) } } : null;
    return { tools, tool_choice: named ?? choice, parallel_tool_calls: this.parallel.checked };
  }

  schedule(delay = DELAY_MS) {
    clearTimeout(this.timer);
    // A refused key is handled when the person sends; here the check just waits for the next edit.
    this.timer = setTimeout(() => this.validated().catch(() => {}), delay);
  }

  /**
   * Resolves to the panel's request fields when the server accepts them, or null after showing why not.
   * A check already made for the same text and settings is reused.
   */
  async validated() {
    clearTimeout(this.timer);
    const parsed = parseTools(this.editor.value);
    if (parsed.error) {
      this.show(parsed.error, "bad");
      this.checked = null;
      return null;
    }
    this.updateChoices(parsed.tools);
    const fields = this.fields(parsed.tools);
    if (!parsed.tools) {
      this.show("No tools: the model answers in text.", "");
      return fields;
    }
    const model = this.context().model;
    if (!model) {
      this.show("Waiting for the server…", "");
      return null;
    }
    const key = JSON.stringify(fields) + model;
    if (this.checked?.key !== key) this.checked = { key, promise: this.check(fields, key) };
    return this.checked.promise;
  }

  async check(fields, key) {
    const { model, messages } = this.context();
    this.show("Checking…", "");
    // An answer to an older edit arriving late must not overwrite the latest one.
    const show = (text, kind) => this.checked?.key === key && this.show(text, kind);
    try {
      const answer = await postJSON("ui/api/check", { model, messages, max_tokens: 1, ...fields });
      if (!answer.ok) {
        const { message, param } = answer.error;
        show(param ? `${param}: ${message}` : message, "bad");
        return null;
      }
      const n = fields.tools.length;
      show(`✓ ${n} tool${n === 1 ? "" : "s"} accepted · ${answer.prompt_tokens} prompt tokens with this conversation`, "ok");
      return fields;
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) {
        show(err.param ? `${err.param}: ${err.message}` : err.message, "bad");
        return null;
      }
      show(err.status === 401 ? "The server wants an API key." : `Cannot check: ${err.message}`, "bad");
      if (this.checked?.key === key) this.checked = null; // checked again on the next edit or send
      throw err;
    }
  }

  show(text, kind) {
    this.note.textContent = text;
    this.note.className = `note ${kind}`;
    this.editor.setAttribute("aria-invalid", kind === "bad" ? "true" : "false");
  }

  /** One tool_choice option per declared function name, keeping the selection while it still exists. */
  updateChoices(tools) {
    const names = (tools ?? []).map((t) => t?.function?.name).filter((n) => typeof n === "string" && n);
    const wanted = ["auto", "none", "required", ...names.map((n) => `fn:${n}`)];
    const current = [...this.choice.options].map((o) => o.value);
    if (wanted.join("\n") !== current.join("\n")) {
      const selected = this.choice.value;
      this.choice.replaceChildren(
        ...wanted.map((v) => new Option(v.startsWith("fn:") ? `function: ${v.slice(3)}` : v, v)),
      );
      this.choice.value = wanted.includes(selected) ? selected : "auto";
    }
    this.choice.disabled = this.parallel.disabled = !tools;
  }
}
