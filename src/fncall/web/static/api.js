// The page's only way to the server: this origin, with the API key (when the server wants one) from this
// tab's sessionStorage, never localStorage: closing the tab forgets it.

const KEY_ITEM = "fncall.apiKey";

export const key = {
  get: () => sessionStorage.getItem(KEY_ITEM) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY_ITEM, value) : sessionStorage.removeItem(KEY_ITEM)),
};

/** A refusal in OpenAI's error shape (or a transport failure, status 0). */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.param = error?.param ?? null;
    this.code = error?.code ?? null;
  }
}

function headers(json) {
  const out = json ? { "Content-Type": "application/json" } : {};
  const secret = key.get();
  if (secret) out.Authorization = `Bearer ${secret}`;
  return out;
}

async function refusal(response) {
  const text = await response.text();
  try {
    return new ApiError(response.status, JSON.parse(text).error);
  } catch {
    return new ApiError(response.status, { message: text || response.statusText });
  }
}

export async function getJSON(path) {
  const response = await fetch(path, { headers: headers(false) });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

export async function postJSON(path, body, signal) {
  const response = await fetch(path, { method: "POST", headers: headers(true), body: JSON.stringify(body), signal });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

/** Starts a chat completion; resolves to the Response once headers arrived (throws ApiError on 4xx/5xx). */
export async function startChat(body, signal) {
  const response = await fetch("v1/chat/completions", {
    method: "POST",
    headers: headers(true),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await refusal(response);
  return response;
}

/**
 * The server-sent events of a streamed completion, as they arrive: {raw, data} with `data` the parsed
 * JSON (a chunk or an error), or "[DONE]".
 */
export async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value ?? new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = raw
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) yield { raw, data: data === "[DONE]" ? data : JSON.parse(data) };
    }
    if (done) return;
  }
}
