"""OpenAI's Responses API (`POST /v1/responses`), translated at the edge into the chat pipeline."""
