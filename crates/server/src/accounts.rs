//! Creating accounts: shared by `serve` (the first-run default account) and
//! the `confab accounts create` command.

use model::{Account, Timestamp};
use store::{Store, StoreError};

use crate::ids;

/// Creates and stores a new account with fresh credentials.
pub async fn create(
    store: &Store,
    friendly_name: &str,
    now: Timestamp,
) -> Result<Account, StoreError> {
    let account = Account {
        sid: ids::account_sid(),
        friendly_name: friendly_name.to_owned(),
        auth_token: ids::auth_token(),
        date_created: now,
        date_updated: now,
    };
    store.insert_account(&account).await?;
    Ok(account)
}

/// On a database with no account, creates one named "default" and returns
/// it (so `serve` can print its credentials once); `None` if any exists.
pub async fn ensure_default(store: &Store, now: Timestamp) -> Result<Option<Account>, StoreError> {
    if !store.accounts().await?.is_empty() {
        return Ok(None);
    }
    create(store, "default", now).await.map(Some)
}
