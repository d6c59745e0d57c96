//! The threads rooms mix on: `--mix-threads N` dedicated OS threads, each
//! running a single-threaded tokio runtime with a timer and no reactor
//! (rooms read their sockets on each tick). None of them is a worker of the
//! main runtime, so API requests, webhooks, SIP and the hub never queue in
//! front of a tick, and a second core mixes as much as the first.
//!
//! A room is placed once, when the hub creates it, on the thread with the
//! fewest legs now (ties: the fewest rooms, then the lowest index), and
//! runs there for its whole life: a room is never split or moved, so its
//! tick never waits for another thread. Legs, not rooms, because a tick's
//! cost grows with its legs (each is read, decoded, mixed, limited,
//! encoded and sent; a room with no legs costs one timer wake-up); the
//! rooms break ties because a burst of new conferences is placed before
//! their first legs arrive on their threads.
//!
//! Each thread's load is a pair of `prometheus-client` gauges (atomics,
//! which `/metrics` shows with a `thread` label): a room adds itself to its
//! thread's rooms when it is placed and its legs as they join, and takes
//! them away when it ends ([`ThreadSlot`]'s drop), so placement reads the
//! load without a lock and no tick waits for the hub, the API or another
//! thread.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// The mix threads of one server. Dropping it stops them, dropping the
/// rooms still on them.
#[derive(Debug)]
pub struct MixThreads {
    /// Never empty (see [`MixThreads::new`]).
    threads: Vec<MixThread>,
}

#[derive(Debug)]
struct MixThread {
    handle: tokio::runtime::Handle,
    load: Arc<ThreadLoad>,
    /// Dropped to stop the thread (its runtime drops its rooms); `None` for
    /// the current runtime, when no thread could be started.
    _stop: Option<oneshot::Sender<()>>,
}

/// One thread's load, as `/metrics` shows it.
#[derive(Debug)]
pub(crate) struct ThreadLoad {
    rooms: Gauge,
    legs: Gauge,
    /// Ticks of this thread's rooms that began late.
    pub(crate) late_ticks: Counter,
}

impl ThreadLoad {
    fn new(metrics: &Metrics, thread: usize) -> Self {
        let (rooms, legs, late_ticks) = metrics.mix_thread(thread);
        Self {
            rooms,
            legs,
            late_ticks,
        }
    }

    fn now(&self) -> Load {
        Load {
            legs: self.legs.get(),
            rooms: self.rooms.get(),
        }
    }
}

/// What a thread carries, as placement compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    pub legs: i64,
    pub rooms: i64,
}

/// Which of `loads` takes the next room: the fewest legs, then the fewest
/// rooms, then the first; `None` when there are none.
pub(crate) fn least_loaded(loads: impl IntoIterator<Item = Load>) -> Option<usize> {
    loads
        .into_iter()
        .enumerate()
        .min_by_key(|&(i, load)| (load.legs, load.rooms, i))
        .map(|(i, _)| i)
}

impl MixThreads {
    /// Starts `count` mix threads (at least one) whose loads `metrics`
    /// shows. A thread that cannot be started is left out; with none, rooms
    /// mix on the current runtime, sharing its workers.
    pub fn new(count: usize, metrics: &Metrics) -> Self {
        let mut threads = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            match MixThread::start(index, metrics) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    tracing::warn!(thread = index, error = %e, "cannot start a mix thread");
                    break;
                }
            }
        }
        if threads.is_empty() {
            tracing::warn!("no thread for mixing: rooms share the main runtime");
            threads.push(MixThread {
                handle: tokio::runtime::Handle::current(),
                load: Arc::new(ThreadLoad::new(metrics, 0)),
                _stop: None,
            });
        }
        Self { threads }
    }

    /// How many threads rooms are spread over.
    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// Places a new room on the least loaded thread (counted in its rooms
    /// from now on), and says where to spawn it.
    pub(crate) fn place(&self) -> (tokio::runtime::Handle, ThreadSlot) {
        let chosen = least_loaded(self.threads.iter().map(|t| t.load.now())).unwrap_or(0);
        // In bounds: `new` never leaves the list empty, and `least_loaded`
        // chose one of its indices.
        let thread = &self.threads[chosen];
        thread.load.rooms.inc();
        (
            thread.handle.clone(),
            ThreadSlot {
                load: thread.load.clone(),
                legs: 0,
            },
        )
    }
}

