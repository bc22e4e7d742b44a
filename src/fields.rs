//! Field paths interned to dense ids, and the path trie that the event parser
//! walks.
//!
//! Every dotted path that any rule (or the event validator) reads is given a
//! [`FieldId`] once, when rules are compiled. The parser then walks each event
//! once, following only the branches of the trie, and files each value it
//! meets under its id; matchers read values by id, never by string. Paths no
//! rule uses are skipped without being materialised.

use std::collections::HashMap;

/// A dense id for one dotted field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

impl FieldId {
    /// The id as an index into per-field tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Paths the validator reads on every event; their ids are fixed.
pub mod system {
    use super::FieldId;

    /// `id`
    pub const ID: FieldId = FieldId(0);
    /// `type`
    pub const TYPE: FieldId = FieldId(1);
    /// `source`
    pub const SOURCE: FieldId = FieldId(2);
    /// `specversion`
    pub const SPECVERSION: FieldId = FieldId(3);
    /// `tenantid`
    pub const TENANTID: FieldId = FieldId(4);
    /// `time`
    pub const TIME: FieldId = FieldId(5);
    /// `data`
    pub const DATA: FieldId = FieldId(6);
    /// `originip`
    pub const ORIGINIP: FieldId = FieldId(7);
    /// `authclaims`
    pub const AUTHCLAIMS: FieldId = FieldId(8);
    /// `data.issuedAt`
    pub const ISSUED_AT: FieldId = FieldId(9);
    /// `data.revokedAt`
    pub const REVOKED_AT: FieldId = FieldId(10);
    /// `data.revokedContext`
    pub const REVOKED_CONTEXT: FieldId = FieldId(11);
    /// `data.revokedByBearer`
    pub const REVOKED_BY_BEARER: FieldId = FieldId(12);

    /// The paths of the fixed ids, in id order.
    pub const PATHS: [&str; 13] = [
        "id",
        "type",
        "source",
        "specversion",
        "tenantid",
        "time",
        "data",
        "originip",
        "authclaims",
        "data.issuedAt",
        "data.revokedAt",
        "data.revokedContext",
        "data.revokedByBearer",
    ];
}

/// Hour of the event time, 0 to 23 (UTC).
pub const HOUR: &str = "@hour";
/// Day of the week of the event time (UTC): `mon` … `sun`.
pub const WEEKDAY: &str = "@weekday";

/// One node of the path trie.
#[derive(Debug, Clone, Default)]
pub struct TrieNode {
    /// Child keys and their node indexes.
    children: Vec<Child>,
    /// The field whose value is this node's value, if any path ends here.
    pub capture: Option<FieldId>,
}

/// A child key with its first and last eight bytes as numbers: keys of
/// up to sixteen bytes (nearly every JSON key of an event) compare as
/// integers.
#[derive(Debug, Clone)]
struct Child {
    words: (u64, u64),
    key: Box<str>,
    node: u32,
}

/// The first and the last eight bytes of `key` as numbers, zero-padded
/// when it is shorter: with the length, they tell keys of up to sixteen
/// bytes apart.
fn words(key: &str) -> (u64, u64) {
    let bytes = key.as_bytes();
    match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(first), Some(last)) => (u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
        _ => {
            let mut padded = [0u8; 8];
            padded[..bytes.len()].copy_from_slice(bytes);
            let word = u64::from_le_bytes(padded);
            (word, word)
        }
    }
}

impl TrieNode {
    /// The child node for `key`.
    pub fn child(&self, key: &str) -> Option<u32> {
        let words = words(key);
        self.children
            .iter()
            .find(|c| {
                c.words == words && c.key.len() == key.len() && (key.len() <= 16 || *c.key == *key)
            })
            .map(|c| c.node)
    }

    /// True when no path continues below this node.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// Interned field paths and the trie over their segments.
#[derive(Debug, Clone)]
pub struct FieldTable {
    paths: Vec<Box<str>>,
    index: HashMap<Box<str>, FieldId>,
    nodes: Vec<TrieNode>,
    /// True once `authclaims` was interned beyond the validator's own use.
    claims_text_read: bool,
    /// The ids of `@hour` and `@weekday`, once interned.
    time_fields: (Option<FieldId>, Option<FieldId>),
}

impl Default for FieldTable {
    fn default() -> Self {
        let mut table = FieldTable {
            paths: Vec::new(),
            index: HashMap::new(),
            nodes: vec![TrieNode::default()],
            claims_text_read: false,
            time_fields: (None, None),
        };
        for path in system::PATHS {
            table.intern(path);
        }
        table.claims_text_read = false;
        table
    }
}

impl FieldTable {
    /// The id of `path`, adding it if it is new.
    pub fn intern(&mut self, path: &str) -> FieldId {
        self.claims_text_read |= path == system::PATHS[system::AUTHCLAIMS.index()];
        if let Some(&id) = self.index.get(path) {
            return id;
        }
        let id = FieldId(u32::try_from(self.paths.len()).expect("fewer than 2^32 field paths"));
        self.paths.push(path.into());
        self.index.insert(path.into(), id);
        let mut node = 0usize;
        for segment in path.split('.') {
            node = match self.nodes[node].child(segment) {
                Some(child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    let child_index = u32::try_from(child).expect("fewer than 2^32 trie nodes");
                    self.nodes[node].children.push(Child {
                        words: words(segment),
                        key: segment.into(),
                        node: child_index,
                    });
                    child
                }
            };
        }
        self.nodes[node].capture = Some(id);
        match path {
            HOUR => self.time_fields.0 = Some(id),
            WEEKDAY => self.time_fields.1 = Some(id),
            _ => {}
        }
        id
    }

