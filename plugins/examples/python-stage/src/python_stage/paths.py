"""Entry paths (relative to the stage's root, `/`-separated raw bytes) and
the guest paths they name."""

from componentize_py_types import Err
from wit_world.imports.drhost_plugin_types import PluginError_InvalidData

from python_stage.settings import show


def join(root: bytes, rel: bytes) -> bytes:
    if not rel:
        return root
    return (root if root != b"/" else b"") + b"/" + rel


def child(rel: bytes, name: bytes) -> bytes:
    return rel + b"/" + name if rel else name


def split(rel: bytes) -> tuple[bytes, bytes]:
    """The parent entry path and the last name."""
    parent, _, name = rel.rpartition(b"/")
    return parent, name


def check(rel: bytes) -> None:
    """Refuses a path that could leave the root. The host checks every path
    already; a restore does not trust an archive on that alone."""
    if not rel:
        return
    if rel.startswith(b"/") or b"\0" in rel or len(rel) > 4096:
        raise Err(PluginError_InvalidData(f"invalid entry path {show(rel)!r}"))
    if any(part in (b"", b".", b"..") for part in rel.split(b"/")):
        raise Err(PluginError_InvalidData(f"invalid entry path {show(rel)!r}"))
