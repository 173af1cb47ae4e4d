//! Bulk import files: which entities, how a file is decoded (UTF-8 with or without BOM,
//! GBK/GB18030 from Excel), which column headers are understood (field names or the
//! Chinese labels of a typical export), and how a CSV cell becomes a JSON value.
//!
//! Every row becomes a JSON object shaped like the entity's create body, plus optional
//! `external_system` and `external_id` (upsert instead of create). A cell that cannot be
//! converted leaves the row with `$errors` so that the row, not the file, is refused.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// The key under which a row carries its conversion errors.
pub const ROW_ERRORS: &str = "$errors";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportEntity {
    Leads,
    Accounts,
    Contacts,
    WorkOrders,
}

impl ImportEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportEntity::Leads => "leads",
            ImportEntity::Accounts => "accounts",
            ImportEntity::Contacts => "contacts",
            ImportEntity::WorkOrders => "work_orders",
        }
    }

    pub fn parse(s: &str) -> Option<ImportEntity> {
        [
            ImportEntity::Leads,
            ImportEntity::Accounts,
            ImportEntity::Contacts,
            ImportEntity::WorkOrders,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    /// The body fields a column may name.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ImportEntity::Leads => &[
                "name",
                "company",
                "phone",
                "email",
                "title",
                "province",
                "city",
                "industry",
                "source",
                "product_interest",
                "budget_cents",
                "budget",
                "currency",
                "notes",
            ],
            ImportEntity::Accounts => &[
                "name",
                "legal_name",
                "uscc",
                "legal_representative",
                "industry",
                "province",
                "city",
                "address",
                "phone",
                "email",
                "website",
                "tier",
                "owner_id",
            ],
            ImportEntity::Contacts => &[
                "account_id",
                "name",
                "title",
                "phone",
                "email",
                "decision_role",
                "concerns",
                "last_contacted_at",
            ],
            ImportEntity::WorkOrders => &[
                "type",
                "account_id",
                "contract_id",
                "contact_name",
                "contact_phone",
                "device_sn",
                "product_model",
                "description",
                "priority",
                "channel",
            ],
        }
    }

    /// Chinese column labels and the field each means.
    fn labels(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ImportEntity::Leads => &[
                ("姓名", "name"),
                ("公司", "company"),
                ("手机", "phone"),
                ("电话", "phone"),
                ("邮箱", "email"),
                ("职位", "title"),
                ("省份", "province"),
                ("城市", "city"),
                ("行业", "industry"),
                ("来源", "source"),
                ("预算", "budget"),
                ("意向产品", "product_interest"),
                ("备注", "notes"),
            ],
            ImportEntity::Accounts => &[
                ("公司", "name"),
                ("名称", "name"),
                ("公司全称", "legal_name"),
                ("统一社会信用代码", "uscc"),
                ("法定代表人", "legal_representative"),
                ("行业", "industry"),
                ("省份", "province"),
                ("城市", "city"),
                ("地址", "address"),
                ("电话", "phone"),
                ("邮箱", "email"),
                ("网站", "website"),
            ],
            ImportEntity::Contacts => &[
                ("客户", "account_id"),
                ("姓名", "name"),
                ("职位", "title"),
                ("手机", "phone"),
                ("电话", "phone"),
                ("邮箱", "email"),
            ],
            ImportEntity::WorkOrders => &[
                ("类型", "type"),
                ("客户", "account_id"),
                ("合同", "contract_id"),
                ("联系人", "contact_name"),
                ("手机", "contact_phone"),
                ("电话", "contact_phone"),
                ("序列号", "device_sn"),
                ("型号", "product_model"),
                ("描述", "description"),
                ("优先级", "priority"),
            ],
        }
    }
}

/// Decodes an uploaded file: a UTF-8 BOM is dropped; `charset` (from `Content-Type`) of
/// `gbk`, `gb2312` or `gb18030` decodes as GB18030 (GBK's superset); without one, text that
/// is not valid UTF-8 is tried as GB18030, which is what Excel on a Chinese Windows saves.
pub fn decode(bytes: &[u8], charset: Option<&str>) -> Result<String, String> {
    let charset = charset.map(|c| c.trim().trim_matches('"').to_ascii_lowercase());
    let gbk = matches!(
        charset.as_deref(),
        Some("gbk" | "gb2312" | "gb18030" | "cp936")
    );
    if !gbk {
        if let Some(c) = charset.as_deref() {
            if !matches!(c, "utf-8" | "utf8") {
                return Err(format!("charset `{c}` is not supported (utf-8 or gbk)"));
            }
        }
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if let Ok(s) = std::str::from_utf8(body) {
            return Ok(s.to_string());
        }
        if charset.is_some() {
            return Err("the file is not valid UTF-8".into());
        }
    }
    let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
    if had_errors {
        return Err("the file is neither UTF-8 nor GBK text".into());
    }
    Ok(text.into_owned())
}

