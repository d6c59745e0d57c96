//! The store: the only crate that knows SQL.
//!
//! One [`Store`] serves SQLite (the embedded default, a WAL file created on
//! demand) and PostgreSQL, chosen by URL, through sqlx's `Any` driver: the
//! same migrations (`migrations/`) and the same queries (`$1…$N`
//! placeholders work on both) run on both. Times are `BIGINT` microseconds
//! ([`model::Timestamp`]), booleans `BIGINT` 0/1, so both backends compare
//! and sort them alike.
//!
//! Filtering, counting and paging happen in SQL with indexes; nothing here
//! loads a table to filter it in memory.
//!
//! Writes that come from a room ([`Change`]) are applied in one transaction
//! per batch, and every change to a conference or its participants moves
//! the conference's `date_updated` forward (never back).

use model::{
    Account, AccountSid, CallSid, ConferenceFilter, ConferenceRecord, ConferenceSid,
    ConferenceStatus, PageRequest, ParticipantFilter, ParticipantRecord, PhoneNumber,
    PhoneNumberSid, Timestamp,
};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What can go wrong in the store. Callers map these to their wire
/// (the API to a `RestException`, the CLI to a message).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database confab can use.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// A unique constraint refused the write (a taken phone number, a second
    /// live conference with the same name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the write refers to does not exist (an unknown account).
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored value could not be read back as its type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One state change of a room, as the conference core reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new conference instance (its status is in the record, normally init).
    ConferenceCreated(ConferenceRecord),
    /// The conference moved to `status` at `at`. Completing a conference
    /// also removes any participant rows it still has.
    ConferenceStatus {
        sid: ConferenceSid,
        status: ConferenceStatus,
        at: Timestamp,
    },
    /// A caller joined (the record's `date_created` is the join time).
    ParticipantJoined(ParticipantRecord),
    /// A caller left, for any reason.
    ParticipantLeft {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        at: Timestamp,
    },
    /// A caller was muted or unmuted.
    ParticipantMuted {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        muted: bool,
        at: Timestamp,
    },
}

/// A handle on the database; cheap to clone (a connection pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Connects to `sqlite://PATH` (file created if missing, WAL) or
    /// `postgres://…`/`postgresql://…`, and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let _ = url;
        unimplemented!()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    // --- accounts ---

    pub async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let _ = account;
        unimplemented!()
    }

    pub async fn account(&self, sid: &AccountSid) -> Result<Option<Account>, StoreError> {
        let _ = sid;
        unimplemented!()
    }

    /// All accounts, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        unimplemented!()
    }

    // --- phone numbers ---

    /// `Conflict` if the number is taken (numbers route calls, so they are
    /// unique across accounts); `NotFound` if the account does not exist.
    pub async fn insert_phone_number(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        let _ = number;
        unimplemented!()
    }

    /// Numbers of one account, or of all, oldest first.
    pub async fn phone_numbers(
        &self,
        account: Option<&AccountSid>,
    ) -> Result<Vec<PhoneNumber>, StoreError> {
        let _ = account;
        unimplemented!()
    }

    /// The number callers reach by dialling `number` (the SIP Request-URI user part).
    pub async fn phone_number_by_number(
        &self,
        number: &str,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let _ = number;
        unimplemented!()
    }

    /// Removes a number; `false` if there was none with that sid.
    pub async fn remove_phone_number(&self, sid: &PhoneNumberSid) -> Result<bool, StoreError> {
        let _ = sid;
        unimplemented!()
    }

    // --- rooms ---

    /// Applies a batch of room changes in one transaction, in order.
    pub async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let _ = changes;
        unimplemented!()
    }

    /// Start-up recovery: every conference left init or in-progress by a
    /// previous run is completed at `at` and its participants removed.
    /// Returns how many conferences it completed.
    pub async fn complete_live_conferences(&self, at: Timestamp) -> Result<u64, StoreError> {
        let _ = at;
        unimplemented!()
    }

    // --- reads for the API ---

    pub async fn conference(
        &self,
        account: &AccountSid,
        sid: &ConferenceSid,
    ) -> Result<Option<ConferenceRecord>, StoreError> {
        let _ = (account, sid);
        unimplemented!()
    }

    /// One page of an account's conferences matching `filter`, newest
    /// `date_updated` first (ties by sid), and how many match in all.
    pub async fn conferences(
        &self,
        account: &AccountSid,
        filter: &ConferenceFilter,
        page: PageRequest,
    ) -> Result<(Vec<ConferenceRecord>, u64), StoreError> {
        let _ = (account, filter, page);
        unimplemented!()
    }

    pub async fn participant(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
    ) -> Result<Option<ParticipantRecord>, StoreError> {
        let _ = (account, conference, call);
        unimplemented!()
    }

    /// One page of a conference's participants in join order, and how many match.
    pub async fn participants(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        filter: &ParticipantFilter,
        page: PageRequest,
    ) -> Result<(Vec<ParticipantRecord>, u64), StoreError> {
        let _ = (account, conference, filter, page);
        unimplemented!()
    }
}
