// logprobs, n and legacy completions through the official JavaScript `openai` SDK, on the tiny model:
// chat create() with logprobs/top_logprobs and n, the same streamed, and completions.create().
//
// Env: FNCALL_BASE_URL (ends in /v1), FNCALL_MODEL. Prints one JSON line on stdout,
// {"ok": true|false, "failures": [...]}, and exits 1 on failure.

import OpenAI from "openai";

const baseURL = process.env.FNCALL_BASE_URL;
const model = process.env.FNCALL_MODEL;
if (!baseURL || !model) {
  console.error("logprobs.mjs: set FNCALL_BASE_URL (ending in /v1) and FNCALL_MODEL");
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const messages = [{ role: "user", content: "Tell me about the sea." }];
const failures = [];
const expect = (stage, ok, detail) => ok || failures.push({ stage, error: detail });

async function chat() {
  const reply = await client.chat.completions.create({
    model, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, n: 2,
  });
  expect("chat.n", reply.choices.length === 2 && reply.choices[1].index === 1, reply.choices.length);
  const entries = reply.choices[0].logprobs?.content ?? [];
  expect("chat.tokens", entries.map((e) => e.token).join("") === reply.choices[0].message.content,
    entries.map((e) => e.token));
  expect("chat.top", entries.every((e) => e.top_logprobs.length === 3 && e.logprob <= 0), entries[0]);
  expect("chat.bytes", entries.every((e) => Array.isArray(e.bytes)), entries[0]);
  return reply;
}

async function chatStream(reply) {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, n: 2, stream: true,
  });
  const text = ["", ""];
  const tokens = [[], []];
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      text[choice.index] += choice.delta.content ?? "";
      tokens[choice.index].push(...(choice.logprobs?.content ?? []).map((e) => e.token));
    }
  }
  expect("stream.text", text[0] === reply.choices[0].message.content && text[1] === reply.choices[1].message.content,
    text);
  expect("stream.tokens", tokens[0].join("") === text[0], tokens[0]);
}

async function legacy() {
  const reply = await client.completions.create({
    model, prompt: ["The capital of France is", "Water is"], max_tokens: 4, temperature: 0, logprobs: 2,
  });
  expect("completions.choices", reply.choices.length === 2 && reply.object === "text_completion", reply);
  const lp = reply.choices[0].logprobs;
  expect("completions.logprobs", lp && lp.tokens.join("") === reply.choices[0].text, lp);
  let streamed = "";
  for await (const chunk of await client.completions.create({
    model, prompt: "The capital of France is", max_tokens: 4, temperature: 0, stream: true,
  })) {
    streamed += chunk.choices.map((c) => c.text).join("");
  }
  expect("completions.stream", streamed === reply.choices[0].text, streamed);
}

try {
  await chatStream(await chat());
  await legacy();
} catch (error) {
  failures.push({ stage: "exception", error: String(error) });
}
console.log(JSON.stringify({ ok: failures.length === 0, failures }));
process.exit(failures.length === 0 ? 0 : 1);
