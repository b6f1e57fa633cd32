// Tool presets, each with a question that exercises it and mock implementations for "Run mock".

const weather = {
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

const agent = [
  {
    type: "function",
    function: {
      name: "search_docs",
      description: "Search the product documentation and return the best matching passages",
      parameters: {
        type: "object",
        properties: {
          query: { type: "string", description: "What to look for" },
          limit: { type: "integer", minimum: 1, maximum: 5, description: "How many passages" },
        },
        required: ["query"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "calculate",
      description: "Apply an arithmetic operation to two numbers",
      parameters: {
        type: "object",
        properties: {
          a: { type: "number" },
          b: { type: "number" },
          op: { type: "string", enum: ["add", "subtract", "multiply", "divide"] },
        },
        required: ["a", "b", "op"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "get_time",
      description: "The current date and time in a time zone",
      parameters: {
        type: "object",
        properties: { timezone: { type: "string", description: "An IANA zone, e.g. Europe/Paris" } },
        required: ["timezone"],
      },
    },
  },
];

const event = {
  type: "function",
  function: {
    name: "create_event",
    description: "Create a calendar event and invite people",
    parameters: {
      type: "object",
      properties: {
        title: { type: "string" },
        start: {
          type: "object",
          properties: {
            date: { type: "string", description: "YYYY-MM-DD" },
            time: { type: "string", description: "HH:MM, 24-hour" },
          },
          required: ["date", "time"],
        },
        duration_minutes: { type: "integer", minimum: 5, maximum: 480 },
        attendees: { type: "array", items: { $ref: "#/$defs/person" }, minItems: 1 },
        reminders: { type: "array", items: { type: "integer", minimum: 0 }, description: "Minutes before" },
      },
      required: ["title", "start", "attendees"],
      $defs: {
        person: {
          type: "object",
          properties: {
            name: { type: "string" },
            email: { type: "string" },
            role: { type: "string", enum: ["required", "optional"] },
          },
          required: ["name", "role"],
        },
      },
    },
  },
};

const DOCS = [
  "Function calling: send `tools`; the model's calls come back in `message.tool_calls`.",
  "tool_choice 'required' makes the model call at least one tool; a named choice calls exactly that one.",
  "Streaming: each call's arguments arrive as deltas of `function.arguments`.",
  "parallel_tool_calls: false allows at most one call per reply.",
  "Answer a call with a message of role 'tool' that carries its `tool_call_id`.",
];

// The seed's dummy function: a fixed forecast for any location.
function getCurrentWeather({ location, unit = "fahrenheit" }) {
  return { location, temperature: "72", unit, forecast: ["sunny", "windy"] };
}

function searchDocs({ query = "", limit = 3 }) {
  const words = String(query).toLowerCase().split(/\W+/).filter(Boolean);
  const score = (text) => words.filter((w) => text.toLowerCase().includes(w)).length;
  const ranked = DOCS.map((text) => ({ text, score: score(text) })).sort((x, y) => y.score - x.score);
  return { query, results: ranked.slice(0, Math.max(1, Math.min(5, limit))).map((r) => r.text) };
}

function calculate({ a, b, op }) {
  const ops = { add: a + b, subtract: a - b, multiply: a * b, divide: b === 0 ? null : a / b };
  return op in ops ? { result: ops[op] } : { error: `unknown op ${op}` };
}

function getTime({ timezone }) {
  try {
    const when = new Intl.DateTimeFormat("en-GB", { dateStyle: "full", timeStyle: "short", timeZone: timezone });
    return { timezone, now: when.format(new Date()) };
  } catch {
    return { error: `unknown time zone ${timezone}` };
  }
}

function createEvent(args) {
  return { id: "evt_1", status: "created", title: args.title, start: args.start, invited: args.attendees?.length ?? 0 };
}

export const MOCKS = {
  get_current_weather: getCurrentWeather,
  search_docs: searchDocs,
  calculate,
  get_time: getTime,
  create_event: createEvent,
};

export const PRESETS = {
  weather: {
    label: "Weather (the classic example)",
    tools: [weather],
    question: "What's the weather like in San Francisco?",
  },
  agent: {
    label: "Agent: docs search, calculator, clock",
    tools: agent,
    question: "What time is it in Tokyo, and what is 17.5 times 12?",
  },
  nested: {
    label: "Nested schema: calendar event",
    tools: [event],
    question: "Book a 30 minute sync called 'Launch review' on 2025-03-14 at 15:00 with Ana (required) and Bo (optional).",
  },
};

/** The mock's answer for a call, as the text of a tool message, or null when the tool has no mock. */
export function runMock(name, argumentsText) {
  const mock = MOCKS[name];
  if (!mock) return null;
  let args;
  try {
    args = JSON.parse(argumentsText || "{}");
  } catch {
    return JSON.stringify({ error: "the arguments are not valid JSON" });
  }
  return JSON.stringify(mock(args));
}
