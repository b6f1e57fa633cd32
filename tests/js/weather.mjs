// The classic weather example through the official JavaScript `openai` SDK, against a running fncall
// server: non-streaming create() and a second turn with the tool result, stream() with
// finalChatCompletion(), and runTools() with a JS implementation of the tool.
//
// Env: FNCALL_BASE_URL (ends in /v1), FNCALL_MODEL. Prints one JSON line on stdout,
// {"ok": true|false, "failures": [{stage, error}], ...per-stage results}; on failure it exits 1
// and writes every request and response it exchanged with the server to stderr.

import OpenAI from "openai";
import { VERSION } from "openai/version";

const baseURL = process.env.FNCALL_BASE_URL;
const model = process.env.FNCALL_MODEL;
if (!baseURL || !model) {
  console.error("weather.mjs: set FNCALL_BASE_URL (ending in /v1) and FNCALL_MODEL");
  process.exit(2);
}

const QUESTION = "What's the weather like in San Francisco?";
const WEATHER = { location: "San Francisco", temperature: "60", unit: "fahrenheit" };
const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_current_weather",
    description: "Get the current weather in a given location",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["location"],
    },
  },
};

// Every exchange with the server, replayed on stderr when an expectation fails.
const transcript = [];
async function recordingFetch(url, init) {
  const entry = { url: String(url), method: init?.method, request: init?.body ?? null };
  transcript.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  // A clone tees the body: the SDK reads one branch (streamed or not), we keep the other.
  entry.response = response.clone().text().catch((err) => `<unreadable: ${err}>`);
  return response;
}

const client = new OpenAI({
  baseURL,
  apiKey: "unused",
  maxRetries: 0,
  timeout: 300_000,
  fetch: recordingFetch,
});

let stage = "setup";
let firstCall = null; // the non-streamed call, which the streamed one must equal
class Expectation extends Error {}
function expect(condition, message, detail) {
  if (!condition) throw new Expectation(`${message}: ${JSON.stringify(detail)}`);
}

function singleWeatherCall(message) {
  const calls = message.tool_calls ?? [];
  expect(calls.length === 1, "expected exactly one tool call", message);
  const [call] = calls;
  expect(call.type === "function", "tool call type should be 'function'", call);
  expect(typeof call.id === "string" && call.id.length > 0, "tool call needs a non-empty id", call);
  expect(call.function?.name === "get_current_weather", "expected a call to get_current_weather", call);
  let args;
  try {
    args = JSON.parse(call.function.arguments);
  } catch (err) {
    throw new Expectation(`tool call arguments are not JSON (${err.message}): ${call.function.arguments}`);
  }
  expect(/San Francisco/i.test(String(args.location ?? "")), "location should mention San Francisco", args);
  return { call, args };
}

async function nonStreaming() {
  stage = "create: tool call";
  const messages = [{ role: "user", content: QUESTION }];
  const base = { model, tools: [WEATHER_TOOL], tool_choice: "auto", temperature: 0 };
  const first = await client.chat.completions.create({ ...base, messages, max_tokens: 100 });
  const choice = first.choices[0];
  expect(choice?.finish_reason === "tool_calls", "finish_reason should be 'tool_calls'", choice);
  const { call, args } = singleWeatherCall(choice.message);
  firstCall = { name: call.function.name, arguments: call.function.arguments };

  stage = "create: answer from the tool result";
  messages.push(choice.message);
  messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(WEATHER) });
  const second = await client.chat.completions.create({ ...base, messages, max_tokens: 200 });
  const answer = second.choices[0];
  expect(answer?.finish_reason === "stop", "second turn finish_reason should be 'stop'", answer);
  const content = answer.message.content ?? "";
  expect(!answer.message.tool_calls?.length, "second turn should answer in text, not call tools", answer);
  expect(content.includes("60"), "second turn should report the 60 degrees", content);
  return { name: call.function.name, arguments: call.function.arguments, args, answer: content };
}

async function streaming(expected) {
  stage = "stream: finalChatCompletion";
  const stream = client.chat.completions.stream({
    model,
    messages: [{ role: "user", content: QUESTION }],
    tools: [WEATHER_TOOL],
    tool_choice: "auto",
    temperature: 0,
    max_tokens: 100,
  });
  let chunks = 0;
  stream.on("chunk", () => chunks++);
  const final = await stream.finalChatCompletion();
  const choice = final.choices[0];
  expect(choice?.finish_reason === "tool_calls", "streamed finish_reason should be 'tool_calls'", choice);
  const { call } = singleWeatherCall(choice.message);
  expect(expected !== null, "no non-streamed call to compare with (create failed)", call.function);
  expect(call.function.name === expected.name, "streamed tool name differs from create()", call);
  expect(
    call.function.arguments === expected.arguments,
    "streamed arguments differ from create()",
    { streamed: call.function.arguments, created: expected.arguments },
  );
  return { chunks, arguments: call.function.arguments };
}

async function withRunTools() {
  stage = "runTools";
  const invocations = [];
  const runner = client.chat.completions.runTools(
    {
      model,
      messages: [{ role: "user", content: QUESTION }],
      temperature: 0,
      max_tokens: 200,
      tools: [
        {
          type: "function",
          function: {
            ...WEATHER_TOOL.function,
            parse: JSON.parse,
            function: (args) => {
              invocations.push(args);
              return WEATHER;
            },
          },
        },
      ],
    },
    { maxChatCompletions: 4 },
  );
  const content = (await runner.finalContent()) ?? "";
  expect(invocations.length >= 1, "runTools never invoked get_current_weather", runner.messages);
  expect(content.includes("60"), "runTools final content should report the 60 degrees", content);
  return { invocations, completions: runner.allChatCompletions().length, answer: content };
}

// Every stage runs even when an earlier one failed, so one slow run reports everything it can.
async function main() {
  const started = Date.now();
  const results = {};
  const failures = [];
  async function run(name, fn) {
    try {
      results[name] = await fn();
    } catch (err) {
      const error = err instanceof Expectation ? err.message : String(err?.stack ?? err);
      failures.push({ stage, error });
      console.error(`weather.mjs: failed at ${stage}: ${error}`);
    }
  }
  await run("create", nonStreaming);
  await run("stream", () => streaming(firstCall));
  await run("runTools", withRunTools);
  const seconds = (Date.now() - started) / 1000;
  const ok = failures.length === 0;
  console.log(JSON.stringify({ ok, sdk: VERSION, seconds, failures, ...results }));
  if (!ok) {
    for (const entry of transcript) {
      entry.response = await entry.response;
      console.error(JSON.stringify(entry));
    }
    process.exit(1);
  }
}

await main();
