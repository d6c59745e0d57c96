//! The size limits of a SIP message: the parser enforces them, and the
//! parse errors name them.

/// The largest message accepted, in bytes (a UDP datagram's limit).
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// The most header lines (folded lines counted one by one).
pub const MAX_HEADER_LINES: usize = 256;
/// The longest line, and the longest unfolded header value.
pub const MAX_LINE_LEN: usize = 8_192;