/// The field a column header names, if any: a field name (any case), `custom.<key>`,
/// `external_system`/`external_id`, or a Chinese label.
pub fn column(entity: ImportEntity, header: &str) -> Option<String> {
    let h = header.trim().trim_start_matches('\u{feff}').trim();
    let lower = h.to_ascii_lowercase();
    if let Some(key) = lower.strip_prefix("custom.") {
        return (!key.is_empty()).then(|| format!("custom.{key}"));
    }
    if matches!(lower.as_str(), "external_system" | "external_id") {
        return Some(lower);
    }
    if let Some(f) = entity.fields().iter().find(|f| **f == lower) {
        return Some(f.to_string());
    }
    match h {
        "外部系统" => return Some("external_system".into()),
        "外部编号" => return Some("external_id".into()),
        _ => {}
    }
    entity
        .labels()
        .iter()
        .find(|(label, _)| *label == h)
        .map(|(_, f)| f.to_string())
}

/// A lead source written the way people write it (`展会`, `官网`…) as its code; codes
/// pass through.
pub fn lead_source(v: &str) -> String {
    let code = match v.trim() {
        "官网" | "网站" | "官网表单" | "网站表单" | "表单" => "web_form",
        "白皮书" | "白皮书下载" => "whitepaper_download",
        "微信" | "公众号" | "企业微信" => "wechat",
        "400" | "400电话" | "电话" => "phone_400",
        "展会" | "会展" => "trade_show",
        "搜索" | "搜索推广" | "百度" | "SEM" => "sem",
        "转介绍" | "推荐" | "介绍" => "referral",
        "导入" => "import",
        "其他" | "其它" => "other",
        other => return other.to_string(),
    };
    code.to_string()
}

/// An amount in yuan (`1,200,000`, `120万`, `3.5`) as cents.
pub fn yuan_to_cents(v: &str) -> Option<i64> {
    let t: String = v
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .collect();
    let t = t.trim_end_matches('元');
    let (num, scale) = match t.strip_suffix('万') {
        Some(n) => (n, 10_000.0),
        None => (t, 1.0),
    };
    let x: f64 = num.trim().parse().ok()?;
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let cents = (x * scale * 100.0).round();
    (cents <= 9.0e15).then_some(cents as i64)
}

/// One CSV record as a body object; `headers` are resolved fields (see [`column`]).
pub fn csv_row(entity: ImportEntity, headers: &[String], cells: &[&str]) -> Map<String, Value> {
    let mut row = Map::new();
    let mut custom = Map::new();
    let mut errors: Vec<Value> = Vec::new();
    for (field, cell) in headers.iter().zip(cells) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        if let Some(key) = field.strip_prefix("custom.") {
            custom.insert(key.to_string(), Value::String(cell.to_string()));
            continue;
        }
        let value = match field.as_str() {
            "budget" => match yuan_to_cents(cell) {
                Some(c) => {
                    row.insert("budget_cents".into(), json!(c));
                    continue;
                }
                None => Err("not an amount in yuan"),
            },
            "budget_cents" => cell
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| "not a whole number of cents"),
            "source" if entity == ImportEntity::Leads => Ok(Value::String(lead_source(cell))),
            "concerns" => Ok(Value::Array(
                cell.split([';', '；', '、'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string()))
                    .collect(),
            )),
            _ => Ok(Value::String(cell.to_string())),
        };
        match value {
            Ok(v) => {
                row.insert(field.clone(), v);
            }
            Err(m) => errors.push(json!({"field": field, "code": "invalid_format", "message": m})),
        }
    }
    if !custom.is_empty() {
        row.insert("custom".into(), Value::Object(custom));
    }
    if !errors.is_empty() {
        row.insert(ROW_ERRORS.into(), Value::Array(errors));
    }
    row
}

/// A refused file (not a refused row): the whole upload answers 422.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub field: &'static str,
    pub message: String,
}

