//! One spelling per file: locations written different ways (`file:///a/b`, `file:/a/b`, `/a/b`;
//! `s3://`, `s3a://`, `s3n://`; doubled slashes, `./` segments) normalise to the same text, so a
//! file referenced one way and listed another is still recognised as referenced.
//!
//! Normalising may merge two spellings that are different files (a doubled slash in an S3
//! key): that can only make a file look referenced, which keeps it. What it must never do is
//! tell two spellings of one file apart; anything it cannot be sure about (another scheme, a
//! host in a `file:` URI, `..`, percent-escapes, control characters) is refused instead, and
//! the caller treats the path conservatively.

use std::hash::{BuildHasher, Hasher};

/// Why a location could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot normalise `{location}`: {reason}")]
pub struct PathError {
    /// The location as given.
    pub location: String,
    /// What makes it ambiguous.
    pub reason: &'static str,
}

/// A normalised location: `file:///a/b` or `s3://bucket/key`, segments joined by one `/`,
/// no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalPath(String);

impl NormalPath {
    /// Normalises `location` (see the module docs for what is accepted).
    pub fn parse(location: &str) -> Result<Self, PathError> {
        let fail = |reason| PathError { location: location.to_string(), reason };
        let (root, rest) = if let Some(rest) = location.strip_prefix("file://") {
            // `file://localhost/a` and `file:///a` are the same file; any other host is not ours.
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            if !rest.starts_with('/') {
                return Err(fail("a file URI with a host"));
            }
            ("file://".to_string(), rest)
        } else if let Some(rest) = location.strip_prefix("file:") {
            if !rest.starts_with('/') {
                return Err(fail("a relative file URI"));
            }
            ("file://".to_string(), rest)
        } else if location.starts_with('/') {
            ("file://".to_string(), location)
        } else if let Some(rest) =
            ["s3://", "s3a://", "s3n://"].iter().find_map(|scheme| location.strip_prefix(scheme))
        {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(fail("an S3 URI without a bucket"));
            }
            (format!("s3://{bucket}"), key)
        } else {
            return Err(fail("an unsupported scheme or a relative path"));
        };
        let mut out = root;
        for segment in rest.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if segment == ".." {
                return Err(fail("a `..` segment"));
            }
            if segment.contains('%') {
                return Err(fail("a percent-escape (its encoded and decoded forms differ)"));
            }
            if segment.chars().any(|c| c.is_control() || c == '\\') {
                return Err(fail("a control character or backslash"));
            }
            out.push('/');
            out.push_str(segment);
        }
        Ok(Self(out))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path segments after the root (`file://` or `s3://bucket`).
    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[self.root_len()..].split('/').filter(|s| !s.is_empty())
    }

    /// `file://` or `s3://bucket`.
    fn root(&self) -> &str {
        &self.0[..self.root_len()]
    }

    fn root_len(&self) -> usize {
        const FILE: &str = "file://";
        const S3: &str = "s3://";
        if self.0.starts_with(FILE) {
            FILE.len()
        } else {
            self.0[S3.len()..].find('/').map_or(self.0.len(), |i| S3.len() + i)
        }
    }

    /// Whether `self` is `other` or lies inside it, comparing whole path segments
    /// (`…/traces_old` is not inside `…/traces`).
    pub fn is_within(&self, other: &NormalPath) -> bool {
        if self.root() != other.root() {
            return false;
        }
        let mut mine = self.segments();
        other.segments().all(|theirs| mine.next() == Some(theirs))
    }

    /// The last segment (the file name), if there is one.
    pub fn file_name(&self) -> Option<&str> {
        self.segments().last()
    }
}

impl std::fmt::Display for NormalPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last `/`-separated segment of a location that could not be normalised (used to keep
/// every listed file of the same name).
pub(crate) fn raw_file_name(location: &str) -> Option<&str> {
    location.rsplit('/').find(|s| !s.is_empty())
}

/// 128 bits identifying a string, from two independently keyed SipHash runs. Keys are random
/// per process: hashes are compared only within one cleanup, never stored.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathHasher {
    a: std::collections::hash_map::RandomState,
    b: std::collections::hash_map::RandomState,
}

impl PathHasher {
    /// The 128-bit hash of `text`.
    pub(crate) fn hash(&self, text: &str) -> u128 {
        let half = |state: &std::collections::hash_map::RandomState| {
            let mut h = state.build_hasher();
            h.write(text.as_bytes());
            h.write_u8(0xff);
            h.finish()
        };
        (u128::from(half(&self.a)) << 64) | u128::from(half(&self.b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        NormalPath::parse(s).unwrap().0
    }

    #[test]
    fn spellings_of_one_local_file_agree() {
        let want = "file:///w/acme/prod/traces/data/a.parquet";
        for s in [
            "file:///w/acme/prod/traces/data/a.parquet",
            "file:/w/acme/prod/traces/data/a.parquet",
            "/w/acme/prod/traces/data/a.parquet",
            "file://localhost/w/acme/prod/traces/data/a.parquet",
            "file:///w//acme/./prod/traces/data//a.parquet",
        ] {
            assert_eq!(n(s), want, "{s}");
        }
    }

    #[test]
    fn s3_schemes_and_slashes_agree_but_buckets_do_not() {
        let want = "s3://bkt/w/acme/prod/traces/a.parquet";
        for s in [
            "s3://bkt/w/acme/prod/traces/a.parquet",
            "s3a://bkt/w/acme/prod/traces/a.parquet",
            "s3n://bkt/w//acme/prod/traces/a.parquet",
        ] {
            assert_eq!(n(s), want, "{s}");
        }
        assert_ne!(n("s3://other/w/acme/prod/traces/a.parquet"), want);
        assert_ne!(n("file:///bkt/w/acme/prod/traces/a.parquet"), want);
    }

    #[test]
    fn ambiguous_locations_are_refused() {
        for s in [
            "gs://b/k",
            "relative/path",
            "file://host/a",
            "file:rel",
            "s3:///k",
            "/w/../x",
            "/w/a%20b",
            "/w/a\nb",
            "",
        ] {
            assert!(NormalPath::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn containment_is_by_whole_segments() {
        let p = |s| NormalPath::parse(s).unwrap();
        let traces = p("file:///w/acme/prod/traces");
        assert!(p("file:///w/acme/prod/traces/data/x").is_within(&traces));
        assert!(traces.is_within(&traces));
        assert!(!p("file:///w/acme/prod/traces_old/x").is_within(&traces));
        assert!(!p("file:///w/acme/prod").is_within(&traces));
        assert!(traces.is_within(&p("file:///w")));
        assert!(!p("s3://w/acme/prod/traces").is_within(&p("file:///w")));
        assert!(p("s3://b/w/t").is_within(&p("s3://b")));
        assert!(!p("s3://bb/w").is_within(&p("s3://b")));
        assert_eq!(traces.file_name(), Some("traces"));
        assert_eq!(raw_file_name("gs://b/dir/f.parquet/"), Some("f.parquet"));
    }

    #[test]
    fn hashes_are_stable_within_a_hasher_and_distinct_for_distinct_text() {
        let h = PathHasher::default();
        assert_eq!(h.hash("file:///a"), h.hash("file:///a"));
        assert_ne!(h.hash("file:///a"), h.hash("file:///b"));
        assert_ne!(h.hash(""), h.hash("\u{ff}"));
    }
}
