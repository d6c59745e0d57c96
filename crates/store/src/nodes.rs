//! Several nodes on one PostgreSQL (`docs/scaling.md`): each node's lease,
//! which node each live room runs on, and ending a dead node's work.
//!
//! A node's lease is its `nodes` row, renewed every couple of seconds
//! ([`Store::renew_node`]). A room belongs to the node that first claimed its
//! name ([`Store::claim_room`]); the claim goes when the conference completes
//! on that node (in the same transaction, `changes`) or when the node is
//! found dead and another ends its work ([`Store::end_node`]). The database
//! decides every race: a claim is one `INSERT … ON CONFLICT DO NOTHING`, an
//! ending one transaction that only one node's `DELETE` of the lease wins.

use model::{AccountSid, CallSid, CallStatus, ConferenceSid, Timestamp};

use crate::{Store, StoreError};

/// A node as other nodes see it: its id, and where callers are sent to
/// reach it (`host:port`), if it has such an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    pub node_id: String,
    pub sip_addr: Option<String>,
}

/// The messages other nodes send this one (PostgreSQL `LISTEN`), from
/// [`Store::listen_node`].
#[derive(Debug)]
pub struct NodeMessages {
    listener: sqlx::postgres::PgListener,
    /// Where messages too long for a NOTIFY are taken from.
    store: Store,
}

/// The longest payload a NOTIFY carries itself (PostgreSQL refuses 8,000
/// bytes and more); a longer one goes through `node_messages`.
const NOTIFY_MAX: usize = 7_999;
/// What starts a NOTIFY that names a stored message (a JSON payload never
/// starts with it).
const STORED: char = '#';
/// How long a stored message waits for its node: one that never came for
/// it (the node died) is deleted when a later one is stored.
const STORED_FOR_MICROS: i64 = 60_000_000;

impl NodeMessages {
    /// The next message's payload. A lost connection is made again (what
    /// was sent meanwhile is lost: senders time out). A stored message that
    /// is gone (deleted as stale) is skipped.
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        loop {
            let notification = self.listener.recv().await?;
            let payload = notification.payload();
            let Some(id) = payload.strip_prefix(STORED) else {
                return Ok(payload.to_owned());
            };
            let stored: Option<(String,)> =
                sqlx::query_as("DELETE FROM node_messages WHERE id = $1 RETURNING payload")
                    .bind(id)
                    .fetch_optional(&self.store.pool)
                    .await?;
            if let Some((payload,)) = stored {
                return Ok(payload);
            }
        }
    }
}

/// The channel node `node` listens on.
fn channel(node: &str) -> String {
    format!("confab_node_{node}")
}

/// What ending a dead node's work ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeEnded {
    pub conferences: u64,
    pub calls: u64,
}

impl Store {
    /// This store as node `node` of several: calls it records carry the
    /// node, start-up recovery ends only this node's leftovers, and the
    /// conferences it completes give up their room's claim.
    #[must_use]
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The node this store writes as, if it is one of several.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    fn own_node(&self) -> Result<&str, StoreError> {
        self.node()
            .ok_or_else(|| StoreError::Invalid("this store is not a node of several".into()))
    }

    /// Starts listening for messages to this node (PostgreSQL only).
    pub async fn listen_node(&self) -> Result<NodeMessages, StoreError> {
        let node = self.own_node()?;
        let url = self
            .pg_url
            .as_deref()
            .ok_or_else(|| StoreError::Invalid("several nodes need PostgreSQL".into()))?;
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(&channel(node)).await?;
        Ok(NodeMessages {
            listener,
            store: self.clone(),
        })
    }

