//! The cycle's slots for apps in progress, given back while an app waits out a retry's backoff.
//!
//! The cycle works on `concurrency` apps at a time. An app whose request failed transiently
//! sleeps 1 to 24 s before its retry (Key Vault's and Entra ID's backoff); holding its slot
//! meanwhile, a few such apps left a paced vault's write budget unused (`--faults flaky` at
//! 10,000 apps: 170 to 225 writes per 10 s window instead of 235). [`hold`] runs an app's work
//! in a slot; [`released_while`], called by the retry loops around their sleep, gives the
//! slot to the next app and takes one back before the retry is sent.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

struct Slot {
    slots: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

tokio::task_local! {
    static SLOT: RefCell<Slot>;
}

/// Runs `work` in one of `slots`' permits, waiting for one first. Inside it,
/// [`released_while`] frees the permit around a wait.
pub async fn hold<F: Future>(slots: Arc<Semaphore>, work: F) -> F::Output {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the cycle's semaphore is never closed");
    let slot = Slot {
        slots,
        permit: Some(permit),
    };
    SLOT.scope(RefCell::new(slot), work).await
}

/// Awaits `wait` (a retry's backoff) without the slot of the work it runs in, if any, and takes
/// a slot back before returning. Outside [`hold`] it only awaits `wait`.
pub async fn released_while<F: Future>(wait: F) -> F::Output {
    let slots = SLOT
        .try_with(|s| {
            let mut s = s.borrow_mut();
            s.permit.take().map(drop).map(|_| s.slots.clone())
        })
        .ok()
        .flatten();
    let out = wait.await;
    if let Some(slots) = slots {
        let permit = slots
            .acquire_owned()
            .await
            .expect("the cycle's semaphore is never closed");
        let _ = SLOT.try_with(|s| s.borrow_mut().permit = Some(permit));
    }
    out
}

/// Whether the work being polled holds a slot (for tests).
#[cfg(test)]
fn holding() -> bool {
    SLOT.try_with(|s| s.borrow().permit.is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_backoff_frees_the_slot_for_the_next_work_and_takes_one_back() {
        let slots = Arc::new(Semaphore::new(1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let first = {
            let tx = tx.clone();
            hold(slots.clone(), async move {
                tx.send("first starts").expect("the receiver lives");
                released_while(tokio::time::sleep(Duration::from_secs(5))).await;
                assert!(holding(), "a slot is taken back after the wait");
                tx.send("first retries").expect("the receiver lives");
                tokio::time::sleep(Duration::from_secs(1)).await;
                tx.send("first ends").expect("the receiver lives");
            })
        };
        let second = {
            let tx = tx.clone();
            hold(slots.clone(), async move {
                tx.send("second starts").expect("the receiver lives");
                tokio::time::sleep(Duration::from_secs(2)).await;
                tx.send("second ends").expect("the receiver lives");
            })
        };
        tokio::join!(first, second);
        drop(tx);
        let mut order = Vec::new();
        while let Some(e) = rx.recv().await {
            order.push(e);
        }
        assert_eq!(
            order,
            [
                "first starts",
                "second starts",
                "second ends",
                "first retries",
                "first ends"
            ],
            "the second ran in the slot the first gave up while it waited"
        );
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_release_the_second_waits_for_the_first() {
        let slots = Arc::new(Semaphore::new(1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let first = {
            let tx = tx.clone();
            hold(slots.clone(), async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                tx.send("first ends").expect("the receiver lives");
            })
        };
        let second = {
            let tx = tx.clone();
            hold(slots.clone(), async move {
                tx.send("second starts").expect("the receiver lives");
            })
        };
        tokio::join!(first, second);
        drop(tx);
        assert_eq!(rx.recv().await, Some("first ends"));
        assert_eq!(rx.recv().await, Some("second starts"));
    }

    #[tokio::test]
    async fn outside_a_slot_the_wait_is_only_a_wait() {
        assert!(!holding());
        assert_eq!(released_while(async { 7 }).await, 7);
    }
}
