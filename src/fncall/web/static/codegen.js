// "Copy as": a request as Python (openai SDK), JavaScript (openai SDK) or curl, pointed at this server.
// A key is never written into the code: with keys on, it is read from FNCALL_API_KEY.

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A JSON value as a Python literal (True/False/None), indented like black would. */
export function python(value, indent = "") {
  const inner = indent + "    ";
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return JSON.stringify(value); // JSON escapes are valid Python escapes
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + python(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, inner)}`).join(",\n")},\n${indent}}`;
}

function kwargs(body, indent) {
  return Object.entries(body)
    .filter(([name]) => IDENT.test(name))
    .map(([name, value]) => `${indent}${name}=${python(value, indent)},`)
    .join("\n");
}

export function pythonCode(body, { baseURL, keyed }) {
  const key = keyed ? 'os.environ["FNCALL_API_KEY"]' : '"unused"';
  const head = [
    ...(keyed ? ["import os", ""] : []),
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(baseURL)}, api_key=${key})`,
  ];
  if (body.stream) {
    return [
      ...head,
      "stream = client.chat.completions.create(",
      kwargs(body, "    "),
      ")",
      "for chunk in stream:",
      "    if not chunk.choices:",
      "        continue",
      "    delta = chunk.choices[0].delta",
      "    print(delta.content or \"\", end=\"\", flush=True)",
      "    for call in delta.tool_calls or []:",
      "        if call.function.name:",
      "            print(f\"\\n{call.function.name} \", end=\"\")",
      "        print(call.function.arguments or \"\", end=\"\", flush=True)",
      "print()",
      "",
    ].join("\n");
  }
  return [
    ...head,
    "response = client.chat.completions.create(",
    kwargs(body, "    "),
    ")",
    "message = response.choices[0].message",
    "print(message.content)",
    "for call in message.tool_calls or []:",
    "    print(call.function.name, call.function.arguments)",
    "",
  ].join("\n");
}

export function javascriptCode(body, { baseURL, keyed }) {
  const key = keyed ? "process.env.FNCALL_API_KEY" : '"unused"';
  const request = JSON.stringify(body, null, 2);
  const head = [
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseURL)}, apiKey: ${key} });`,
    "",
  ];
  if (body.stream) {
    return [
      ...head,
      `const stream = await client.chat.completions.create(${request});`,
      "for await (const chunk of stream) {",
      "  const delta = chunk.choices[0]?.delta;",
      "  if (delta?.content) process.stdout.write(delta.content);",
      "  for (const call of delta?.tool_calls ?? []) {",
      "    if (call.function?.name) process.stdout.write(`\\n${call.function.name} `);",
      "    process.stdout.write(call.function?.arguments ?? \"\");",
      "  }",
      "}",
      'process.stdout.write("\\n");',
      "",
    ].join("\n");
  }
  return [
    ...head,
    `const completion = await client.chat.completions.create(${request});`,
    "const message = completion.choices[0].message;",
    "console.log(message.content);",
    "for (const call of message.tool_calls ?? []) console.log(call.function.name, call.function.arguments);",
    "",
  ].join("\n");
}

export function curlCode(body, { baseURL, keyed }) {
  // A quoted here-document passes the JSON to curl untouched by the shell.
  return [
    `curl${body.stream ? " -N" : ""} ${baseURL}/chat/completions \\`,
    '  -H "Content-Type: application/json" \\',
    ...(keyed ? ['  -H "Authorization: Bearer $FNCALL_API_KEY" \\'] : []),
    "  --data-binary @- <<'JSON'",
    JSON.stringify(body, null, 2),
    "JSON",
    "",
  ].join("\n");
}

export const LANGUAGES = { python: pythonCode, javascript: javascriptCode, curl: curlCode };
