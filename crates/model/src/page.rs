//! The paging arithmetic of 2008 list resources (decisions.md, "Lists").
//!
//! `start = page * pagesize`, `end = start + items_on_page - 1`,
//! `numpages = ceil(total / pagesize)`; an empty page has `end = start`
//! (so the empty list reads `start="0" end="0"`).

/// A page the client asked for: zero-based `page`, `size` in 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u64 = 50;
    pub const MAX_SIZE: u64 = 1000;

    /// Rows to skip, if that fits in an SQL `OFFSET` (an `i64`).
    pub fn offset(&self) -> Option<i64> {
        self.page
            .checked_mul(self.size)
            .and_then(|o| i64::try_from(o).ok())
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 0,
            size: Self::DEFAULT_SIZE,
        }
    }
}

/// The attributes a list element carries, computed from what the store found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageWindow {
    pub page: u64,
    pub numpages: u64,
    pub pagesize: u64,
    pub total: u64,
    pub start: u64,
    pub end: u64,
}

impl PageWindow {
    /// `items` is how many records the page holds, `total` how many match the filters.
    pub fn new(request: PageRequest, total: u64, items: u64) -> Self {
        let size = request.size.max(1);
        let start = request.page.saturating_mul(size);
        Self {
            page: request.page,
            numpages: total.div_ceil(size),
            pagesize: size,
            total,
            start,
            end: if items == 0 { start } else { start + items - 1 },
        }
    }

    /// The last page that exists (0 when the list is empty).
    pub fn last_page(&self) -> u64 {
        self.numpages.saturating_sub(1)
    }

    pub fn previous_page(&self) -> Option<u64> {
        (self.page > 0).then(|| (self.page - 1).min(self.last_page()))
    }

    pub fn next_page(&self) -> Option<u64> {
        self.page
            .checked_add(1)
            .filter(|next| *next < self.numpages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(page: u64, size: u64) -> PageRequest {
        PageRequest { page, size }
    }

    #[test]
    fn matches_the_seed_examples() {
        let w = PageWindow::new(req(0, 50), 1, 1);
        assert_eq!(
            (w.page, w.numpages, w.pagesize, w.total, w.start, w.end),
            (0, 1, 50, 1, 0, 0)
        );
        let w = PageWindow::new(req(0, 50), 2, 2);
        assert_eq!((w.numpages, w.start, w.end), (1, 0, 1));
        let w = PageWindow::new(req(0, 50), 38, 38);
        assert_eq!((w.numpages, w.start, w.end), (1, 0, 37));
    }

    #[test]
    fn empty_list_and_past_the_end() {
        let w = PageWindow::new(req(0, 50), 0, 0);
        assert_eq!((w.numpages, w.total, w.start, w.end), (0, 0, 0, 0));
        assert_eq!(
            (w.previous_page(), w.next_page(), w.last_page()),
            (None, None, 0)
        );
        let w = PageWindow::new(req(7, 10), 25, 0);
        assert_eq!((w.numpages, w.total, w.start, w.end), (3, 25, 70, 70));
        assert_eq!((w.previous_page(), w.next_page()), (Some(2), None));
        let w = PageWindow::new(req(u64::MAX, 50), 25, 0);
        assert_eq!((w.previous_page(), w.next_page()), (Some(0), None));
    }

    #[test]
    fn last_partial_page() {
        let w = PageWindow::new(req(2, 10), 25, 5);
        assert_eq!((w.numpages, w.start, w.end), (3, 20, 24));
        assert_eq!((w.previous_page(), w.next_page()), (Some(1), None));
    }

    #[test]
    fn offset_overflow_is_none() {
        assert_eq!(req(u64::MAX, 2).offset(), None);
        assert_eq!(req(u64::MAX / 1000, 1000).offset(), None);
        assert_eq!(req(3, 50).offset(), Some(150));
    }

    proptest! {
        /// Whatever the store returns for a page, the window's arithmetic holds.
        #[test]
        fn window_invariants(total in 0u64..100_000, size in 1u64..=1000, page in 0u64..500) {
            let start = page * size;
            let items = total.saturating_sub(start).min(size);
            let w = PageWindow::new(req(page, size), total, items);
            prop_assert_eq!(w.start, start);
            prop_assert_eq!(w.numpages, total.div_ceil(size));
            prop_assert!(w.numpages * size >= total);
            if items > 0 {
                prop_assert!(page < w.numpages);
                prop_assert_eq!(w.end - w.start + 1, items);
                prop_assert!(w.end < total);
                prop_assert_eq!(w.next_page().is_some(), w.end + 1 < total);
            } else {
                prop_assert_eq!(w.end, w.start);
                prop_assert!(page >= w.numpages);
            }
        }
    }
}
