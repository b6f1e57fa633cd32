// Stored responses through the official JavaScript `openai` SDK, against a running fncall server:
// responses.create (stored by default), retrieve, inputItems.list, previous_response_id, delete, and the
// 404 that follows. Env: FNCALL_BASE_URL (ends in /v1), FNCALL_MODEL. Prints one JSON line on stdout,
// {"ok": true|false, "failures": [...]}, and exits 1 on failure.

import OpenAI from "openai";

const baseURL = process.env.FNCALL_BASE_URL;
const model = process.env.FNCALL_MODEL;
if (!baseURL || !model) {
  console.error("responses_store.mjs: set FNCALL_BASE_URL (ending in /v1) and FNCALL_MODEL");
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const failures = [];
function expect(stage, condition, detail) {
  if (!condition) failures.push({ stage, error: detail });
}

const ask = { model, temperature: 0, max_output_tokens: 8 };
const first = await client.responses.create({ ...ask, input: "Say hi." });
expect("create", first.store === true && first.id.startsWith("resp_"), first);
const got = await client.responses.retrieve(first.id);
expect("retrieve", got.id === first.id && got.output_text === first.output_text, got);
const items = [];
for await (const item of client.responses.inputItems.list(first.id)) items.push(item);
expect("inputItems", items.length === 1 && items[0].content[0].text === "Say hi.", items);
const second = await client.responses.create({ ...ask, input: "Again.", previous_response_id: first.id });
expect("previous_response_id", second.previous_response_id === first.id, second);
const chain = [];
for await (const item of client.responses.inputItems.list(second.id, { order: "asc" })) chain.push(item);
expect("chain", chain.length >= 3 && chain[0].content[0].text === "Say hi.", chain);
await client.responses.delete(first.id);
try {
  await client.responses.retrieve(first.id);
  expect("deleted", false, "retrieve after delete succeeded");
} catch (error) {
  expect("deleted", error.status === 404, String(error));
}
console.log(JSON.stringify({ ok: failures.length === 0, failures }));
process.exit(failures.length === 0 ? 0 : 1);
