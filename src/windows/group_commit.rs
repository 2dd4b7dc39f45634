//! Group commit: requests that arrive while a call is in flight go out together as the next one.
//!
//! A report costs Redis one script call, and each call costs both processes a socket write, a
//! read and a wake-up: under load those system calls, not the counting, were most of the work.
//! So each thread keeps a queue. A request that finds no call in flight starts one at once (no
//! added wait when the connection is idle); requests that arrive meanwhile wait in the queue and
//! leave as one batch (at most `max_batch`) as soon as the call in flight returns. Each request
//! still gets its own answer, and only after the call that carried it has returned.
//!
//! The calls run in a spawned task, not in the request that started them, so a client that hangs
//! up cannot cancel the batch carrying other clients' reports. A request that stops waiting
//! before its batch leaves (a deadline, a client gone) takes its item out: nobody is told it
//! was counted, so it is not sent. If that task dies (a panic, a
//! runtime shutting down), every request it held or queued gets `None`: never a silent success.
//!
//! The queues are per thread because connections are per thread (see `redis_conn`): actix-web
//! runs one single-threaded runtime per worker, and each worker's batches go out on its own
//! connection.
//!
//! Each thread's queue is split into lanes, and a batch holds items of one lane only. On one
//! Redis server there is one lane. On a Redis Cluster the lane is the items' hash slot: a
//! script call must touch one slot anyway, and a batch is answered when its call returns, so a
//! batch that mixed slots would make every report in it wait for the slowest master (with one
//! master down, its deadline). Per slot, a dead master holds up only the reports of its own
//! slots. A lane exists only while it has a call in flight or items waiting, so the lanes of
//! 16,384 slots cost nothing while idle.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::Hash;
use std::mem;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Source of per-thread queue numbers.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's queue number (threads take numbers in turn, so two threads share a queue
    /// only when there are more threads than queues).
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// Queues per group commit: more than the worker threads of any instance we run.
const QUEUES: usize = 64;

/// Batches `T`s into calls that answer each with an `R`; cheap to clone (clones share queues).
pub struct GroupCommit<L, T, R> {
    shared: Arc<Shared<L, T, R>>,
}

impl<L, T, R> Clone for GroupCommit<L, T, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<L, T, R> {
    /// Per thread number: the lanes with a call in flight (a lane present is a lane whose
    /// `drain` task runs), with the items waiting behind that call.
    queues: Vec<Mutex<Lanes<L, T, R>>>,
    max_batch: usize,
    calls: AtomicU64,
    items: AtomicU64,
}

type Lanes<L, T, R> = HashMap<L, Vec<(T, oneshot::Sender<R>)>>;

/// Calls made and items carried so far, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Carried {
    /// Calls made.
    pub calls: u64,
    /// Items those calls carried.
    pub items: u64,
}

impl<L, T, R> GroupCommit<L, T, R>
where
    L: Eq + Hash + Copy + Send + Sync + 'static,
    T: Send + 'static,
    R: Send + 'static,
{
    /// Batches of at most `max_batch` items (at least one).
    pub fn new(max_batch: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queues: (0..QUEUES).map(|_| Mutex::new(HashMap::new())).collect(),
                max_batch: max_batch.max(1),
                calls: AtomicU64::new(0),
                items: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `item` with whatever else is waiting in `lane`, and returns its answer: `None` if
    /// the call carrying it was lost without one (its task died).
    ///
    /// `call` turns a batch (items of `lane` alone) into one answer per item, in order; it is
    /// used only if this request has to start the lane's calls, and then for every batch until
    /// the lane runs dry.
    pub async fn submit<F, Fut>(&self, lane: L, item: T, call: F) -> Option<R>
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let queue = THREAD.with(|n| *n) % QUEUES;
        let (reply, answer) = oneshot::channel();
        let start = match lock(&self.shared.queues[queue]).entry(lane) {
            Entry::Occupied(mut waiting) => {
                waiting.get_mut().push((item, reply));
                false
            }
            Entry::Vacant(idle) => {
                idle.insert(vec![(item, reply)]);
                true
            }
        };
        if start {
            tokio::spawn(drain(Arc::clone(&self.shared), queue, lane, call));
        }
        answer.await.ok()
    }

    /// Calls made and items carried since this group commit was created.
    pub fn carried(&self) -> Carried {
        Carried {
            calls: self.shared.calls.load(Ordering::Relaxed),
            items: self.shared.items.load(Ordering::Relaxed),
        }
    }
}

