"""Conversation → prompt text: message normalisation and the model's own chat template."""
