//! Webhook signatures: `Qlik-Signature` is the hex HMAC-SHA256 of the raw
//! body under the webhook secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Checks `signature` (hex, either case) against the HMAC-SHA256 of `body`
/// under `secret`, in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(expected) = decode_hex(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The lowercase hex HMAC-SHA256 of `body` under `secret`, as a sender
/// computes it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_either_case_and_rejects_everything_else() {
        let good = sign(b"secret", b"{}");
        assert!(verify(b"secret", b"{}", &good));
        assert!(verify(b"secret", b"{}", &good.to_uppercase()));
        assert!(!verify(b"other", b"{}", &good));
        assert!(!verify(b"secret", b"{ }", &good));
        assert!(!verify(b"secret", b"{}", ""));
        assert!(!verify(b"secret", b"{}", &good[1..]));
        assert!(!verify(b"secret", b"{}", "zz"));
        assert!(verify(b"secret", b"", &sign(b"secret", b"")));
    }

    #[test]
    fn matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