/// Sends `lane`'s batches until it is empty, then removes it (marks it idle).
async fn drain<L, T, R, F, Fut>(shared: Arc<Shared<L, T, R>>, queue: usize, lane: L, call: F)
where
    L: Eq + Hash + Copy,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let lanes = &shared.queues[queue];
    let idle_on_exit = IdleOnExit { lanes, lane };
    loop {
        let batch = {
            let mut lanes = lock(lanes);
            let Some(waiting) = lanes.get_mut(&lane) else {
                // Not reached: only this task removes its lane.
                mem::forget(idle_on_exit);
                return;
            };
            // A request that stopped waiting (its deadline passed, its client left) was never
            // answered: its item is not sent.
            waiting.retain(|(_, reply)| !reply.is_closed());
            if waiting.is_empty() {
                lanes.remove(&lane);
                mem::forget(idle_on_exit);
                return;
            }
            let take = waiting.len().min(shared.max_batch);
            let rest = waiting.split_off(take);
            mem::replace(waiting, rest)
        };
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
        shared.calls.fetch_add(1, Ordering::Relaxed);
        shared.items.fetch_add(
            u64::try_from(items.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        metrics::histogram!("downwatch_redis_batch_reports").record(items.len() as f64);
        let answers = call(items).await;
        // An answer missing (a call that returned too few) leaves its request without one.
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The requester may have gone; its item was still sent.
            let _ = reply.send(answer);
        }
    }
}

/// On an abnormal exit of `drain` (panic, cancelled task): fails everything still queued in
/// its lane and lets the next request start a new call.
struct IdleOnExit<'a, L: Eq + Hash, T, R> {
    lanes: &'a Mutex<Lanes<L, T, R>>,
    lane: L,
}

impl<L: Eq + Hash, T, R> Drop for IdleOnExit<'_, L, T, R> {
    fn drop(&mut self) {
        lock(self.lanes).remove(&self.lane);
    }
}

