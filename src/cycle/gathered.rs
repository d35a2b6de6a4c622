//! The apps' results gathered as they finish, straight into the report's vectors, then put in
//! config order in place. With tens of thousands of apps the cycle's peak is its end: neither
//! the results beside the report built from them, nor a sort's scratch copy of the report's
//! entries, is held at that moment.

use url::Url;

use super::app::AppResult;
use crate::azure::vault::SecretMeta;
use crate::report::rotation::RotationReport;
use crate::report::{AppReport, TargetReport};

/// Each entry's app position (its index among the cycle's apps, which are in config order).
type Position = u32;

pub(super) struct Gathered {
    pub apps: Vec<AppReport>,
    app_positions: Vec<Position>,
    pub targets: Vec<TargetReport>,
    target_positions: Vec<Position>,
    pub rotations: Vec<RotationReport>,
    rotation_positions: Vec<Position>,
    /// The apps' notes, in the order the apps finished.
    pub notes: Vec<String>,
    /// The token secrets written (collected only when the cycle remembers them).
    pub written: Vec<(Url, SecretMeta)>,
}

impl Gathered {
    pub(super) fn with_capacity(apps: usize, targets: usize) -> Self {
        Gathered {
            apps: Vec::with_capacity(apps),
            app_positions: Vec::with_capacity(apps),
            targets: Vec::with_capacity(targets),
            target_positions: Vec::with_capacity(targets),
            rotations: Vec::new(),
            rotation_positions: Vec::new(),
            notes: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Takes the result of the app at `position`.
    pub(super) fn push(&mut self, position: usize, r: AppResult) {
        let position = Position::try_from(position).unwrap_or(Position::MAX);
        self.apps.push(r.app);
        self.app_positions.push(position);
        self.target_positions
            .extend(std::iter::repeat_n(position, r.targets.len()));
        self.targets.extend(r.targets);
        if let Some(rotation) = r.rotation {
            self.rotations.push(rotation);
            self.rotation_positions.push(position);
        }
        self.notes.extend(r.notes);
        self.written.extend(r.written);
    }

    /// Puts apps, targets and rotations in config order; an app's targets keep their order.
    pub(super) fn into_config_order(mut self) -> Self {
        reorder(&mut self.apps, &self.app_positions);
        reorder(&mut self.targets, &self.target_positions);
        reorder(&mut self.rotations, &self.rotation_positions);
        self
    }
}

/// Reorders `items` by `keys` (one per item), stably, in place: only a permutation of `u32`s is
/// allocated, not a second buffer of items as a stable sort of the items would.
fn reorder<T>(items: &mut [T], keys: &[Position]) {
    debug_assert_eq!(items.len(), keys.len());
    let Ok(n) = Position::try_from(items.len()) else {
        return;
    };
    // order[k]: the index of the item that belongs at k (ties by index: stable).
    let mut order: Vec<Position> = (0..n).collect();
    order.sort_unstable_by_key(|&i| (keys[i as usize], i));
    // Follow each cycle of the permutation, marking places done as order[k] = k.
    for start in 0..items.len() {
        let mut k = start;
        loop {
            let from = order[k] as usize;
            order[k] = k as Position;
            if from == start || from == k {
                break;
            }
            items.swap(k, from);
            k = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-place reorder gives what a stable sort by key gives, on shapes a cycle produces
    /// (nearly in order, reversed, many equal keys) and on scrambled ones.
    #[test]
    fn reorder_is_a_stable_sort_by_key() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut shapes: Vec<Vec<Position>> = vec![
            vec![],
            vec![0],
            vec![3, 3, 3],
            (0..50).rev().collect(),
            (0..50).map(|i| i / 4).collect(),
            (0..50)
                .map(|i| if i % 7 == 0 { i + 5 } else { i })
                .collect(),
        ];
        for len in [2, 9, 64, 301] {
            for _ in 0..20 {
                shapes.push((0..len).map(|_| (next() % 17) as Position).collect());
            }
        }
        for keys in shapes {
            let mut items: Vec<(Position, usize)> =
                keys.iter().copied().zip(0..keys.len()).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|&(k, _)| k);
            reorder(&mut items, &keys);
            assert_eq!(items, expected, "keys {keys:?}");
        }
    }
}
