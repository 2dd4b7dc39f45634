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
//! The queue is per thread because connections are per thread (see `redis_conn`): actix-web runs
//! one single-threaded runtime per worker, and each worker's batches go out on its own connection.

use std::future::Future;
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
pub struct GroupCommit<T, R> {
    shared: Arc<Shared<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<T, R> {
    queues: Vec<Arc<Mutex<Queue<T, R>>>>,
    max_batch: usize,
    calls: AtomicU64,
    items: AtomicU64,
}

struct Queue<T, R> {
    waiting: Vec<(T, oneshot::Sender<R>)>,
    in_flight: bool,
}

/// Calls made and items carried so far, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Carried {
    /// Calls made.
    pub calls: u64,
    /// Items those calls carried.
    pub items: u64,
}

impl<T, R> GroupCommit<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    /// Batches of at most `max_batch` items (at least one).
    pub fn new(max_batch: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queues: (0..QUEUES)
                    .map(|_| {
                        Arc::new(Mutex::new(Queue {
                            waiting: Vec::new(),
                            in_flight: false,
                        }))
                    })
                    .collect(),
                max_batch: max_batch.max(1),
                calls: AtomicU64::new(0),
                items: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `item` with whatever else is waiting, and returns its answer: `None` if the call
    /// carrying it was lost without one (its task died).
    ///
    /// `call` turns a batch into one answer per item, in order; it is used only if this
    /// request has to start the calls, and then for every batch until the queue runs dry.
    pub async fn submit<F, Fut>(&self, item: T, call: F) -> Option<R>
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let queue = &self.shared.queues[THREAD.with(|n| *n) % QUEUES];
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut waiting = lock(queue);
            waiting.waiting.push((item, reply));
            !mem::replace(&mut waiting.in_flight, true)
        };
        if start {
            tokio::spawn(drain(Arc::clone(&self.shared), Arc::clone(queue), call));
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

/// Sends batches until the queue is empty, then marks it idle.
async fn drain<T, R, F, Fut>(shared: Arc<Shared<T, R>>, queue: Arc<Mutex<Queue<T, R>>>, call: F)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let idle_on_exit = IdleOnExit(&queue);
    loop {
        let batch = {
            let mut waiting = lock(&queue);
            if waiting.waiting.is_empty() {
                waiting.in_flight = false;
                mem::forget(idle_on_exit);
                return;
            }
            // A request that stopped waiting (its deadline passed, its client left) was never
            // answered: its item is not sent.
            waiting.waiting.retain(|(_, reply)| !reply.is_closed());
            if waiting.waiting.is_empty() {
                continue;
            }
            let take = waiting.waiting.len().min(shared.max_batch);
            let rest = waiting.waiting.split_off(take);
            mem::replace(&mut waiting.waiting, rest)
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

/// On an abnormal exit of `drain` (panic, cancelled task): fails everything still queued and
/// lets the next request start a new call.
struct IdleOnExit<'a, T, R>(&'a Mutex<Queue<T, R>>);

impl<T, R> Drop for IdleOnExit<'_, T, R> {
    fn drop(&mut self) {
        let mut queue = lock(self.0);
        queue.waiting.clear();
        queue.in_flight = false;
    }
}

/// The queue, even if a thread panicked while holding it (its state is a plain list).
fn lock<T, R>(queue: &Mutex<Queue<T, R>>) -> MutexGuard<'_, Queue<T, R>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
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
        assert_eq!(group.submit(21, double).await, Some(42));
        assert_eq!(group.carried(), Carried { calls: 1, items: 1 });
    }

    #[tokio::test]
    async fn concurrent_requests_share_calls_and_each_gets_its_own_answer() {
        let group = GroupCommit::new(64);
        let answers = join_all((0..100u32).map(|i| group.submit(i, double))).await;
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
            async move { group.submit(1, slow).await }
        });
        // Let the first call start, then queue eight more behind it.
        while group.carried().calls == 0 {
            tokio::task::yield_now().await;
        }
        let later = tokio::spawn({
            let group = group.clone();
            async move { join_all((2..10u32).map(|i| group.submit(i, slow.clone()))).await }
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
            async move { group.submit(1, slow).await }
        });
        while group.carried().calls == 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind the call in flight, then given up on (as a deadline would).
        let gave_up = tokio::time::timeout(Duration::from_millis(1), group.submit(2, slow)).await;
        assert!(gave_up.is_err());
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(1));
        assert_eq!(*sent.lock().unwrap(), vec![1]);
        assert_eq!(group.carried(), Carried { calls: 1, items: 1 });
    }

    #[tokio::test]
    async fn a_call_that_dies_answers_none_and_the_next_request_starts_afresh() {
        let group: GroupCommit<u32, u32> = GroupCommit::new(8);
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
        let lost = join_all((0..3).map(|i| group.submit(i, call.clone()))).await;
        assert_eq!(lost, vec![None, None, None]);
        fail.store(false, Ordering::Relaxed);
        let answer = tokio::time::timeout(Duration::from_secs(5), group.submit(7, call)).await;
        assert_eq!(answer.expect("a new call starts"), Some(7));
    }

    #[tokio::test]
    async fn a_call_answering_too_few_leaves_the_rest_without_an_answer() {
        let group = GroupCommit::new(8);
        let short = |items: Vec<u32>| async move { items.into_iter().take(1).collect() };
        let answers = join_all((0..3u32).map(|i| group.submit(i, short))).await;
        assert_eq!(answers, vec![Some(0), None, None]);
    }
}
