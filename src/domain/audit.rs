//! The tamper-evident audit chain: each entry's hash covers its content and the previous
//! entry's hash (SHA-256), so editing or removing any entry breaks every hash after it.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// One changed field of a record.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct Change {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// Field-level differences between two JSON objects (top-level keys; absent = null).
/// Fields named in `ignore` (bookkeeping such as `version`, `updated_at`) are skipped.
pub fn diff(old: &Value, new: &Value, ignore: &[&str]) -> Vec<Change> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !ignore.contains(&k.as_str()))
        .filter_map(|k| {
            let a = o.get(k).cloned().unwrap_or(Value::Null);
            let b = n.get(k).cloned().unwrap_or(Value::Null);
            (a != b).then(|| Change {
                field: k.clone(),
                old: a,
                new: b,
            })
        })
        .collect()
}

/// The stored JSON of a create's changes: what `diff({}, new, ignore)` serialises to
/// (every non-null field, old `null`, by field name), written from borrowed values instead
/// of cloning each one into a [`Change`] first (an import writes one per row).
pub fn created_changes_json(new: &Value, ignore: &[&str]) -> String {
    #[derive(Serialize)]
    struct Created<'a> {
        field: &'a str,
        old: (),
        new: &'a Value,
    }
    let mut fields: Vec<Created<'_>> = new
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !v.is_null() && !ignore.contains(&k.as_str()))
        .map(|(k, v)| Created {
            field: k,
            old: (),
            new: v,
        })
        .collect();
    fields.sort_unstable_by(|a, b| a.field.cmp(b.field));
    serde_json::to_string(&fields).expect("JSON values serialise without error")
}

/// The hashed content of one audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Link<'a> {
    pub id: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
    pub actor_id: &'a str,
    pub at: i64,
    /// The JSON text of the changes exactly as stored.
    pub changes: &'a str,
    pub request_id: &'a str,
}

/// Hex SHA-256 over the previous hash and the entry's fields, in a fixed order: the
/// compact JSON array `[prev_hash, id, entity, entity_id, action, actor_id, at, changes,
/// request_id]`, written straight into the hash (it runs for every entry while the
/// journal head is held).
pub fn link_hash(prev_hash: &str, link: &Link<'_>) -> String {
    let canonical = (
        prev_hash,
        link.id,
        link.entity,
        link.entity_id,
        link.action,
        link.actor_id,
        link.at,
        link.changes,
        link.request_id,
    );
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, &canonical)
        .expect("strings and integers serialise into a hash without error");
    hex::encode(hasher.finalize())
}

/// Walks a chain in order: `Ok(count)` when every entry links to the one before and its
/// hash is right, otherwise `Err(id)` of the first entry that does not hold.
pub fn verify<'a>(
    start_hash: &str,
    entries: impl IntoIterator<Item = (Link<'a>, &'a str, &'a str)>,
) -> Result<u64, String> {
    let mut prev = start_hash.to_string();
    let mut checked = 0;
    for (link, prev_hash, hash) in entries {
        if prev_hash != prev || link_hash(prev_hash, &link) != hash {
            return Err(link.id.to_string());
        }
        prev = hash.to_string();
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn link(id: &str) -> Link<'_> {
        Link {
            id,
            entity: "lead",
            entity_id: "L1",
            action: "update",
            actor_id: "u1",
            at: 1,
            changes: "[]",
            request_id: "r1",
        }
    }

    #[test]
    fn diff_lists_changed_fields_only() {
        let changes = diff(
            &json!({"a": 1, "b": 2, "version": 1}),
            &json!({"a": 1, "b": 3, "c": "x", "version": 2}),
            &["version"],
        );
        assert_eq!(
            changes,
            vec![
                Change {
                    field: "b".into(),
                    old: json!(2),
                    new: json!(3)
                },
                Change {
                    field: "c".into(),
                    old: Value::Null,
                    new: json!("x")
                },
            ]
        );
    }

    #[test]
    fn a_creates_changes_are_the_diff_from_nothing() {
        let new = json!({"name": "华东 \"精工\"", "a": null, "version": 1, "z": {"k": [1, 2]},
                         "b": 0, "c": false, "d": ""});
        assert_eq!(
            created_changes_json(&new, &["version"]),
            serde_json::to_string(&diff(&json!({}), &new, &["version"])).unwrap()
        );
        assert_eq!(
            created_changes_json(&json!({"version": 1}), &["version"]),
            "[]"
        );
    }

    #[test]
    fn the_hash_covers_the_entry_as_a_compact_json_array() {
        // The form every stored chain was hashed in; changing it breaks their verification.
        let l = Link {
            changes: r#"[{"field":"name","old":null,"new":"华东 \"精工\""}]"#,
            at: 1_764_892_800_123,
            ..link("a")
        };
        let canonical = json!([
            "prev",
            "a",
            "lead",
            "L1",
            "update",
            "u1",
            1_764_892_800_123_i64,
            l.changes,
            "r1"
        ])
        .to_string();
        assert_eq!(
            link_hash("prev", &l),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let h1 = link_hash("", &link("a"));
        let h2 = link_hash(&h1, &link("b"));
        let entries = vec![
            (link("a"), "", h1.as_str()),
            (link("b"), h1.as_str(), h2.as_str()),
        ];
        assert_eq!(verify("", entries), Ok(2));
    }

    #[test]
    fn an_edited_entry_breaks_the_chain_at_that_entry() {
        let h1 = link_hash("", &link("a"));
        let h2 = link_hash(&h1, &link("b"));
        let mut edited = link("a");
        edited.actor_id = "someone-else";
        let entries = vec![
            (edited, "", h1.as_str()),
            (link("b"), h1.as_str(), h2.as_str()),
        ];
        assert_eq!(verify("", entries), Err("a".into()));
    }

    #[test]
    fn a_removed_entry_breaks_the_chain_after_it() {
        let h1 = link_hash("", &link("a"));
        let h2 = link_hash(&h1, &link("b"));
        let h3 = link_hash(&h2, &link("c"));
        let entries = vec![
            (link("a"), "", h1.as_str()),
            (link("c"), h2.as_str(), h3.as_str()),
        ];
        assert_eq!(verify("", entries), Err("c".into()));
    }
}
