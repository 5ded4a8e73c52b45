"""The one place tokens are read, and the redaction every user-visible text passes through.

Like huggingface_hub: a token is read through one function and never formatted into messages. Anything
registered here is replaced by '***' in errors, logs, JSON events and files trtforge writes.
"""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.I)
_HUB_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN")
_registered: set[str] = set()


def looks_secret(env_name: str) -> bool:
    return bool(_SECRET_NAME.search(env_name))


def register(value: str | None) -> None:
    """Remember a secret value so `redact` hides it (short values are ignored: they would mangle text)."""
    if value and len(value) >= 6:
        _registered.add(value)


def _known() -> set[str]:
    found = set(_registered)
    for name, value in os.environ.items():
        if value and len(value) >= 6 and (name in _HUB_VARS or looks_secret(name)):
            found.add(value)
    return found


def redact(text: str) -> str:
    """Replace every known secret value in `text` with '***'."""
    if not text:
        return text
    for value in sorted(_known(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, "***")
    return text


def hub_token(recipe_token: str | None = None) -> str | None:
    """The Hugging Face token to use: the recipe's (normally '${HF_TOKEN}') or the environment's."""
    token = recipe_token or next((os.environ[v] for v in _HUB_VARS if os.environ.get(v)), None)
    register(token)
    return token
