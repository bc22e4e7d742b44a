//! Event ids as correlation windows keep them: short ids (a UUID is 36
//! bytes) are stored inline, so counting an event allocates nothing.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Ids up to this many bytes are stored inline.
const INLINE: usize = 38;

/// An event id, kept inline when short.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(Repr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl EventId {
    /// The id `id`.
    pub fn new(id: &str) -> EventId {
        if id.len() > INLINE {
            return EventId(Repr::Heap(id.into()));
        }
        let mut bytes = [0; INLINE];
        bytes[..id.len()].copy_from_slice(id.as_bytes());
        EventId(Repr::Inline {
            len: id.len() as u8,
            bytes,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always whole UTF-8: copied from a `&str` in full.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(id) => id,
        }
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventId, D::Error> {
        let id = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(EventId::new(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_any_length_keep_their_text() {
        let uuid = "937ef3fb-fd44-4667-83f5-6bad40b6a8d6";
        let long = "x".repeat(INLINE + 1);
        for id in ["", "é", uuid, &"y".repeat(INLINE), &long] {
            let kept = EventId::new(id);
            assert_eq!(kept.as_str(), id);
            let json = serde_json::to_string(&kept).unwrap();
            assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), kept);
        }
        assert!(matches!(EventId::new(uuid).0, Repr::Inline { .. }));
        assert!(matches!(EventId::new(&long).0, Repr::Heap(_)));
        assert_eq!(std::mem::size_of::<EventId>(), 40);
    }
}
