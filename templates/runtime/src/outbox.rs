{#- scaffold
when: uses.outbox
-#}
//! The transactional outbox: an event announcing a state change is as
//! durable as the change. The report names this resolution
//! (`edge-outbox-to-kafka`) where a synchronous call must also reach Kafka,
//! and it is what a handler needs whenever it changes state and must
//! announce it reliably: publishing after the commit loses the event in a
//! crash between the two, publishing before it announces a change that may
//! never commit.
//!
//! - **In the handler's transaction.** [`Outbox::add`] writes the encoded
//!   event as a row of the `outbox` table on the handler's own transaction
//!   ([`Outbox::begin`]), beside its state change: both commit, or neither.
//! - **The relay** ([`Relay`]) publishes the rows in the order they were
//!   numbered with the idempotent producer, each with an
//!   [`EVENT_ID_HEADER`](crate::kafka::EVENT_ID_HEADER),
//!   and deletes a row once the broker acknowledged it. Its producer never
//!   gives up on a record: while the broker is down (for longer than any
//!   delivery timeout) the rows wait in the table, and the relay resumes
//!   where it stopped. A producer that gave up could let a later event of a
//!   key through before an earlier one.
//! - **Order.** A row is numbered when it is inserted: the events of one
//!   transaction, and of transactions one after another, keep their order.
//!   Two transactions running at once on one key are published in the order
//!   they added their events; a change that must order them locks the key's
//!   own row first (`SELECT … FOR UPDATE`). An exactly-once flow announced
//!   through the outbox is published by the idempotent producer, not in a
//!   Kafka transaction: the outbox and the consumers' ids make it once.
//! - **A row the broker refuses for good** (a record over the topic's size
//!   limit, a topic the service may not write) stays in the table, logged
//!   at error level each round, while the rows after it are published and
//!   deleted: delete or fix it. Its key's later events have then reached the
//!   topic before it.
//! - **One relay at a time.** Replicas sharing a `PostgreSQL` database share
//!   one outbox: the one holding the lease (a row of `outbox_relay`, taken
//!   with a conditional `UPDATE`, renewed while half of it is gone, also
//!   while a round waits for the broker) relays, the others stand by and
//!   take over within [`LEASE`] when it dies (by the replicas' clocks, which
//!   must agree within it). One relay keeps every key's order (rows locked
//!   `FOR UPDATE SKIP LOCKED` by several relays would not); the database's
//!   commit rate, not one producer, is what bounds an outbox.
//! - **Copies.** A relay that stops after the broker acknowledged a row and
//!   before deleting it sends that row again when it (or another replica)
//!   resumes; so does a relay that lost its lease while stalled. Every copy
//!   carries the event's id, and consumers that keep the ids they handled
//!   ([`HandledEvents`]) handle it once. Copies of rows sent in order,
//!   dropped by their id, leave the order of first arrivals intact.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{Any, Row as _, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::{
    kafka::{BoxFuture, Deduplication, EventRecord, KafkaError, ProducerSettings, Publisher},
    retry::Backoff,
    store::{Store, millis, now_millis},
    telemetry,
};

/// Most rows one round of the relay publishes.
pub const BATCH: u32 = 500;
/// How often an idle relay (or one standing by) looks at the table; an
/// event added through [`Outbox::commit`] wakes this replica's relay at once.
pub const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long the relay's lease lasts without being renewed: after a relay
/// dies, another replica takes over within this.
pub const LEASE: Duration = Duration::from_secs(10);
/// Pauses after a failed round (the database or the broker down).
pub const RETRY_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(5),
};
/// How long the ids of handled events are kept: a copy arriving later than
/// this is handled again. Copies come within the relay's retries, minutes at
/// most.
pub const HANDLED_KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The outbox of one service: where its handlers add events, and what wakes
/// its relay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    wake: Arc<Notify>,
}

