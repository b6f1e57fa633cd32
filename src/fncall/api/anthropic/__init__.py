"""Anthropic's Messages API (`POST /v1/messages`), translated at the edge into the chat pipeline."""
