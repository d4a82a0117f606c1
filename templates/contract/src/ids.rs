//! Validation of the ids that travel in URL paths, gRPC messages and Kafka
//! keys, so every service accepts and rejects exactly the same ids.

use std::fmt;

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// An id that is empty, longer than [`MAX_ID_LEN`], or not made of
/// `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an id must be 1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '_' or '-'"
        )
    }
}

impl std::error::Error for InvalidId {}

/// Checks that `id` matches `[A-Za-z0-9_-]{1,64}`.
pub fn validate_id(id: &str) -> Result<(), InvalidId> {
    let well_formed = (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed { Ok(()) } else { Err(InvalidId) }
}

#[cfg(test)]
mod tests {
    use super::{MAX_ID_LEN, validate_id};

    #[test]
    fn accepts_letters_digits_underscore_and_dash() {
        for id in ["12345", "order-12345", "A_b-9", &"x".repeat(MAX_ID_LEN)] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn rejects_empty_long_and_unexpected_characters() {
        for id in [
            "",
            &"x".repeat(MAX_ID_LEN + 1),
            "12 34",
            "a/b",
            "é",
            "1;drop",
        ] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }
}
