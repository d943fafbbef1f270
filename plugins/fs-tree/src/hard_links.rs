//! Hard links seen during a backup: the first path of every regular file
//! with more than one link, by (device, inode), so that its further paths
//! become `hard-link` entries instead of copies.

use std::collections::HashMap;

use guest_sdk::FileStat;

/// A file's identity on the machine backed up.
type Inode = (u64, u64);

#[derive(Default)]
pub struct HardLinks {
    /// First archived path and how many further links may still come.
    seen: HashMap<Inode, (Vec<u8>, u64)>,
}

impl HardLinks {
    /// The path under which the file `stat` describes was archived first,
    /// if it was; counts this further link as seen.
    pub fn take_first(&mut self, stat: &FileStat) -> Option<Vec<u8>> {
        let key = (stat.device, stat.inode);
        let (path, remaining) = self.seen.get_mut(&key)?;
        *remaining = remaining.saturating_sub(1);
        if *remaining > 0 {
            return Some(path.clone());
        }
        // Every link has been seen: forget the file, so memory stays
        // proportional to the groups still open rather than all of them.
        self.seen.remove(&key).map(|(path, _)| path)
    }

    /// Records `path` as the first archived path of `stat`'s file, if it has
    /// further links.
    pub fn remember(&mut self, stat: &FileStat, path: &[u8]) {
        if stat.link_count > 1 {
            self.seen.insert(
                (stat.device, stat.inode),
                (path.to_vec(), stat.link_count - 1),
            );
        }
    }
}