impl MixThread {
    fn start(index: usize, metrics: &Metrics) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("confab-mix-{index}"))
            .spawn(move || {
                // Runs the rooms spawned onto `handle` until told to stop;
                // dropping the runtime then drops the rooms left.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            load: Arc::new(ThreadLoad::new(metrics, index)),
            _stop: Some(stop),
        })
    }
}

/// A room's place on its thread: its share of the thread's load, given
/// back when the room ends (however its task ends).
#[derive(Debug)]
pub(crate) struct ThreadSlot {
    load: Arc<ThreadLoad>,
    /// The room's legs counted in the thread's.
    legs: i64,
}

impl ThreadSlot {
    pub(crate) fn leg_added(&mut self) {
        self.legs += 1;
        self.load.legs.inc();
    }

    pub(crate) fn leg_removed(&mut self) {
        if self.legs > 0 {
            self.legs -= 1;
            self.load.legs.dec();
        }
    }

    /// The thread's late-tick counter.
    pub(crate) fn late_ticks(&self) -> &Counter {
        &self.load.late_ticks
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.load.legs.dec_by(self.legs);
        self.load.rooms.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(legs: i64, rooms: i64) -> Load {
        Load { legs, rooms }
    }

    #[test]
    fn the_thread_with_the_fewest_legs_takes_the_room() {
        assert_eq!(
            least_loaded([load(30, 3), load(12, 6), load(20, 1)]),
            Some(1)
        );
    }

    #[test]
    fn equal_legs_go_to_the_fewest_rooms_then_the_first_thread() {
        assert_eq!(least_loaded([load(10, 2), load(10, 1)]), Some(1));
        assert_eq!(least_loaded([load(10, 1), load(10, 1)]), Some(0));
        assert_eq!(least_loaded([]), None);
    }

    #[test]
    fn a_burst_of_empty_rooms_alternates_and_filled_rooms_balance_legs() {
        // Rooms placed before any leg arrives take turns.
        let mut loads = vec![load(0, 0); 2];
        for _ in 0..6 {
            let i = least_loaded(loads.clone()).unwrap_or_default();
            loads[i].rooms += 1;
        }
        assert_eq!(loads, vec![load(0, 3); 2]);
        // One room of 40 on thread 0: the next rooms of 10 fill thread 1 up
        // to 40 legs before thread 0 gets another.
        let mut loads = vec![load(40, 1), load(0, 0)];
        let mut placed = Vec::new();
        for _ in 0..5 {
            let i = least_loaded(loads.clone()).unwrap_or_default();
            loads[i].rooms += 1;
            loads[i].legs += 10;
            placed.push(i);
        }
        assert_eq!(placed, [1, 1, 1, 1, 0]);
    }

    #[tokio::test]
    async fn rooms_count_on_their_thread_until_they_end() {
        let metrics = Metrics::new();
        let threads = MixThreads::new(2, &metrics);
        assert_eq!(threads.count(), 2);
        let (_, mut a) = threads.place();
        a.leg_added();
        a.leg_added();
        let (_, mut b) = threads.place();
        b.leg_added();
        let loads = || -> Vec<Load> { threads.threads.iter().map(|t| t.load.now()).collect() };
        assert_eq!(loads(), [load(2, 1), load(1, 1)]);
        // The next room goes where the fewest legs are.
        let (_, c) = threads.place();
        assert_eq!(loads(), [load(2, 1), load(1, 2)]);
        b.leg_removed();
        b.leg_removed(); // more removals than legs count nothing
        drop(c);
        assert_eq!(loads(), [load(2, 1), load(0, 1)]);
        drop(a);
        assert_eq!(loads(), [load(0, 0), load(0, 1)]);
    }

    #[tokio::test]
    async fn a_room_runs_on_the_thread_it_was_placed_on() {
        let metrics = Metrics::new();
        let threads = MixThreads::new(2, &metrics);
        let mut names = Vec::new();
        let mut slots = Vec::new();
        for _ in 0..2 {
            let (handle, slot) = threads.place();
            slots.push(slot);
            let name = handle
                .spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap_or_default();
            names.push(name.unwrap_or_default());
        }
        assert_eq!(names, ["confab-mix-0", "confab-mix-1"]);
    }
}
