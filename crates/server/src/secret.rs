//! The server's secret: signs the voter cookie and CSRF tokens. Generated on first start and
//! kept in the data dir (mode 0600), or given by the operator (`PAPERSCOUT_SECRET`) so that
//! several servers behind one proxy accept each other's cookies.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Sha256, Sha512};

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Reads the secret at `path`, creating it (64 random bytes, hex) if there is none.
pub fn load_or_create(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .filter(|s| s.len() >= MIN_SECRET_BYTES)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a hex secret of at least {MIN_SECRET_BYTES} bytes; delete it to make a new one (visitors' votes stay, their cookies reset)",
                        path.display()
                    ),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; 64];
            rand::rng().fill_bytes(&mut secret);
            let dir = path.parent().unwrap_or(Path::new("."));
            // tempfile creates it readable by the owner only (0600).
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(hex::encode(&secret).as_bytes())?;
            tmp.as_file().sync_all()?;
            // Never replace a secret another process wrote meanwhile.
            match tmp.persist_noclobber(path) {
                Ok(_) => Ok(secret),
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create(path)
                }
                Err(e) => Err(e.error),
            }
        }
        Err(e) => Err(e),
    }
}

/// Independent keys for each use, derived from the secret.
pub(crate) struct Keys {
    pub cookie: [u8; 64],
    pub csrf: [u8; 32],
}

pub(crate) fn derive(secret: &[u8]) -> Result<Keys, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the secret is {} bytes; it must be at least {MIN_SECRET_BYTES}",
            secret.len()
        ));
    }
    let mut cookie = Hmac::<Sha512>::new_from_slice(secret).expect("HMAC takes any key length");
    cookie.update(b"paperscout cookie key");
    let mut csrf = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    csrf.update(b"paperscout csrf key");
    Ok(Keys {
        cookie: cookie.finalize().into_bytes().into(),
        csrf: csrf.finalize().into_bytes().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("not a hex secret"), "{err}");
        assert!(derive(b"short").is_err());
    }
}