/// Rows per stored chunk of an accepted file: the import worker holds one chunk at a time,
/// and recording a batch's progress never rewrites the file.
pub const CHUNK_ROWS: usize = 1_000;

/// The rows of an accepted file, one JSON object per line (JSON Lines), in chunks of
/// [`CHUNK_ROWS`] rows (the last may hold fewer): compact to store, read back a chunk at a
/// time, parsed a batch at a time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    pub chunks: Vec<String>,
    pub count: usize,
}

impl Rows {
    fn push(&mut self, row: &Value) {
        if self.count % CHUNK_ROWS == 0 {
            self.chunks.push(String::new());
        }
        let chunk = self.chunks.last_mut().expect("a chunk was just opened");
        chunk.push_str(&row.to_string());
        chunk.push('\n');
        self.count += 1;
    }
}

/// Parses a CSV file (header row first) into rows.
pub fn parse_csv(entity: ImportEntity, text: &str) -> Result<Rows, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::None)
        .from_reader(text.as_bytes());
    let raw_headers = reader.headers().map_err(|e| FileError {
        field: "body",
        message: format!("unreadable CSV header: {e}"),
    })?;
    let mut headers = Vec::new();
    let mut unknown = Vec::new();
    for h in raw_headers.iter() {
        match column(entity, h) {
            Some(f) => headers.push(f),
            None => unknown.push(h.trim().to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(FileError {
            field: "columns",
            message: format!(
                "unknown column(s) {} for {}; known: {}, custom.<key>, external_system, external_id",
                unknown.join(", "),
                entity.as_str(),
                entity.fields().join(", ")
            ),
        });
    }
    let mut rows = Rows::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(FileError {
                    field: "body",
                    message: format!("CSV row {}: {e}", rows.count + 1),
                })
            }
        }
        let cells: Vec<&str> = record.iter().collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(&Value::Object(csv_row(entity, &headers, &cells)));
    }
    Ok(rows)
}

