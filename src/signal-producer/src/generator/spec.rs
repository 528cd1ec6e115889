//! What determines one generated file ([`FileSpec`]), the time [`Window`] its timestamps fall
//! in, and the file's own random stream.

use common::tables::{Layout, TableId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checksum::Fnv64;

/// Microseconds in one hour.
pub const US_PER_HOUR: i64 = 3_600_000_000;

/// A half-open span of time, in microseconds since the epoch, that a file's timestamps fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First possible timestamp.
    pub start_us: i64,
    /// One past the last possible timestamp.
    pub end_us: i64,
}

impl Window {
    /// The whole hour `hour` (hours since the epoch).
    pub fn hour(hour: i64) -> Self {
        Self { start_us: hour * US_PER_HOUR, end_us: (hour + 1) * US_PER_HOUR }
    }

    /// A uniformly random timestamp inside the window.
    pub fn sample(&self, rng: &mut impl Rng) -> i64 {
        rng.random_range(self.start_us..self.end_us)
    }

    /// `ts` moved back inside the window when it falls past its end.
    pub fn clamp(&self, ts: i64) -> i64 {
        ts.clamp(self.start_us, self.end_us - 1)
    }
}

/// Everything that determines one generated file.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The run's `--seed`.
    pub seed: u64,
    /// The layout the table belongs to; with the table, it selects the generator.
    pub layout: Layout,
    /// The table the file belongs to.
    pub table: TableId,
    /// Hour partition (hours since the epoch) the file is written to.
    pub hour: i64,
    /// Index of the file within its hour.
    pub file_index: u32,
    /// Where the timestamps fall; always inside `hour`.
    pub window: Window,
    /// Number of rows.
    pub rows: usize,
}

impl FileSpec {
    /// The random stream of this file, a function of its identity only.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut h = Fnv64::default();
        h.write_u64(self.seed);
        h.write_str(&self.table.tenant);
        h.write_str(&self.table.dataset);
        h.write_str(self.table.table.as_str());
        h.write_i64(self.hour);
        h.write_u64(u64::from(self.file_index));
        // Spread the 64-bit digest over the 256-bit ChaCha key with SplitMix64.
        let mut state = h.finish();
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        ChaCha8Rng::from_seed(key)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
