//! The parsers of untrusted HTTP request text that the API and the server
//! put in front of their handlers, kept apart from both so that they stand
//! alone: pure functions of bytes, no socket, no store, each with a fuzz
//! target (`fuzz/`, crate `confab-fuzzing`) that builds without the server.
//!
//! - [`form`]: query strings and form bodies ([`FormPairs`]).
//! - [`credentials`]: the `Authorization: Basic` header ([`Credentials`]).
//! - [`rewriter`]: percent-encodes what hyper would refuse in a
//!   request-target ([`TargetRewriter`]); the server's `lenient` module
//!   runs each connection through it.

pub mod credentials;
pub mod form;
pub mod rewriter;

pub use credentials::Credentials;
pub use form::{FormError, FormPairs, encode_pair};
pub use rewriter::{TargetRewriter, Unfollowable};