impl Outbox {
    /// The outbox kept in `store`.
    pub fn new(store: &Store) -> Self {
        Outbox {
            store: store.clone(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The database the outbox lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Begins a transaction for a state change and the events announcing it.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.store.ready().await?;
        self.store.pool().begin().await
    }

    /// Adds `event` to the outbox, on `tx`: it is published once `tx`
    /// commits, and never if it rolls back. Returns the event's id, which
    /// every copy of it carries.
    pub async fn add(
        &self,
        tx: &mut Transaction<'_, Any>,
        event: EventRecord<'_>,
    ) -> Result<String, sqlx::Error> {
        let event_id = uuid::Uuid::new_v4().to_string();
        // The request's trace continues where the relay publishes it.
        let traceparent = match event.traceparent {
            Some(context) => Some(context.to_owned()),
            None => crate::trace::traceparent(),
        };
        sqlx::query(
            "INSERT INTO outbox \
             (event_id, flow, topic, record_key, payload, content_type, created_at, \
              traceparent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(event_id.as_str())
        .bind(event.flow)
        .bind(event.topic)
        .bind(event.key)
        .bind(event.payload)
        .bind(event.content_type)
        .bind(now_millis())
        .bind(traceparent)
        .execute(&mut **tx)
        .await?;
        Ok(event_id)
    }

    /// Commits `tx` and wakes the relay, which publishes its events at once
    /// (a transaction committed otherwise waits for the relay's next look,
    /// [`IDLE_POLL`] at most).
    pub async fn commit(&self, tx: Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// How many events wait to be published.
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        self.store.ready().await?;
        backlog(&self.store).await
    }

    /// The relay of this outbox, publishing with a producer made from
    /// `settings` (its delivery timeout and idempotence are the relay's
    /// own: no timeout, idempotent). It holds the lease as
    /// `<client id>-<random UUID>`: one name per running instance.
    pub fn relay(&self, settings: &ProducerSettings) -> Result<Relay, KafkaError> {
        let settings = settings
            .clone()
            .idempotent(true)
            .delivery_timeout(Duration::ZERO);
        Ok(Relay {
            store: self.store.clone(),
            wake: Arc::clone(&self.wake),
            publisher: Publisher::new(&settings)?,
            held_until: AtomicI64::new(0),
            holder: format!("{}-{}", settings.client_id, uuid::Uuid::new_v4()),
            brokers: settings.brokers,
        })
    }
}

/// How many events wait in `store`'s outbox.
async fn backlog(store: &Store) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) FROM outbox")
        .fetch_one(store.pool())
        .await?
        .try_get(0)
}

/// Publishes an outbox's rows while it holds the lease: see the module's
/// documentation.
pub struct Relay {
    store: Store,
    wake: Arc<Notify>,
    publisher: Publisher,
    /// Until when this replica holds the lease, by its clock (0: it does
    /// not).
    held_until: AtomicI64,
    holder: String,
    brokers: String,
}

/// Why a round of the relay stopped short.
#[derive(Debug)]
pub enum RelayError {
    /// The database failed a statement.
    Database(sqlx::Error),
    /// The broker refused a record (the rows from it on wait).
    Kafka(KafkaError),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Database(err) => write!(f, "database error: {err}"),
            RelayError::Kafka(err) => write!(f, "Kafka error: {err}"),
        }
    }
}

impl std::error::Error for RelayError {}

impl From<sqlx::Error> for RelayError {
    fn from(err: sqlx::Error) -> Self {
        RelayError::Database(err)
    }
}

impl Relay {
    /// Relays until `shutdown` is cancelled, then gives up the lease so
    /// that another replica takes over at once. A round in progress is
    /// dropped: its rows stay and are published again.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(holder = %self.holder, brokers = %self.brokers, "outbox relay started");
        let mut failures = 0;
        let mut counted: Option<Instant> = None;
        loop {
            let round = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                round = self.round() => round,
            };
            // The backlog gauge, counted at most once per statistics
            // interval: a count scans the table. Every replica reports it.
            if counted.is_none_or(|at| at.elapsed() >= telemetry::STATISTICS_INTERVAL) {
                counted = Some(Instant::now());
                match backlog(&self.store).await {
                    Ok(events) => telemetry::outbox_backlog(events),
                    Err(err) => debug!(%err, "cannot count the outbox backlog"),
                }
            }
            let pause = match round {
                Ok(published) if published == BATCH as usize => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    IDLE_POLL
                }
                Err(err) => {
                    let delay = RETRY_BACKOFF.delay(failures);
                    failures += 1;
                    warn!(%err, ?delay, "outbox relay round failed; the rows wait");
                    delay
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(err) = self.release().await {
            warn!(%err, "cannot give up the outbox lease; another replica waits for it to expire");
        }
        // Dropping a producer purges and flushes: off the async workers.
        let publisher = self.publisher;
        let _ = tokio::task::spawn_blocking(move || drop(publisher)).await;
        info!("outbox relay stopped");
    }

