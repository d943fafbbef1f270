"""drhost stage `python-stage`: an example stage written in Python.

Backs up the directory granted at `/data` (or the configuration's `root`):
directories, regular files (content streamed in 1 MiB chunks), symlinks and
hard links, with permission bits, mtimes to the nanosecond and owners, all
through the host's `posix-fs`; restores them into the restore target. Other
entries (sockets, FIFOs, devices) are reported as skipped.

`componentize-py` looks for the class `Stage` in this module: it implements
the exported `stage` interface of the `stage-plugin` world.
"""

import wit_world
from componentize_py_types import Err
from wit_world.exports.stage import StageInfo, StageKind, StageSummary
from wit_world.imports import host, posix_fs, report
from wit_world.imports.drhost_plugin_types import PluginError_InvalidConfig, PluginError_Other

from python_stage import backup, restore, settings

NAME = "python-stage"
VERSION = "0.1.0"

# Third-party stages use message codes 9000-9999 (wit/stage.wit, `report`).
BACKUP_STARTED = (9001, "Started Python example stage backup.")
BACKUP_COMPLETED = (9002, "Completed Python example stage backup.")
RESTORE_STARTED = (9003, "Started Python example stage restore.")
RESTORE_COMPLETED = (9004, "Completed Python example stage restore.")


class Stage(wit_world.exports.Stage):
    def describe(self) -> StageInfo:
        return StageInfo(name=NAME, kind=StageKind.OTHER, version=VERSION)

    def validate(self, config: str) -> None:
        with plugin_errors():
            root = settings.root(config)
            if posix_fs.stat(root).type != posix_fs.FileType.DIRECTORY:
                raise Err(PluginError_InvalidConfig(f"`root` {settings.show(root)} is not a directory"))

    def backup(self, out) -> StageSummary:
        with plugin_errors():
            root = settings.root(host.config())
            report.message(*BACKUP_STARTED)
            totals = backup.run(root, out)
            report.message(*BACKUP_COMPLETED)
            return StageSummary(items=totals.items, bytes=totals.bytes, metadata=totals.to_metadata())

    def restore(self, input, metadata) -> StageSummary:
        with plugin_errors():
            root = settings.root(host.config())
            report.message(*RESTORE_STARTED)
            totals = restore.run(root, input)
            totals.check_against(metadata)
            report.message(*RESTORE_COMPLETED)
            return StageSummary(items=totals.items, bytes=totals.bytes, metadata=[])


class plugin_errors:
    """Turns an unexpected Python exception into `plugin-error.other`, so the
    job shows the error's text instead of a trap of the whole component."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback):
        if error is None or isinstance(error, Err):
            return False
        if isinstance(error, settings.ConfigError):
            raise Err(PluginError_InvalidConfig(str(error))) from error
        raise Err(PluginError_Other(f"{NAME}: {kind.__name__}: {error}")) from error
