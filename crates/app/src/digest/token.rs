//! Signed links. A token names a subscriber by its random handle (never its row id), says what
//! it is for, and may expire; an HMAC-SHA256 tag (truncated to 128 bits) over all of that,
//! keyed by the server's secret, makes it unforgeable. Hex, so it survives every mail client's
//! line wrapping and URL handling.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) const HANDLE_BYTES: usize = 16;
const TAG_BYTES: usize = 16;
const TOKEN_BYTES: usize = HANDLE_BYTES + 8 + TAG_BYTES;

/// What a signed link may do. Part of the signed data, so a token for one purpose is refused
/// for every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm a pending subscription (double opt-in); expires.
    Confirm,
    /// See and change the preferences, and preview the next digest.
    Manage,
    /// Unsubscribe (the link in every mail and in `List-Unsubscribe`).
    Unsubscribe,
}

impl Purpose {
    fn tag(self) -> u8 {
        match self {
            Purpose::Confirm => b'c',
            Purpose::Manage => b'm',
            Purpose::Unsubscribe => b'u',
        }
    }
}

#[derive(Clone)]
pub(crate) struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub(crate) fn new(key: &[u8]) -> Signer {
        Signer { key: key.to_vec() }
    }

    fn tag(&self, purpose: Purpose, handle: &[u8], expires: i64) -> [u8; TAG_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"paperscout-digest-v1");
        mac.update(&[purpose.tag()]);
        mac.update(handle);
        mac.update(&expires.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG_BYTES];
        out.copy_from_slice(&full[..TAG_BYTES]);
        out
    }

    /// A token for `handle`; `expires` is Unix seconds, or 0 for never.
    pub(crate) fn sign(&self, purpose: Purpose, handle: &[u8], expires: i64) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(handle);
        bytes.extend_from_slice(&expires.to_be_bytes());
        bytes.extend_from_slice(&self.tag(purpose, handle, expires));
        hex::encode(bytes)
    }

    /// The handle a token names, if it is genuine, for `purpose`, and not expired at `now`.
    pub(crate) fn verify(&self, purpose: Purpose, token: &str, now: i64) -> Option<Vec<u8>> {
        let bytes = hex::decode(token.trim()).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        let (handle, rest) = bytes.split_at(HANDLE_BYTES);
        let (expires, tag) = rest.split_at(8);
        let expires = i64::from_be_bytes(expires.try_into().ok()?);
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"paperscout-digest-v1");
        mac.update(&[purpose.tag()]);
        mac.update(handle);
        mac.update(&expires.to_be_bytes());
        // Constant-time comparison of the (truncated) tag.
        mac.verify_truncated_left(tag).ok()?;
        if expires != 0 && now > expires {
            return None;
        }
        Some(handle.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_purpose_key_and_time() {
        let s = Signer::new(b"0123456789abcdef0123456789abcdef");
        let handle = [7u8; HANDLE_BYTES];
        let t = s.sign(Purpose::Unsubscribe, &handle, 0);
        assert_eq!(
            s.verify(Purpose::Unsubscribe, &t, 1).as_deref(),
            Some(&handle[..])
        );
        assert_eq!(s.verify(Purpose::Manage, &t, 1), None);
        assert_eq!(
            Signer::new(b"another key, just as long........").verify(Purpose::Unsubscribe, &t, 1),
            None
        );
        let c = s.sign(Purpose::Confirm, &handle, 100);
        assert!(s.verify(Purpose::Confirm, &c, 100).is_some());
        assert_eq!(s.verify(Purpose::Confirm, &c, 101), None);
        // Any flipped character breaks it.
        let mut bad = t.clone().into_bytes();
        bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            s.verify(Purpose::Unsubscribe, std::str::from_utf8(&bad).unwrap(), 1),
            None
        );
        assert_eq!(s.verify(Purpose::Unsubscribe, "zz", 1), None);
        assert_eq!(s.verify(Purpose::Unsubscribe, "", 1), None);
    }
}
