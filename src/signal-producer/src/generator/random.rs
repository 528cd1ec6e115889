//! Random draws the generators share: W3C trace and span ids, log-normal durations and
//! weighted or uniform picks.

use rand::Rng;

/// A W3C trace id: 32 lowercase hex characters, never all zero.
pub(super) fn trace_id(rng: &mut impl Rng) -> String {
    format!("{:032x}", rng.random::<u128>().max(1))
}

/// A W3C span id: 16 lowercase hex characters, never all zero.
pub(super) fn span_id(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.random::<u64>().max(1))
}

/// A log-normal sample with the given median and shape `sigma` (Box–Muller).
pub(super) fn log_normal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

/// Picks an item with probability proportional to its weight.
pub(super) fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    unreachable!("pick is below the total weight")
}

/// Picks one element of a non-empty slice.
pub(super) fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}
