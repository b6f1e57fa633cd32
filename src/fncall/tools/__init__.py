"""Function calling: per-family tool formats, grammars and the incremental tool-call parser."""
