//! Tenant and dataset identifiers: the rule they follow and its check.
//!
//! Ids become Iceberg namespace levels and object-store path segments, so they are restricted
//! to a conservative alphabet: `[a-z0-9][a-z0-9_-]{0,63}`.

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// The id is the empty string.
    #[error("id is empty; ids must match [a-z0-9][a-z0-9_-]{{0,63}}")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id `{0}` is longer than 64 characters; ids must match [a-z0-9][a-z0-9_-]{{0,63}}")]
    TooLong(String),
    /// The id has a character outside the allowed alphabet, or starts with `_` or `-`.
    #[error(
        "id `{0}` has a character other than a-z, 0-9, `_`, `-` (or starts with `_`/`-`); ids must match [a-z0-9][a-z0-9_-]{{0,63}}"
    )]
    BadCharacter(String),
}

/// Checks that `id` matches `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn validate_id(id: &str) -> Result<(), InvalidId> {
    let bytes = id.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(InvalidId::Empty);
    };
    if bytes.len() > MAX_ID_LEN {
        return Err(InvalidId::TooLong(id.to_string()));
    }
    let lead_ok = first.is_ascii_lowercase() || first.is_ascii_digit();
    let rest_ok = bytes[1..]
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    if lead_ok && rest_ok { Ok(()) } else { Err(InvalidId::BadCharacter(id.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["acme", "a", "0", "prod-eu_1", &"a".repeat(64)] {
            assert_eq!(validate_id(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(validate_id(""), Err(InvalidId::Empty));
        assert!(matches!(validate_id(&"a".repeat(65)), Err(InvalidId::TooLong(_))));
        for bad in ["Acme", "-acme", "_acme", "ac.me", "ac/me", "acmé", "a b"] {
            assert!(matches!(validate_id(bad), Err(InvalidId::BadCharacter(_))), "{bad}");
        }
    }
}
