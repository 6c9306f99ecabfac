//! The stale rule: when a page's yield says its selectors no longer fit it.

/// What a page poll's item count says about its selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YieldVerdict {
    /// The count later polls are compared with.
    pub baseline: Option<u64>,
    /// "selectors may be stale: …" when the count looks like rot.
    pub warning: Option<String>,
}

/// Judges a page poll that found `current` items against the `previous`
/// baseline: none at all, or under a third of the baseline, says the page
/// changed under its selectors.
///
/// While the warning stands the baseline is kept, so the flag stays up until
/// the page yields as before (or the admin fixes the selectors), instead of
/// clearing itself on the next, equally poor, poll.
pub fn judge_yield(previous: Option<u64>, current: usize) -> YieldVerdict {
    let current_u64 = current as u64;
    let warning = if current == 0 {
        Some("selectors may be stale: the page yielded no items".to_owned())
    } else {
        match previous {
            Some(before) if current_u64.saturating_mul(3) < before => Some(format!(
                "selectors may be stale: the page yielded {current} items, down from {before}"
            )),
            _ => None,
        }
    };
    YieldVerdict {
        baseline: if warning.is_some() {
            previous
        } else {
            Some(current_u64)
        },
        warning,
    }
}
