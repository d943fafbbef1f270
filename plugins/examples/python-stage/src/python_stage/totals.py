"""Running totals of a backup or restore, reported to the host as progress
and kept in the backup's metadata, which a restore must match."""

from componentize_py_types import Err
from wit_world.imports import report
from wit_world.imports.drhost_plugin_types import PluginError_InvalidData

FILES_KEY = "python-stage.files"
BYTES_KEY = "python-stage.bytes"


class Totals:
    def __init__(self):
        self.items = 0
        self.files = 0
        self.bytes = 0

    def add_entry(self, is_file: bool = False) -> None:
        self.items += 1
        if is_file:
            self.files += 1
        # The host coalesces and rate-limits progress calls.
        report.progress(self.bytes, self.items)

    def add_bytes(self, count: int) -> None:
        self.bytes += count

    def to_metadata(self) -> list[tuple[str, str]]:
        return [(FILES_KEY, str(self.files)), (BYTES_KEY, str(self.bytes))]

    def check_against(self, metadata: list[tuple[str, str]]) -> None:
        """Fails when the restore wrote other file or byte counts than the
        backup recorded (a backup made by another stage, say)."""
        recorded = dict(metadata)
        restored = dict(self.to_metadata())
        for key, value in restored.items():
            if key in recorded and recorded[key] != value:
                raise Err(PluginError_InvalidData(
                    f"restored {key} = {value}, but the backup recorded {recorded[key]}"))