/// A thread's lanes, even if a thread panicked while holding them (their state is plain lists).
fn lock<L, T, R>(lanes: &Mutex<Lanes<L, T, R>>) -> MutexGuard<'_, Lanes<L, T, R>> {
    lanes.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// A call that doubles each item, after yielding once (like a round trip).
    async fn double(items: Vec<u32>) -> Vec<u32> {
        tokio::task::yield_now().await;
        items.into_iter().map(|i| i * 2).collect()
    }

    #[tokio::test]
    async fn one_request_alone_is_sent_at_once_in_a_call_of_its_own() {
        let group = GroupCommit::new(64);
        assert_eq!(group.submit((), 21, double).await, Some(42));
        assert_eq!(group.carried(), Carried { calls: 1, items: 1 });
    }

    #[tokio::test]
    async fn concurrent_requests_share_calls_and_each_gets_its_own_answer() {
        let group = GroupCommit::new(64);
        let answers = join_all((0..100u32).map(|i| group.submit((), i, double))).await;
        let expected: Vec<Option<u32>> = (0..100).map(|i| Some(i * 2)).collect();
        assert_eq!(answers, expected);
        // All 100 queue before the first call starts: two calls of at most 64.
        assert_eq!(
            group.carried(),
            Carried {
                calls: 2,
                items: 100
            }
        );
    }

    #[tokio::test]
    async fn requests_arriving_during_a_call_go_out_together_in_the_next() {
        let group = GroupCommit::new(64);
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::clone(&release);
        let slow = move |items: Vec<u32>| {
            let gate = Arc::clone(&gate);
            async move {
                gate.notified().await;
                items
            }
        };
        let first = tokio::spawn({
            let group = group.clone();
            let slow = slow.clone();
            async move { group.submit((), 1, slow).await }
        });
        // Let the first call start, then queue eight more behind it.
        while group.carried().calls == 0 {
            tokio::task::yield_now().await;
        }
        let later = tokio::spawn({
            let group = group.clone();
            async move { join_all((2..10u32).map(|i| group.submit((), i, slow.clone()))).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(1));
        while group.carried().calls < 2 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        let later = later.await.unwrap();
        assert_eq!(later, (2..10).map(Some).collect::<Vec<_>>());
        assert_eq!(group.carried(), Carried { calls: 2, items: 9 });
    }

    #[tokio::test]
    async fn a_request_that_stopped_waiting_is_not_sent() {
        let group = GroupCommit::new(64);
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::clone(&release);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sent);
        let slow = move |items: Vec<u32>| {
            let gate = Arc::clone(&gate);
            seen.lock().unwrap().extend(items.iter().copied());
            async move {
                gate.notified().await;
                items
            }
        };
        let first = tokio::spawn({
            let group = group.clone();
            let slow = slow.clone();
            async move { group.submit((), 1, slow).await }
        });
        while group.carried().calls == 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind the call in flight, then given up on (as a deadline would).
        let gave_up =
            tokio::time::timeout(Duration::from_millis(1), group.submit((), 2, slow)).await;
        assert!(gave_up.is_err());
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(1));
        assert_eq!(*sent.lock().unwrap(), vec![1]);
        assert_eq!(group.carried(), Carried { calls: 1, items: 1 });
    }

    #[tokio::test]
    async fn a_call_that_dies_answers_none_and_the_next_request_starts_afresh() {
        let group: GroupCommit<(), u32, u32> = GroupCommit::new(8);
        let fail = Arc::new(AtomicBool::new(true));
        let call = {
            let fail = Arc::clone(&fail);
            move |items: Vec<u32>| {
                let fail = fail.load(Ordering::Relaxed);
                async move {
                    assert!(!fail, "the call panics");
                    items
                }
            }
        };
        let lost = join_all((0..3).map(|i| group.submit((), i, call.clone()))).await;
        assert_eq!(lost, vec![None, None, None]);
        fail.store(false, Ordering::Relaxed);
        let answer = tokio::time::timeout(Duration::from_secs(5), group.submit((), 7, call)).await;
        assert_eq!(answer.expect("a new call starts"), Some(7));
    }

    #[tokio::test]
    async fn a_call_answering_too_few_leaves_the_rest_without_an_answer() {
        let group = GroupCommit::new(8);
        let short = |items: Vec<u32>| async move { items.into_iter().take(1).collect() };
        let answers = join_all((0..3u32).map(|i| group.submit((), i, short))).await;
        assert_eq!(answers, vec![Some(0), None, None]);
    }

    #[tokio::test]
    async fn a_lane_whose_call_hangs_holds_up_only_its_own_items() {
        let group = GroupCommit::new(64);
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::clone(&release);
        // Lane 1's calls wait for the gate (a dead master); lane 2's answer at once.
        let call = move |items: Vec<(u16, u32)>| {
            let gate = Arc::clone(&gate);
            async move {
                if items[0].0 == 1 {
                    gate.notified().await;
                }
                assert!(
                    items.iter().all(|(lane, _)| *lane == items[0].0),
                    "one lane a batch"
                );
                items.into_iter().map(|(_, i)| i).collect::<Vec<u32>>()
            }
        };
        let stuck = tokio::spawn({
            let group = group.clone();
            let call = call.clone();
            async move { join_all((0..5u32).map(|i| group.submit(1, (1, i), call.clone()))).await }
        });
        while group.carried().calls == 0 {
            tokio::task::yield_now().await;
        }
        let free = join_all((0..5u32).map(|i| group.submit(2, (2, i), call.clone()))).await;
        assert_eq!(free, (0..5).map(Some).collect::<Vec<_>>());
        assert!(!stuck.is_finished());
        release.notify_one();
        release.notify_one();
        let stuck = stuck.await.unwrap();
        assert_eq!(stuck, (0..5).map(Some).collect::<Vec<_>>());
    }
}
