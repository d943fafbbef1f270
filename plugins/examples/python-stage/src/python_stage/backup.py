"""Backup: a depth-first walk of the root in byte order of names (so backups
of one tree are identical and deduplicate well), never following symlinks.
The root is the first entry (the empty path), so its metadata is kept too."""

from componentize_py_types import Err
from wit_world.imports import archive, archive_reuse, host, posix_fs, report
from wit_world.imports.drhost_plugin_types import PluginError_Denied, PluginError_NotFound

from python_stage import paths
from python_stage.settings import show
from python_stage.totals import Totals

# Within the 64 KiB..1 MiB the archive handles best (wit/stage.wit).
CHUNK = 1 << 20
MODE_MASK = 0o7777

SKIP_REASONS = {
    posix_fs.FileType.FIFO: "a FIFO (named pipe): the program using it recreates it",
    posix_fs.FileType.SOCKET: "a socket: the program listening on it recreates it",
    posix_fs.FileType.CHAR_DEVICE: "a character device: devices are not backed up",
    posix_fs.FileType.BLOCK_DEVICE: "a block device: devices are not backed up",
    posix_fs.FileType.UNKNOWN: "a file of a type this stage does not know",
}


def run(root: bytes, out: archive.ArchiveWriter) -> Totals:
    walk = Walk(root, out)
    walk.run()
    return walk.totals


def entry_meta(rel, kind, stat, link_target=None) -> archive.EntryMeta:
    return archive.EntryMeta(
        path=rel,
        kind=kind,
        mode=stat.mode & MODE_MASK,
        mtime_seconds=stat.mtime.seconds,
        mtime_nanoseconds=stat.mtime.nanoseconds,
        link_target=link_target,
        owner=stat.owner,
        attributes=[],
    )


class Walk:
    def __init__(self, root: bytes, out: archive.ArchiveWriter):
        self.root = root
        self.out = out
        self.totals = Totals()
        # (device, inode) of a file with several names -> the path it was archived under.
        self.first_names: dict[tuple[int, int], bytes] = {}

    def run(self) -> None:
        stat = posix_fs.stat(self.root)
        if stat.type != posix_fs.FileType.DIRECTORY:
            raise Err(PluginError_NotFound(f"{show(self.root)} is not a directory"))
        # An explicit stack rather than recursion: directory trees can be
        # deeper than the guest's Python recursion limit.
        stack = [b""]
        while stack:
            rel = stack.pop()
            children = self.entry(rel)
            # Reversed so that popping yields them in ascending order.
            stack.extend(paths.child(rel, name) for name in sorted(children, reverse=True))

    def entry(self, rel: bytes) -> list[bytes]:
        """Archives one entry; for a directory, returns the names in it."""
        guest = paths.join(self.root, rel)
        stat = self.look(rel, posix_fs.stat, guest)
        if stat is None:
            return []
        if stat.type == posix_fs.FileType.DIRECTORY:
            names = self.look(rel, posix_fs.read_dir, guest)
            if names is None:
                return []
            self.write(entry_meta(rel, archive.EntryKind.DIRECTORY, stat))
            return names
        if stat.type == posix_fs.FileType.FILE:
            self.file(rel, guest, stat)
        elif stat.type == posix_fs.FileType.SYMLINK:
            target = self.look(rel, posix_fs.read_link, guest)
            if target is not None:
                self.write(entry_meta(rel, archive.EntryKind.SYMLINK, stat, target))
        else:
            report.skipped(rel, SKIP_REASONS[stat.type])
        return []

    def look(self, rel: bytes, call, guest: bytes):
        """`call(guest)`, or `None` when the entry was deleted since its
        directory was listed (logged) or may not be read (reported as left
        out). Only filesystem calls go through here: an archive error must
        fail the backup, not leave an entry out."""
        try:
            return call(guest)
        except Err as error:
            if isinstance(error.value, PluginError_NotFound):
                host.log(host.LogLevel.INFO, f"{show(rel)} was deleted during the backup")
                return None
            if isinstance(error.value, PluginError_Denied):
                report.skipped(rel, f"it cannot be read: {error.value.value}")
                return None
            raise

    def file(self, rel: bytes, guest: bytes, stat) -> None:
        identity = (stat.device, stat.inode)
        if stat.link_count > 1 and identity in self.first_names:
            first = self.first_names[identity]
            self.write(entry_meta(rel, archive.EntryKind.HARD_LINK, stat, first), is_file=True)
            return
        meta = entry_meta(rel, archive.EntryKind.FILE, stat)
        if archive_reuse.reuse_unchanged(self.out, meta, stat.size):
            self.totals.add_bytes(stat.size)
        else:
            source = self.look(rel, posix_fs.open_read, guest)
            if source is None:
                return
            with source:
                self.out.begin_entry(meta)
                while chunk := source.read(CHUNK):
                    self.out.write(chunk)
                    self.totals.add_bytes(len(chunk))
                self.out.end_entry()
        self.totals.add_entry(is_file=True)
        # Only once archived: a later hard link must name a path the archive has.
        if stat.link_count > 1:
            self.first_names[identity] = rel

    def write(self, meta: archive.EntryMeta, is_file: bool = False) -> None:
        """An entry without content (`is_file`: a further name of a file)."""
        self.out.begin_entry(meta)
        self.out.end_entry()
        self.totals.add_entry(is_file)
