"""fncall: an OpenAI-compatible inference server for GGUF models with function calling that never breaks."""

__version__ = "0.1.0"
