//! The one consumer loop, over any queue backend: takes as many deliveries as it has free
//! worker slots (so with Redis the load spreads over the replicas), hands each to the worker
//! in a tracked task, and on stop takes nothing more and waits until every slot is back — each
//! delivery taken was settled and, where the backend keeps slots until then, its outcome
//! written.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::queue::{Consumer, Delivery};
use crate::tasks::Tasks;

/// Most deliveries taken at once.
pub const READ_BATCH: usize = 128;

/// Feeds `queue`'s deliveries to `handle`, at most `concurrency` at a time, until `tasks` is
/// stopping; then waits for the deliveries in flight.
pub async fn run<C, H, F>(mut queue: C, handle: H, concurrency: usize, tasks: Tasks)
where
    C: Consumer,
    H: Fn(Delivery) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let stop = tasks.stopping();
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let mut free = vec![first];
        while free.len() < READ_BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(slot) => free.push(slot),
                Err(_) => break,
            }
        }
        let Some(deliveries) = queue.next(free.len(), &stop).await else {
            break;
        };
        for mut delivery in deliveries {
            let Some(slot) = free.pop() else { break };
            delivery.acker.hold(slot);
            tasks.spawn(handle(delivery));
        }
    }
    let _ = slots.acquire_many(concurrency as u32).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use crate::domain::DeliveryId;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::delivery::job::{DeliveryJob, test_job};
    use crate::delivery::queue::{Acker, Acknowledge, OnWritten, Settle};

    type Log = Arc<Mutex<Vec<String>>>;

    fn note(log: &Log, what: String) {
        log.lock().unwrap().push(what);
    }

    /// A queue fed by the test; its acker notes when a delivery is settled and acknowledged.
    struct FakeQueue {
        rx: mpsc::UnboundedReceiver<DeliveryJob>,
        log: Log,
    }

    struct FakeAcker(Log);

    impl Acknowledge for FakeAcker {
        fn settle(self: Box<Self>, job: &DeliveryJob, how: Settle) -> Option<OnWritten> {
            let id = short(job.delivery_id);
            note(&self.0, format!("settle {id} {how:?}"));
            let log = self.0;
            Some(Box::new(move || note(&log, format!("ack {id}"))))
        }

        fn keeps_slot_until_written(&self) -> bool {
            true
        }
    }

    impl Consumer for FakeQueue {
        async fn next(&mut self, max: usize, stop: &CancellationToken) -> Option<Vec<Delivery>> {
            let job = tokio::select! {
                _ = stop.cancelled() => return None,
                job = self.rx.recv() => job?,
            };
            assert!(max >= 1);
            let acker = Acker::new(FakeAcker(self.log.clone()));
            Some(vec![Delivery { job, acker }])
        }
    }

    fn short(id: DeliveryId) -> String {
        id.to_string()[..4].to_owned()
    }

    /// A worker that settles the first job as done and retries the others, handing what to
    /// run once written to a fake recorder (the test).
    fn worker(
        log: Log,
        written: mpsc::UnboundedSender<OnWritten>,
    ) -> impl Fn(Delivery) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static
    {
        move |Delivery { job, acker }| {
            let (log, written) = (log.clone(), written.clone());
            Box::pin(async move {
                note(&log, format!("send {}", short(job.delivery_id)));
                let then = if job.attempts == 0 {
                    acker.done(&job)
                } else {
                    acker.retry(&job, Duration::from_millis(30))
                };
                let _ = written.send(then.expect("the fake acknowledges after writing"));
            })
        }
    }

    #[tokio::test]
    async fn acknowledges_after_recording_and_keeps_the_slot_until_then() {
        let tasks = Tasks::new();
        let log = Log::default();
        let (jobs, rx) = mpsc::unbounded_channel();
        let (written_tx, mut written) = mpsc::unbounded_channel();
        let queue = FakeQueue {
            rx,
            log: log.clone(),
        };
        let consumer = tasks.spawn(run(
            queue,
            worker(log.clone(), written_tx),
            1,
            tasks.clone(),
        ));
        let (first, mut second) = (test_job(), test_job());
        second.attempts = 1;
        let (a, b) = (short(first.delivery_id), short(second.delivery_id));
        jobs.send(first).unwrap();
        jobs.send(second).unwrap();
        let record_first = written.recv().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            *log.lock().unwrap(),
            [format!("send {a}"), format!("settle {a} Done")],
            "not acknowledged before it is written; its slot is still taken"
        );
        record_first();
        let record_second = written.recv().await.unwrap();
        record_second();
        assert_eq!(
            *log.lock().unwrap(),
            [
                format!("send {a}"),
                format!("settle {a} Done"),
                format!("ack {a}"),
                format!("send {b}"),
                format!("settle {b} Retry(30ms)"),
                format!("ack {b}"),
            ]
        );
        tasks.stop();
        consumer.await.unwrap();
    }

    #[tokio::test]
    async fn stopping_waits_for_deliveries_in_flight_to_be_written() {
        let tasks = Tasks::new();
        let log = Log::default();
        let (jobs, rx) = mpsc::unbounded_channel();
        let (written_tx, mut written) = mpsc::unbounded_channel::<OnWritten>();
        let queue = FakeQueue {
            rx,
            log: log.clone(),
        };
        let consumer = tasks.spawn(run(
            queue,
            worker(log.clone(), written_tx),
            4,
            tasks.clone(),
        ));
        jobs.send(test_job()).unwrap();
        let record = written.recv().await.unwrap();
        tasks.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !consumer.is_finished(),
            "waits for the outcome to be written"
        );
        record();
        tokio::time::timeout(Duration::from_secs(5), consumer)
            .await
            .expect("drained")
            .unwrap();
        assert!(jobs.send(test_job()).is_err(), "the queue was let go of");
        assert_eq!(log.lock().unwrap().len(), 3, "send, settle, ack");
    }
}
