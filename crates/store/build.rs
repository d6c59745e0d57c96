//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds
//! `migrations/` at compile time, and cargo does not otherwise see a new
//! file there (sqlx's documented build script).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-postgres");
    println!("cargo:rerun-if-changed=migrations-sqlite");
}
