"""HTTP edge: routes, the pydantic request protocol, SSE framing and OpenAI-shaped errors."""
