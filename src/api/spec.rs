//! Finishing touches on the generated OpenAPI document that utoipa cannot express per
//! type, and the method table that answers 405 for known paths.

use std::collections::HashMap;
use std::sync::OnceLock;

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

pub fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
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

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = super::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                    .collect();
                let mut methods = Vec::new();
                for (name, op) in [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                ] {
                    if op.is_some() {
                        methods.push(name);
                    }
                }
                Route { segments, methods }
            })
            .collect()
    })
}

/// The methods a documented path allows, for a request path no handler matched; `None` when
/// no documented path has this shape. Literal segments win over parameters.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    routes()
        .iter()
        .filter(|r| {
            r.segments.len() == parts.len()
                && r.segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p) && !p.is_empty())
        })
        .max_by_key(|r| r.segments.iter().filter(|s| s.is_some()).count())
        .map(|r| r.methods.clone())
}