    /// The id of `path`, if it was interned.
    pub fn get(&self, path: &str) -> Option<FieldId> {
        self.index.get(path).copied()
    }

    /// The dotted path of `id`.
    pub fn path(&self, id: FieldId) -> &str {
        &self.paths[id.index()]
    }

    /// How many paths are interned.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when no path is interned (never, since system paths always are).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The trie node at `index`; node 0 is the root.
    pub fn node(&self, index: u32) -> &TrieNode {
        &self.nodes[index as usize]
    }

    /// The ids of the time-derived fields rules use: `@hour`, `@weekday`.
    pub fn time_fields(&self) -> (Option<FieldId>, Option<FieldId>) {
        self.time_fields
    }

    /// True when something reads the `authclaims` string itself, not only
    /// paths inside it; otherwise the parser need not decode its escapes.
    pub fn reads_claims_text(&self) -> bool {
        self.claims_text_read
    }

    /// The trie node that `authclaims` paths continue from, if any rule reads
    /// inside the claims.
    pub fn claims_node(&self) -> Option<u32> {
        let node = self.nodes[0].child("authclaims")?;
        (!self.node(node).is_leaf()).then_some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_ids_match_their_paths() {
        let table = FieldTable::default();
        for (i, path) in system::PATHS.iter().enumerate() {
            assert_eq!(table.get(path), Some(FieldId(i as u32)));
        }
    }

    #[test]
    fn keys_sharing_their_first_or_last_eight_bytes_stay_apart() {
        let mut table = FieldTable::default();
        let paths = [
            "x.resource",
            "x.resourceOwner",
            "x.resourceOwnerId",
            "x.resou",
            "x.ownerResourceOwner",
            "x.ownerResourceOwnerId",
            "x.é",
            "x.",
        ];
        let ids: Vec<FieldId> = paths.iter().map(|p| table.intern(p)).collect();
        let x = table.node(0).child("x").unwrap();
        for (path, id) in paths.iter().zip(ids) {
            let key = &path[2..];
            let node = table.node(x).child(key).unwrap();
            assert_eq!(table.node(node).capture, Some(id), "{key}");
        }
        assert_eq!(table.node(x).child("resourceOwnex"), None);
        assert_eq!(table.node(x).child("resourc"), None);
        assert_eq!(table.node(x).child("resource\0"), None);
    }

    #[test]
    fn keys_of_every_length_are_told_apart_by_every_byte() {
        let mut table = FieldTable::default();
        let alphabet = "abcdefghijklmnopqrstuvwxyz";
        let keys: Vec<&str> = (0..=alphabet.len()).map(|n| &alphabet[..n]).collect();
        let ids: Vec<FieldId> = keys
            .iter()
            .map(|k| table.intern(&format!("x.{k}")))
            .collect();
        let x = table.node(0).child("x").unwrap();
        let capture = |key: &str| {
            let node = table.node(x).child(key)?;
            table.node(node).capture
        };
        for (key, id) in keys.iter().zip(&ids) {
            assert_eq!(capture(key), Some(*id), "{key}");
            for at in 0..key.len() {
                let mut changed = key.as_bytes().to_vec();
                changed[at] = b'_';
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(capture(&changed), None, "{changed}");
            }
        }
    }

    #[test]
    fn interning_is_idempotent_and_builds_the_trie() {
        let mut table = FieldTable::default();
        let a = table.intern("data.grantType");
        assert_eq!(table.intern("data.grantType"), a);
        let data = table.node(0).child("data").unwrap();
        let grant = table.node(data).child("grantType").unwrap();
        assert_eq!(table.node(grant).capture, Some(a));
        assert!(table.claims_node().is_none());
        table.intern("authclaims.sub");
        assert!(table.claims_node().is_some());
    }
}
