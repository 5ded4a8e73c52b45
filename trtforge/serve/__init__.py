"""Serving a model repository: launchers (reference / local / container), the generate client, and bench."""
