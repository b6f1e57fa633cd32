"""The inference engine: llama.cpp adapter, scheduler, sequences, sampling. Knows nothing of HTTP."""