/// Parses a JSON array of body objects into rows, one element at a time.
pub fn parse_json(text: &str) -> Result<Rows, FileError> {
    struct Collect;
    impl<'de> serde::de::Visitor<'de> for Collect {
        type Value = Rows;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
            let mut rows = Rows::default();
            while let Some(item) = seq.next_element::<Value>()? {
                let row = match item {
                    Value::Object(_) => item,
                    _ => {
                        json!({ROW_ERRORS: [{"field": null, "code": "invalid_type", "message": "each row must be an object"}]})
                    }
                };
                rows.push(&row);
            }
            Ok(rows)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let rows = serde::Deserializer::deserialize_seq(&mut de, Collect)
        .and_then(|rows| de.end().map(|_| rows))
        .map_err(|e| FileError {
            field: "body",
            message: if e.is_data() {
                "a JSON array of objects is expected".into()
            } else {
                format!("not JSON: {e}")
            },
        })?;
    Ok(rows)
}

/// The rows of a stored JSON Lines payload.
pub fn row_at(jsonl: &str, start: usize, end: usize) -> Value {
    serde_json::from_str(&jsonl[start..end]).unwrap_or_else(|_| {
        json!({ROW_ERRORS: [{"field": null, "code": "invalid_format", "message": "unreadable row"}]})
    })
}

/// Byte ranges of the lines of a JSON Lines payload.
pub fn line_ranges(jsonl: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in jsonl.bytes().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    if start < jsonl.len() {
        out.push((start, jsonl.len()));
    }
    out
}

/// The field a serde message names (`unknown field `x``, `missing field `y``); other
/// messages quote values, not fields, and name none.
pub fn field_of_serde_error(message: &str) -> Option<String> {
    if !(message.starts_with("unknown field") || message.starts_with("missing field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_and_english_headers_resolve() {
        let e = ImportEntity::Leads;
        assert_eq!(column(e, "姓名").as_deref(), Some("name"));
        assert_eq!(column(e, " 手机 ").as_deref(), Some("phone"));
        assert_eq!(column(e, "预算").as_deref(), Some("budget"));
        assert_eq!(column(e, "Email").as_deref(), Some("email"));
        assert_eq!(column(e, "custom.Region").as_deref(), Some("custom.region"));
        assert_eq!(column(e, "\u{feff}name").as_deref(), Some("name"));
        assert_eq!(column(e, "external_id").as_deref(), Some("external_id"));
        assert_eq!(column(e, "shoe_size"), None);
        assert_eq!(
            column(ImportEntity::Accounts, "公司").as_deref(),
            Some("name")
        );
    }

    #[test]
    fn gbk_text_is_detected_and_a_bom_is_dropped() {
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名,公司\n陈明,华东机床\n");
        assert_eq!(decode(&gbk, None).unwrap(), "姓名,公司\n陈明,华东机床\n");
        assert_eq!(
            decode(&gbk, Some("GBK")).unwrap(),
            "姓名,公司\n陈明,华东机床\n"
        );
        assert_eq!(decode(b"\xEF\xBB\xBFname\n", None).unwrap(), "name\n");
        assert!(decode(&gbk, Some("utf-8")).is_err());
        assert!(decode(b"x", Some("latin1")).is_err());
    }

    #[test]
    fn yuan_amounts_read_like_people_write_them() {
        assert_eq!(yuan_to_cents("1,200,000"), Some(120_000_000));
        assert_eq!(yuan_to_cents("120万"), Some(120_000_000));
        assert_eq!(yuan_to_cents("3.5"), Some(350));
        assert_eq!(yuan_to_cents("12元"), Some(1200));
        assert_eq!(yuan_to_cents("lots"), None);
        assert_eq!(yuan_to_cents("-5"), None);
    }

    #[test]
    fn a_csv_file_becomes_rows_with_per_row_errors() {
        let parsed = parse_csv(
            ImportEntity::Leads,
            "姓名,公司,手机,来源,预算,custom.region\n陈明,华东机床,13800138000,展会,120万,华东\n李四,,,官网,很多,\n,,,,,\n",
        )
        .unwrap();
        assert_eq!(parsed.count, 2);
        let rows: Vec<Value> = line_ranges(&parsed.chunks[0])
            .into_iter()
            .map(|(a, b)| row_at(&parsed.chunks[0], a, b))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["name"], "陈明");
        assert_eq!(rows[0]["source"], "trade_show");
        assert_eq!(rows[0]["budget_cents"], 120_000_000);
        assert_eq!(rows[0]["custom"]["region"], "华东");
        assert!(rows[0].get(ROW_ERRORS).is_none());
        assert_eq!(rows[1]["source"], "web_form");
        assert_eq!(rows[1][ROW_ERRORS][0]["field"], "budget");
    }

    #[test]
    fn rows_are_kept_in_chunks_of_a_thousand() {
        let text: String = std::iter::once("name\n".to_string())
            .chain((0..2_345).map(|i| format!("lead {i}\n")))
            .collect();
        let parsed = parse_csv(ImportEntity::Leads, &text).unwrap();
        assert_eq!(parsed.count, 2_345);
        let sizes: Vec<usize> = parsed.chunks.iter().map(|c| line_ranges(c).len()).collect();
        assert_eq!(sizes, vec![CHUNK_ROWS, CHUNK_ROWS, 345]);
        let lines = line_ranges(&parsed.chunks[2]);
        assert_eq!(
            row_at(&parsed.chunks[2], lines[0].0, lines[0].1)["name"],
            "lead 2000"
        );
    }

    #[test]
    fn an_unknown_column_refuses_the_file() {
        let e = parse_csv(ImportEntity::Leads, "name,shoe_size\nx,42\n").unwrap_err();
        assert_eq!(e.field, "columns");
        assert!(e.message.contains("shoe_size"));
    }

    #[test]
    fn json_rows_must_be_objects() {
        let parsed = parse_json(r#"[{"name": "a"}, 3]"#).unwrap();
        assert_eq!(parsed.count, 2);
        let lines = line_ranges(&parsed.chunks[0]);
        assert_eq!(
            row_at(&parsed.chunks[0], lines[0].0, lines[0].1)["name"],
            "a"
        );
        assert!(row_at(&parsed.chunks[0], lines[1].0, lines[1].1)
            .get(ROW_ERRORS)
            .is_some());
        assert!(parse_json(r#"{"name": "a"}"#).is_err());
        assert!(parse_json(r#"[{"name": "a"}] trailing"#).is_err());
    }

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_of_serde_error("unknown field `shoe`, expected one of `name`").as_deref(),
            Some("shoe")
        );
        assert_eq!(field_of_serde_error("invalid type: integer"), None);
        assert_eq!(
            field_of_serde_error("unknown variant `老客户`, expected one of `web_form`"),
            None
        );
    }
}