    /// One round: takes or renews the lease, publishes the oldest rows in
    /// order and deletes those acknowledged. Returns how many were published
    /// (0 without the lease).
    pub async fn round(&self) -> Result<usize, RelayError> {
        self.store.ready().await?;
        if !self.hold_lease().await? {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT id, event_id, flow, topic, record_key, payload, content_type, traceparent \
             FROM outbox ORDER BY id LIMIT $1",
        )
        .bind(i64::from(BATCH))
        .fetch_all(self.store.pool())
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let rows: Vec<Row> = rows.iter().map(Row::read).collect::<Result<_, _>>()?;
        // Queued in order, so each key's events reach the broker in order.
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let delivery = self
                .publisher
                .queue_identified(row.record(), &row.event_id)
                .await;
            pending.push((row, delivery));
        }
        // The lease is renewed while the broker keeps the round waiting, so
        // that no other replica starts sending the same rows meanwhile.
        let mut renew = tokio::time::interval(LEASE / 4);
        let mut sent = Vec::with_capacity(rows.len());
        let mut refused = None;
        for (row, queued) in pending {
            let outcome = match queued {
                Ok(delivery) => {
                    let mut delivery = std::pin::pin!(delivery);
                    loop {
                        tokio::select! {
                            outcome = &mut delivery => break outcome,
                            _ = renew.tick() => {
                                if !self.hold_lease().await? {
                                    warn!("outbox lease lost while waiting for the broker");
                                }
                            }
                        }
                    }
                }
                Err(err) => Err(err),
            };
            match outcome {
                Ok(_) => sent.push(row.id),
                Err(err) => {
                    error!(
                        row = row.id, event_id = %row.event_id, flow = %row.flow,
                        key = %row.key, %err,
                        "the broker refused an outbox row; it stays in the table"
                    );
                    refused.get_or_insert(err);
                }
            }
        }
        self.delete(&sent).await?;
        debug!(published = sent.len(), "outbox rows published");
        match refused {
            Some(err) => Err(RelayError::Kafka(err)),
            None => Ok(sent.len()),
        }
    }

    /// Takes the lease if it is free or expired, renews it once half of it
    /// is gone; says whether this replica holds it. A replica holding it
    /// writes nothing more often than that.
    async fn hold_lease(&self) -> Result<bool, sqlx::Error> {
        let now = now_millis();
        if now < self.held_until.load(Ordering::Relaxed) - millis(LEASE / 2) {
            return Ok(true);
        }
        let taken = sqlx::query(
            "UPDATE outbox_relay SET holder = $1, expires_at = $2 \
             WHERE name = 'relay' AND (holder = $1 OR expires_at < $3)",
        )
        .bind(self.holder.as_str())
        .bind(now.saturating_add(millis(LEASE)))
        .bind(now)
        .execute(self.store.pool())
        .await?;
        let held = taken.rows_affected() == 1;
        let until = if held {
            now.saturating_add(millis(LEASE))
        } else {
            0
        };
        self.held_until.store(until, Ordering::Relaxed);
        Ok(held)
    }

    /// Lets the lease expire now, if this replica holds it.
    async fn release(&self) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox_relay SET expires_at = 0 WHERE name = 'relay' AND holder = $1")
            .bind(self.holder.as_str())
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Deletes the rows `ids` names.
    async fn delete(&self, ids: &[i64]) -> Result<(), sqlx::Error> {
        if ids.is_empty() {
            return Ok(());
        }
        // Numbers from the table itself: nothing to escape.
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM outbox WHERE id IN ({list})"
        )))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }
}

/// One row of the outbox.
struct Row {
    id: i64,
    event_id: String,
    flow: String,
    topic: String,
    key: String,
    payload: Vec<u8>,
    content_type: String,
    traceparent: Option<String>,
}

impl Row {
    fn read(row: &sqlx::any::AnyRow) -> Result<Row, sqlx::Error> {
        Ok(Row {
            id: row.try_get("id")?,
            event_id: row.try_get("event_id")?,
            flow: row.try_get("flow")?,
            topic: row.try_get("topic")?,
            key: row.try_get("record_key")?,
            payload: row.try_get("payload")?,
            content_type: row.try_get("content_type")?,
            traceparent: row.try_get("traceparent")?,
        })
    }

    fn record(&self) -> EventRecord<'_> {
        EventRecord {
            flow: &self.flow,
            topic: &self.topic,
            key: &self.key,
            payload: &self.payload,
            content_type: &self.content_type,
            exactly_once: false,
            traceparent: self.traceparent.as_deref(),
        }
    }
}

/// The ids of the events each consumer group of a service handled, in its
/// database: with it, a consumer handles each event of an outbox once,
/// however many copies the relay sent. An id is recorded after its handler
/// succeeded; a crash between the two handles that event again.
#[derive(Debug, Clone)]
pub struct HandledEvents {
    store: Store,
    purged_at: Arc<AtomicI64>,
}

impl HandledEvents {
    /// The ids kept in `store`.
    pub fn new(store: &Store) -> Self {
        HandledEvents {
            store: store.clone(),
            purged_at: Arc::new(AtomicI64::new(0)),
        }
    }

    async fn was_handled(&self, group: &str, event_id: &str) -> Result<bool, sqlx::Error> {
        self.store.ready().await?;
        let row = sqlx::query("SELECT 1 FROM handled_events WHERE consumer = $1 AND event_id = $2")
            .bind(group)
            .bind(event_id)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.is_some())
    }

    async fn record(&self, group: &str, event_id: &str) -> Result<(), sqlx::Error> {
        let now = now_millis();
        sqlx::query(
            "INSERT INTO handled_events (consumer, event_id, handled_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(group)
        .bind(event_id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        // At most once an hour, whichever consumer gets here first.
        let last = self.purged_at.load(Ordering::Relaxed);
        if now - last > 60 * 60 * 1000
            && self
                .purged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            sqlx::query("DELETE FROM handled_events WHERE handled_at < $1")
                .bind(now - millis(HANDLED_KEEP_FOR))
                .execute(self.store.pool())
                .await?;
        }
        Ok(())
    }
}

impl Deduplication for HandledEvents {
    fn handled_before<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move { Ok(self.was_handled(group, event_id).await?) })
    }

    fn remember<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(self.record(group, event_id).await?) })
    }
}
