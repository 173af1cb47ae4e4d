//! Finishing touches on the generated OpenAPI document that utoipa cannot express per
//! type, and the method table that answers 405 for known paths.

use std::collections::HashMap;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, OpenApi, RefOr};

/// What an `If-Match` header may hold: `*`, or a version as a (weak) ETag.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"?[0-9]{1,18}"?)$"#;

/// Views that flatten a strict request type (`additionalProperties: false`) next to their
/// own fields (`version`, `updated_at`) come out of utoipa as `allOf` of both, which no
/// document can satisfy; they become one object with the properties of both.
pub fn merge_strict_views(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let strict: HashMap<String, Object> = components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(Schema::Object(o)) if is_closed(o) => Some((name.clone(), o.clone())),
            _ => None,
        })
        .collect();
    for schema in components.schemas.values_mut() {
        if let RefOr::T(s) = schema {
            merge_in(s, &strict);
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(r) = response {
                    for content in r.content.values_mut() {
                        let RefOr::T(content) = content else { continue };
                        if let Some(RefOr::T(s)) = content.schema.as_mut() {
                            merge_in(s, &strict);
                        }
                    }
                }
            }
        }
    }
}

fn is_closed(o: &Object) -> bool {
    matches!(
        o.additional_properties.as_deref(),
        Some(AdditionalProperties::FreeForm(false))
    )
}

fn ref_name(r: &RefOr<Schema>) -> Option<&str> {
    match r {
        RefOr::Ref(r) => r.ref_location.rsplit('/').next(),
        RefOr::T(_) => None,
    }
}

fn merge_in(schema: &mut Schema, strict: &HashMap<String, Object>) {
    match schema {
        Schema::AllOf(all) => {
            let base = all
                .items
                .iter()
                .filter_map(ref_name)
                .find_map(|n| strict.get(n));
            if let Some(base) = base {
                let mut merged = base.clone();
                merged.description = all.description.clone().or(merged.description);
                merged.example = None;
                for item in &all.items {
                    if let RefOr::T(Schema::Object(extra)) = item {
                        for (k, v) in &extra.properties {
                            merged.properties.insert(k.clone(), v.clone());
                        }
                        merged.required.extend(extra.required.iter().cloned());
                    }
                }
                *schema = Schema::Object(merged);
            } else {
                for item in all.items.iter_mut() {
                    if let RefOr::T(s) = item {
                        merge_in(s, strict);
                    }
                }
            }
        }
        Schema::OneOf(one) => {
            for item in one.items.iter_mut() {
                if let RefOr::T(s) = item {
                    merge_in(s, strict);
                }
            }
        }
        Schema::Object(o) => {
            for v in o.properties.values_mut() {
                if let RefOr::T(s) = v {
                    merge_in(s, strict);
                }
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(item) = &mut a.items {
                if let RefOr::T(s) = item.as_mut() {
                    merge_in(s, strict);
                }
            }
        }
        _ => {}
    }
}

/// Error responses that name the `Problem` schema are sent as `application/problem+json`.
pub fn problem_media_type(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(r) = response else { continue };
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                if let Some(content) = r.content.shift_remove("application/json") {
                    r.content
                        .insert("application/problem+json".to_string(), content);
                }
            }
        }
    }
}

/// The shapes of headers and parameters every operation shares.
pub fn tighten_parameters(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                if p.parameter_in == ParameterIn::Header && p.name == "If-Match" {
                    p.schema = Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::String))
                            .pattern(Some(IF_MATCH_PATTERN))
                            .examples([serde_json::json!("\"3\"")])
                            .build(),
                    )));
                }
            }
        }
    }
}

/// Query parameters that take an RFC 3339 instant.
pub fn date_time(op: &mut Operation, names: &[&str]) {
    for p in op.parameters.iter_mut().flatten() {
        let RefOr::T(p) = p else { continue };
        if p.parameter_in == ParameterIn::Query && names.contains(&p.name.as_str()) {
            if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() {
                o.format = Some(SchemaFormat::KnownFormat(KnownFormat::DateTime));
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A documented path, split into segments (`None` for a `{parameter}`), with its methods.
struct Route {
    segments: Vec<Option<String>>,
    methods: Vec<&'static str>,
}

/// The documented paths and their methods, built once from the served document.
pub struct MethodTable(Vec<Route>);

impl MethodTable {
    pub fn new(doc: &OpenApi) -> MethodTable {
        MethodTable(
            doc.paths
                .paths
                .iter()
                .map(|(path, item)| Route {
                    segments: path
                        .trim_start_matches('/')
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                        .collect(),
                    methods: [
                        ("GET", item.get.is_some()),
                        ("PUT", item.put.is_some()),
                        ("POST", item.post.is_some()),
                        ("DELETE", item.delete.is_some()),
                        ("PATCH", item.patch.is_some()),
                    ]
                    .into_iter()
                    .filter_map(|(name, present)| present.then_some(name))
                    .collect(),
                })
                .collect(),
        )
    }

    /// The methods of the documented path `path` has the shape of (literal segments win
    /// over parameters); `None` when no documented path has its shape or when `method` is
    /// one of them (then it is simply not found).
    pub fn allowed(&self, method: &str, path: &str) -> Option<&[&'static str]> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.0
            .iter()
            .filter(|r| {
                r.segments.len() == parts.len()
                    && r.segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| !p.is_empty() && s.as_deref().is_none_or(|s| s == *p))
            })
            .max_by_key(|r| r.segments.iter().filter(|s| s.is_some()).count())
            .map(|r| r.methods.as_slice())
            .filter(|methods| !methods.contains(&method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_win_and_odd_shapes_are_not_found() {
        let table = MethodTable::new(&super::super::openapi());
        assert_eq!(
            table.allowed("DELETE", "/api/v1/leads"),
            Some(&["GET", "POST"][..])
        );
        assert_eq!(
            table.allowed("GET", "/api/v1/leads/dedup-check"),
            Some(&["POST"][..])
        );
        assert_eq!(
            table.allowed("POST", "/api/v1/leads/x"),
            Some(&["GET", "DELETE", "PATCH"][..])
        );
        assert_eq!(table.allowed("GET", "/api/v1/leads/x"), None);
        assert_eq!(table.allowed("PUT", "/api/v1/leads/"), None);
        assert_eq!(table.allowed("PUT", "/api/v1/nothing"), None);
    }
}
