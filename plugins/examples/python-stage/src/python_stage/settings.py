"""The stage's configuration: `{"root": "<guest path>"}`, `/data` by default."""

import json

DEFAULT_ROOT = b"/data"
KNOWN_KEYS = ("root",)


def root(config: str) -> bytes:
    """The guest directory to back up or restore into, as raw bytes.

    Unknown keys are refused: a misspelt `root` would otherwise silently fall
    back to `/data`. Raises `ValueError` with an operator-facing text.
    """
    settings = json.loads(config) if config.strip() else {}
    if not isinstance(settings, dict):
        raise ValueError('configuration must be a JSON object like {"root": "/data"}')
    unknown = sorted(set(settings) - set(KNOWN_KEYS))
    if unknown:
        raise ValueError(f"unknown configuration key `{unknown[0]}` (known keys: root)")
    value = settings.get("root")
    if value is None:
        return DEFAULT_ROOT
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"`root` must be an absolute guest path like /data, not {value!r}")
    return value.rstrip("/").encode() or b"/"


def show(path: bytes) -> str:
    """A path for messages: bytes that are not UTF-8 as escapes, never lost."""
    return path.decode("utf-8", "backslashreplace")