    /// Sends `payload` to node `node`'s listener, sent `at`. One too long
    /// for a NOTIFY is stored, and the NOTIFY names it.
    pub async fn notify_node(
        &self,
        node: &str,
        payload: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if payload.len() <= NOTIFY_MAX && !payload.starts_with(STORED) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel(node))
                .bind(payload)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM node_messages WHERE stored_at < $1")
            .bind(at.as_micros().saturating_sub(STORED_FOR_MICROS))
            .execute(&mut *tx)
            .await?;
        // The NOTIFY is delivered at the commit, with the row in place.
        sqlx::query(
            "WITH stored AS (INSERT INTO node_messages (id, payload, stored_at) \
             VALUES (md5(random()::text || clock_timestamp()::text), $2, $3) RETURNING id) \
             SELECT pg_notify($1, $4 || id) FROM stored",
        )
        .bind(channel(node))
        .bind(payload)
        .bind(at.as_micros())
        .bind(STORED.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes (or renews) this node's lease, with where callers reach it.
    pub async fn register_node(
        &self,
        sip_addr: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let node = self.own_node()?;
        sqlx::query(
            "INSERT INTO nodes (node_id, sip_addr, renewed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (node_id) DO UPDATE SET sip_addr = $2, renewed_at = $3",
        )
        .bind(node)
        .bind(sip_addr)
        .bind(at.as_micros())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up this node's lease and claims (a clean stop, after its
    /// conferences and calls ended): no node has anything of it to end.
    pub async fn leave_nodes(&self) -> Result<(), StoreError> {
        let node = self.own_node()?;
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM room_claims WHERE node_id = $1",
            "DELETE FROM nodes WHERE node_id = $1",
        ] {
            sqlx::query(sql).bind(node).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Renews this node's lease. `false` if it was gone: another node found
    /// this one dead and ended its rooms and calls.
    pub async fn renew_node(&self, at: Timestamp) -> Result<bool, StoreError> {
        let node = self.own_node()?;
        let done = sqlx::query("UPDATE nodes SET renewed_at = $2 WHERE node_id = $1")
            .bind(node)
            .bind(at.as_micros())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The other nodes whose lease was last renewed before `before`.
    pub async fn expired_nodes(&self, before: Timestamp) -> Result<Vec<String>, StoreError> {
        let node = self.own_node()?;
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT node_id FROM nodes WHERE renewed_at < $1 AND node_id <> $2")
                .bind(before.as_micros())
                .bind(node)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Ends a dead node's work at `at`, in one transaction: its rooms'
    /// conferences complete (their participants go), its live calls end as
    /// start-up recovery ends them, and its claims and lease go. Only the
    /// node whose `DELETE` of the lease took it does anything; for the
    /// others (and for a node whose lease was renewed meanwhile, alive
    /// after all) this ends nothing.
    pub async fn end_node(
        &self,
        node: &str,
        lease_before: Timestamp,
        at: Timestamp,
    ) -> Result<NodeEnded, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("DELETE FROM nodes WHERE node_id = $1 AND renewed_at < $2")
            .bind(node)
            .bind(lease_before.as_micros())
            .execute(&mut *tx)
            .await?;
        if taken.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(NodeEnded::default());
        }
        let conferences = crate::changes::complete_conferences(&mut tx, at, Some(node)).await?;
        let calls = crate::calls::complete_calls(&mut tx, at, Some(node)).await?;
        tx.commit().await?;
        Ok(NodeEnded { conferences, calls })
    }

    /// Claims the room `name` of `account` for this node unless a node
    /// holds it, and returns the holder (this node, if it won).
    pub async fn claim_room(
        &self,
        account: &AccountSid,
        name: &str,
    ) -> Result<NodeRef, StoreError> {
        let node = self.own_node()?;
        sqlx::query(
            "INSERT INTO room_claims (account_sid, friendly_name, node_id) VALUES ($1, $2, $3) \
             ON CONFLICT (account_sid, friendly_name) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(name)
        .bind(node)
        .execute(&self.pool)
        .await?;
        self.room_owner(account, name)
            .await?
            // Only a completion between the two statements could remove it.
            .ok_or_else(|| StoreError::Conflict("the room's claim went as it was made".into()))
    }

    /// Gives up this node's claim on a room (a claim no conference came of).
    pub async fn release_room(&self, account: &AccountSid, name: &str) -> Result<(), StoreError> {
        let node = self.own_node()?;
        sqlx::query(
            "DELETE FROM room_claims WHERE account_sid = $1 AND friendly_name = $2 \
             AND node_id = $3",
        )
        .bind(account.as_str())
        .bind(name)
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The node the room `name` of `account` runs on, if a node claimed it.
    pub async fn room_owner(
        &self,
        account: &AccountSid,
        name: &str,
    ) -> Result<Option<NodeRef>, StoreError> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.node_id, n.sip_addr FROM room_claims r \
             LEFT JOIN nodes n ON n.node_id = r.node_id \
             WHERE r.account_sid = $1 AND r.friendly_name = $2",
        )
        .bind(account.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(node_id, sip_addr)| NodeRef { node_id, sip_addr }))
    }

    /// The node that handles a live call (queued, ringing or in progress),
    /// if the call is live and a node of several recorded it.
    pub async fn call_node(&self, sid: &CallSid) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT node_id FROM calls WHERE sid = $1 AND status IN ($2, $3, $4)")
                .bind(sid.as_str())
                .bind(CallStatus::NotYetDialed.code())
                .bind(CallStatus::Ringing.code())
                .bind(CallStatus::InProgress.code())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(node,)| node))
    }

    /// The node a live conference runs on, if a node claimed its room.
    pub async fn conference_owner(
        &self,
        sid: &ConferenceSid,
    ) -> Result<Option<NodeRef>, StoreError> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.node_id, n.sip_addr FROM conferences c \
             JOIN room_claims r ON r.account_sid = c.account_sid \
               AND r.friendly_name = c.friendly_name \
             LEFT JOIN nodes n ON n.node_id = r.node_id \
             WHERE c.sid = $1 AND c.status <> 2",
        )
        .bind(sid.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(node_id, sip_addr)| NodeRef { node_id, sip_addr }))
    }
}
