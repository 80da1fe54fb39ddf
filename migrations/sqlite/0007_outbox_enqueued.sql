-- Redis queue (several replicas): when a delivery reached the Redis Stream. Outbox rows still
-- NULL a while after they were written never reached Redis (it was down, or the replica died
-- between commit and enqueue); a sweeper enqueues them. Unused by the embedded queue.
ALTER TABLE deliveries ADD COLUMN enqueued_at BIGINT;
CREATE INDEX deliveries_unenqueued ON deliveries (date_updated)
    WHERE enqueued_at IS NULL AND status IN ('queued', 'retrying');
