"""Restore: recreates the archive's entries below the root. Files, symlinks
and hard links are made under a temporary name, given their metadata and
renamed over the final name, so an existing file is either untouched or
wholly replaced. Directories get their metadata last, innermost first and
the root at the very end: creating a child changes its parent's mtime, and a
read-only mode would forbid creating children."""

from componentize_py_types import Err
from wit_world.imports import archive, posix_fs
from wit_world.imports.drhost_plugin_types import PluginError_InvalidData, PluginError_NotFound

from python_stage import paths
from python_stage.settings import show
from python_stage.totals import Totals

CHUNK = 1 << 20
TEMP_PREFIX = b".drhost-python-stage-"


def run(root: bytes, source: archive.ArchiveReader) -> Totals:
    restorer = Restorer(root, source)
    restorer.run()
    return restorer.totals


def metadata_of(meta: archive.EntryMeta) -> posix_fs.MetadataUpdate:
    return posix_fs.MetadataUpdate(
        mode=meta.mode,
        owner=meta.owner,
        mtime=posix_fs.Timestamp(seconds=meta.mtime_seconds, nanoseconds=meta.mtime_nanoseconds),
    )


class Restorer:
    def __init__(self, root: bytes, source: archive.ArchiveReader):
        self.root = root
        self.source = source
        self.totals = Totals()
        self.temp_count = 0
        # Directories whose metadata is still to be applied, in archive order.
        self.dirs: list[tuple[bytes, posix_fs.MetadataUpdate]] = []

    def run(self) -> None:
        while (meta := self.source.next_entry()) is not None:
            paths.check(meta.path)
            self.entry(meta)
        # Reversed archive order: every child before its parent, the root last.
        for guest, update in reversed(self.dirs):
            posix_fs.set_metadata(guest, update)

    def entry(self, meta: archive.EntryMeta) -> None:
        guest = paths.join(self.root, meta.path)
        kind = meta.kind
        if kind == archive.EntryKind.DIRECTORY:
            self.directory(meta.path, guest)
            self.dirs.append((guest, metadata_of(meta)))
            self.totals.add_entry()
            return
        if not meta.path:
            raise Err(PluginError_InvalidData("the root entry must be a directory"))
        temp = self.temp_name(meta.path)
        if kind == archive.EntryKind.FILE:
            self.file(temp)
            self.totals.add_entry(is_file=True)
        elif kind == archive.EntryKind.SYMLINK:
            posix_fs.symlink(self.link_target(meta), temp)
            self.totals.add_entry()
        else:
            target = self.link_target(meta)
            paths.check(target)
            posix_fs.hard_link(paths.join(self.root, target), temp)
            self.totals.add_entry(is_file=True)
        if kind != archive.EntryKind.HARD_LINK:
            # A hard link shares the metadata its first name was given.
            posix_fs.set_metadata(temp, metadata_of(meta))
        posix_fs.rename(temp, guest)

    def directory(self, rel: bytes, guest: bytes) -> None:
        try:
            existing = posix_fs.stat(guest)
        except Err as error:
            if not isinstance(error.value, PluginError_NotFound):
                raise
            posix_fs.create_dir(guest)
            return
        if existing.type != posix_fs.FileType.DIRECTORY:
            raise Err(PluginError_InvalidData(
                f"{show(rel) or 'the root'} is a directory in the backup but not in the target"))

    def file(self, temp: bytes) -> None:
        with posix_fs.create_file(temp) as target:
            offset = 0
            while chunk := self.source.read(CHUNK):
                target.write_at(offset, chunk)
                offset += len(chunk)
            target.set_size(offset)
            target.sync()
        self.totals.add_bytes(offset)

    def temp_name(self, rel: bytes) -> bytes:
        """A fresh name beside the entry's final one; a leftover of an
        interrupted restore under that name is removed first."""
        parent, _ = paths.split(rel)
        self.temp_count += 1
        temp = paths.join(self.root, paths.child(parent, TEMP_PREFIX + str(self.temp_count).encode()))
        try:
            posix_fs.remove_file(temp)
        except Err as error:
            if not isinstance(error.value, PluginError_NotFound):
                raise
        return temp

    @staticmethod
    def link_target(meta: archive.EntryMeta) -> bytes:
        if meta.link_target is None:
            raise Err(PluginError_InvalidData(f"{show(meta.path)} has no link target"))
        return meta.link_target
