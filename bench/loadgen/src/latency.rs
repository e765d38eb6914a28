//! Latency recording: an HdrHistogram of nanoseconds at 3 significant
//! digits (every percentile within 0.1 % of the exact one), so a long run's
//! millions of samples cost a fixed amount of memory.

use hdrhistogram::Histogram;

/// Largest latency recorded as itself (10 minutes); longer ones saturate.
const HIGHEST_NS: u64 = 600_000_000_000;

pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Latencies {
        // Bounds are constants that hdrhistogram accepts (1 ≤ low, high ≥ 2 low, 3 digits).
        let hist = Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("valid histogram bounds");
        Latencies { hist }
    }
}

impl Latencies {
    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.max(1));
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0.5 = median) in microseconds; 0 with no samples.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_us(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_thousandth() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile_us(0.99), 0.0);
        for us in 1..=10_000u64 {
            l.record(us * 1000);
        }
        assert_eq!(l.count(), 10_000);
        for (q, exact) in [(0.5, 5_000.0), (0.9, 9_000.0), (0.99, 9_900.0), (0.999, 9_990.0)] {
            let got = l.quantile_us(q);
            assert!((got - exact).abs() <= exact * 0.001, "q {q}: {got} vs {exact}");
        }
        assert!((l.max_us() - 10_000.0).abs() <= 10.0);
    }

    #[test]
    fn an_hour_long_stall_saturates_instead_of_failing() {
        let mut l = Latencies::default();
        l.record(3_600_000_000_000);
        l.record(0);
        assert_eq!(l.count(), 2);
        assert!(l.max_us() >= 599_000_000.0);
    }
}
