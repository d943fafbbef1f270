//! A split-block Bloom filter (as in Parquet): each key sets one bit in each
//! of the eight 32-bit words of one 256-bit block, so a query touches one
//! cache line. At 10 bits per key about 1 % of absent ids pass and cost one
//! read of the index file; present ids always pass.
//!
//! Chunk ids are HMAC outputs, hence uniform: their bytes are used as the hash
//! directly. Bytes 8..20 pick the block and the bits; bytes 0..4 pick the
//! fanout bucket (`file.rs`), so the two are independent.

/// Filter bits per indexed chunk.
pub(crate) const BITS_PER_KEY: u64 = 10;

const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

pub(crate) struct BlockFilter {
    blocks: Vec<[u32; 8]>,
}

impl BlockFilter {
    /// An empty filter sized for `keys` ids.
    pub fn for_keys(keys: u64) -> Self {
        let blocks = keys.saturating_mul(BITS_PER_KEY).div_ceil(256).max(1);
        BlockFilter {
            blocks: vec![[0; 8]; usize::try_from(blocks).unwrap_or(usize::MAX / 64)],
        }
    }

    fn locate(&self, id: &[u8; 32]) -> (usize, [u32; 8]) {
        let mut h = [0u8; 8];
        h.copy_from_slice(&id[8..16]);
        let h = u64::from_le_bytes(h);
        // Multiply-shift maps h uniformly onto 0..len without a division.
        let block = ((u128::from(h) * self.blocks.len() as u128) >> 64) as usize;
        let key = u32::from_le_bytes([id[16], id[17], id[18], id[19]]);
        let mut mask = [0u32; 8];
        for (m, salt) in mask.iter_mut().zip(SALT) {
            *m = 1 << (key.wrapping_mul(salt) >> 27);
        }
        (block, mask)
    }

    pub fn insert(&mut self, id: &[u8; 32]) {
        let (block, mask) = self.locate(id);
        if let Some(words) = self.blocks.get_mut(block) {
            for (w, m) in words.iter_mut().zip(mask) {
                *w |= m;
            }
        }
    }

    /// False means the id is certainly not indexed.
    pub fn may_contain(&self, id: &[u8; 32]) -> bool {
        let (block, mask) = self.locate(id);
        self.blocks
            .get(block)
            .is_some_and(|words| words.iter().zip(mask).all(|(w, m)| w & m == m))
    }

    pub fn memory_bytes(&self) -> usize {
        self.blocks.len() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ids: Vec<[u8; 32]> = (0..20_000)
            .map(|_| {
                let mut id = [0u8; 32];
                rng.fill_bytes(&mut id);
                id
            })
            .collect();
        let mut f = BlockFilter::for_keys(ids.len() as u64);
        ids.iter().for_each(|id| f.insert(id));
        assert!(ids.iter().all(|id| f.may_contain(id)));
        let false_positives = (0..20_000)
            .filter(|_| {
                let mut id = [0u8; 32];
                rng.fill_bytes(&mut id);
                f.may_contain(&id)
            })
            .count();
        // About 1 % expected; 3 % leaves room for randomness.
        assert!(false_positives < 600, "{false_positives} false positives");
    }
}
