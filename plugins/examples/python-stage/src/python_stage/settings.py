"""The stage's configuration: `{"root": "<guest path>"}`, `/data` by default."""

import json

DEFAULT_ROOT = b"/data"
KNOWN_KEYS = ("root",)


class ConfigError(ValueError):
    """A configuration the operator has to fix; the text says what."""


def root(config: str) -> bytes:
    """The guest directory to back up or restore into, as raw bytes.

    Unknown keys are refused: a misspelt `root` would otherwise silently fall
    back to `/data`. Raises `ConfigError` with an operator-facing text.
    """
    try:
        settings = json.loads(config) if config.strip() else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"configuration is not valid JSON: {error}") from error
    if not isinstance(settings, dict):
        raise ConfigError('configuration must be a JSON object like {"root": "/data"}')
    unknown = sorted(set(settings) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"unknown configuration key `{unknown[0]}` (known keys: root)")
    value = settings.get("root")
    if value is None:
        return DEFAULT_ROOT
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"`root` must be an absolute guest path like /data, not {value!r}")
    return value.rstrip("/").encode() or b"/"


def show(path: bytes) -> str:
    """A path for messages: bytes that are not UTF-8 as escapes, never lost."""
    return path.decode("utf-8", "backslashreplace")
