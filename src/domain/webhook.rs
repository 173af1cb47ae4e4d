//! Webhook rules: subscription formats and URLs, the retry schedule, Standard Webhooks
//! signing, and the robot messages (DingTalk, Feishu, WeCom) with a Chinese summary per
//! event type.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use utoipa::ToSchema;

type HmacSha256 = Hmac<Sha256>;

/// How a delivery is shaped and signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The event envelope, signed per Standard Webhooks.
    #[default]
    Standard,
    /// A DingTalk group robot markdown message (`timestamp` + `sign` query parameters).
    Dingtalk,
    /// A Feishu/Lark group robot interactive card (`timestamp` + `sign` in the body).
    Feishu,
    /// A WeCom group robot markdown message (the key is in the URL).
    Wecom,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Standard => "standard",
            WebhookFormat::Dingtalk => "dingtalk",
            WebhookFormat::Feishu => "feishu",
            WebhookFormat::Wecom => "wecom",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookFormat> {
        [
            WebhookFormat::Standard,
            WebhookFormat::Dingtalk,
            WebhookFormat::Feishu,
            WebhookFormat::Wecom,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// A delivery's state: waiting (first attempt or a retry), done, or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// Checks a subscription URL: absolute `http` or `https` with a host, at most 2,000
/// characters.
pub fn validate_url(raw: &str) -> Result<(), String> {
    if raw.len() > 2000 {
        return Err("at most 2000 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

/// Seconds between a failed attempt and the next: ~5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
/// After the last one fails the delivery is `failed` (7 attempts in all).
pub const RETRY_SCHEDULE_SECS: [i64; 6] = [5, 300, 1_800, 7_200, 18_000, 36_000];

/// The wait after the `failed_in_round`-th failed attempt of a round (1-based), scaled by
/// `multiplier` and spread ±20 % by `jitter` (0–1), in milliseconds; `None` when the
/// schedule is exhausted.
pub fn retry_delay_ms(failed_in_round: u32, multiplier: f64, jitter: f64) -> Option<i64> {
    let base = *RETRY_SCHEDULE_SECS.get(failed_in_round.checked_sub(1)? as usize)?;
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Some(
        ((base as f64) * 1000.0 * multiplier * factor)
            .round()
            .max(0.0) as i64,
    )
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// The key bytes of a subscription secret: `whsec_<base64>` secrets (the ones crmflow
/// generates) sign with the decoded bytes, as Standard Webhooks libraries expect; any other
/// secret signs with its UTF-8 bytes.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b| B64.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let msg = format!("{id}.{timestamp}.{body}");
    format!(
        "v1,{}",
        B64.encode(hmac(&signing_key(secret), msg.as_bytes()))
    )
}

/// DingTalk's `sign` query parameter (before URL encoding): base64 HMAC-SHA256 keyed by
/// the secret over `{timestamp_ms}\n{secret}`.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let msg = format!("{timestamp_ms}\n{secret}");
    B64.encode(hmac(secret.as_bytes(), msg.as_bytes()))
}

/// Feishu's `sign` body field: base64 HMAC-SHA256 keyed by `{timestamp_s}\n{secret}` over
/// an empty message.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    B64.encode(hmac(key.as_bytes(), b""))
}

/// A robot message: a title and markdown lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub title: String,
    pub text: String,
}

/// What the summary may name: the record's label and users' display names.
pub struct Names<'a> {
    /// e.g. `陈明 · 华东机床` or `WO-2026-000012`.
    pub record: Option<&'a str>,
    /// A user's display name by id.
    pub user: &'a dyn Fn(&str) -> Option<String>,
    /// `{CRMFLOW_PUBLIC_URL}/api/v1/{collection}/{id}`, when configured.
    pub link: Option<String>,
}

fn s<'v>(data: &'v Value, key: &str) -> Option<&'v str> {
    data.get(key).and_then(Value::as_str)
}

fn yuan(cents: Option<i64>) -> String {
    match cents {
        Some(c) => format!("{}.{:02} 元", c / 100, (c % 100).abs()),
        None => "—".into(),
    }
}

/// The Chinese one-liner a group chat reads for an event.
pub fn summary(event_type: &str, data: &Value, names: &Names<'_>) -> Summary {
    let user = |key: &str| -> String {
        s(data, key)
            .map(|id| (names.user)(id).unwrap_or_else(|| id.to_string()))
            .unwrap_or_else(|| "（无人）".into())
    };
    let rec = names.record.unwrap_or("");
    let (title, line) = match event_type {
        "lead.created" => (
            "新线索",
            format!(
                "新线索 {rec}，评分 {}（{}）",
                data["score"],
                s(data, "grade").unwrap_or("-")
            ),
        ),
        "lead.assigned" => (
            "线索分配",
            format!("线索 {rec} 已分配给 {}", user("owner_id")),
        ),
        "lead.accepted" => (
            "线索已领取",
            format!("线索 {rec} 已被 {} 领取", user("owner_id")),
        ),
        "lead.reassigned" => (
            "线索重新分配",
            format!("线索 {rec} 超时未领取，已重新分配给 {}", user("to")),
        ),
        "lead.escalated" => (
            "线索升级",
            format!(
                "线索 {rec} 多次超时未领取，已升级给主管 {}",
                user("manager_id")
            ),
        ),
        "lead.first_touch_overdue" => (
            "首次跟进超时",
            format!("线索 {rec} 首次跟进已超时（负责人 {}）", user("owner_id")),
        ),
        "lead.needs_info" => ("线索待补全", format!("线索 {rec} 信息不全，待补充后分配")),
        "lead.qualified" => ("线索已确认", format!("线索 {rec} 已确认为商机线索")),
        "lead.converted" => ("线索已转化", format!("线索 {rec} 已转化为客户和商机")),
        "lead.disqualified" => (
            "线索无效",
            format!(
                "线索 {rec} 已判定无效：{}",
                s(data, "reason").unwrap_or("-")
            ),
        ),
        "lead.duplicate_suspected" => (
            "疑似重复线索",
            format!("线索 {rec} 疑似与已有线索重复，请核对"),
        ),
        "lead.merged" => ("线索已合并", format!("线索已合并到 {rec}")),
        "opportunity.stage_changed" => (
            "商机阶段变更",
            format!("商机 {rec} 进入阶段 {}", s(data, "to").unwrap_or("-")),
        ),
        "opportunity.stage_regressed" => (
            "商机阶段回退",
            format!("商机 {rec} 回退到阶段 {}", s(data, "to").unwrap_or("-")),
        ),
        "opportunity.stalled" => (
            "商机停滞",
            format!(
                "商机 {rec} 在阶段 {} 停滞过久",
                s(data, "stage").unwrap_or("-")
            ),
        ),
        "opportunity.won" => (
            "赢单",
            format!(
                "商机 {rec} 赢单，金额 {}",
                yuan(data["amount_cents"].as_i64())
            ),
        ),
        "opportunity.lost" => ("丢单", format!("商机 {rec} 丢单")),
        "quote.submitted" => ("报价待审批", format!("报价 {rec} 已提交审批")),
        "quote.approved" => ("报价已批准", format!("报价 {rec} 已批准")),
        "quote.rejected" => ("报价被驳回", format!("报价 {rec} 被驳回")),
        "contract.submitted" => ("合同待审", format!("合同 {rec} 已提交评审")),
        "contract.approved" => ("合同已批准", format!("合同 {rec} 评审通过")),
        "contract.rejected" => ("合同被驳回", format!("合同 {rec} 评审被驳回")),
        "contract.signed" => (
            "合同已签署",
            format!(
                "合同 {rec} 已签署，金额 {}",
                yuan(data["amount_cents"].as_i64())
            ),
        ),
        "invoice.requested" => (
            "请开发票",
            format!(
                "合同 {rec} 请求开票，金额 {}",
                yuan(data["amount_cents"].as_i64())
            ),
        ),
        "payment.recorded" => (
            "收到回款",
            format!(
                "合同 {rec} 收到回款 {}",
                yuan(data["payment"]["amount_cents"].as_i64())
            ),
        ),
        "contract.live" => ("项目上线", format!("合同 {rec} 已上线")),
        "nps.survey_due" => ("NPS 回访", format!("合同 {rec} 到了 NPS 回访时间")),
        "work_order.created" => (
            "新工单",
            format!("新工单 {rec}（{}）", s(data, "priority").unwrap_or("-")),
        ),
        "work_order.status_changed" => (
            "工单状态",
            format!("工单 {rec} 状态变为 {}", s(data, "to").unwrap_or("-")),
        ),
        "work_order.sla_warning" => (
            "工单 SLA 预警",
            format!(
                "工单 {rec} 即将超出{}时限（工程师 {}）",
                deadline(data),
                user("engineer_id")
            ),
        ),
        "work_order.sla_breached" => (
            "工单 SLA 超时",
            format!(
                "工单 {rec} 已超出{}时限（工程师 {}）",
                deadline(data),
                user("engineer_id")
            ),
        ),
        "account.renewal_signal" => (
            "续约信号",
            format!("客户 {rec}：{}", s(data, "detail").unwrap_or("-")),
        ),
        "report.lead_health_daily" => ("线索健康日报", format!("线索健康日报 {rec}")),
        "webhook.disabled" => (
            "Webhook 已停用",
            format!(
                "Webhook {} 持续失败，已自动停用",
                s(data, "url").unwrap_or("-")
            ),
        ),
        "webhook.test" => ("测试消息", "crmflow 测试消息：Webhook 配置正确".to_string()),
        other => ("crmflow 事件", format!("{other} {rec}")),
    };
    let mut text = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(link) = &names.link {
        text = format!("{text}\n\n[查看记录]({link})");
    }
    Summary {
        title: title.to_string(),
        text,
    }
}

fn deadline(data: &Value) -> &'static str {
    match s(data, "deadline") {
        Some("response") => "响应",
        _ => "解决",
    }
}

/// The JSON body a robot expects. `sign` is `(timestamp, signature)` for Feishu.
pub fn robot_body(format: WebhookFormat, m: &Summary, feishu_sign: Option<(i64, String)>) -> Value {
    let markdown = format!("### {}\n\n{}", m.title, m.text);
    match format {
        WebhookFormat::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": {"title": m.title, "text": markdown}
        }),
        WebhookFormat::Wecom => json!({
            "msgtype": "markdown",
            "markdown": {"content": markdown}
        }),
        WebhookFormat::Feishu => {
            let mut body = json!({
                "msg_type": "interactive",
                "card": {
                    "header": {"title": {"tag": "plain_text", "content": m.title}},
                    "elements": [{"tag": "markdown", "content": m.text}]
                }
            });
            if let Some((ts, sign)) = feishu_sign {
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(sign);
            }
            body
        }
        WebhookFormat::Standard => Value::Null,
    }
}

/// Whether a 2xx answer really delivered: robots answer 200 with an error code in the body
/// (`errcode` for DingTalk and WeCom, `code` for Feishu) when they refuse a message.
pub fn accepted(format: WebhookFormat, status: u16, body: &str) -> bool {
    if !(200..300).contains(&status) {
        return false;
    }
    if format == WebhookFormat::Standard {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return true;
    };
    let code = match format {
        WebhookFormat::Feishu => v.get("code").or_else(|| v.get("StatusCode")),
        _ => v.get("errcode"),
    };
    code.and_then(Value::as_i64).is_none_or(|c| c == 0)
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_pass() {
        assert!(validate_url("https://hooks.example.com/crm").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/x").is_ok());
        assert!(validate_url("ftp://example.com/x").is_err());
        assert!(validate_url("file:///etc/passwd").is_err());
        assert!(validate_url("javascript:alert(1)").is_err());
        assert!(validate_url("not a url").is_err());
    }

    #[test]
    fn the_schedule_grows_scales_and_ends() {
        let d: Vec<i64> = (1..=6)
            .map(|n| retry_delay_ms(n, 1.0, 0.5).unwrap())
            .collect();
        assert_eq!(
            d,
            vec![5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000]
        );
        assert_eq!(retry_delay_ms(7, 1.0, 0.5), None);
        assert_eq!(retry_delay_ms(0, 1.0, 0.5), None);
        assert_eq!(retry_delay_ms(2, 0.01, 0.5), Some(3_000));
        // ±20 % jitter.
        assert_eq!(retry_delay_ms(1, 1.0, 0.0), Some(4_000));
        assert_eq!(retry_delay_ms(1, 1.0, 1.0), Some(6_000));
    }

    #[test]
    fn standard_signature_matches_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn robot_signatures_follow_their_platforms() {
        // Recomputed independently: HMAC-SHA256 keyed by the secret over "ts\nsecret".
        let d = dingtalk_sign("SECabc", 1_700_000_000_000);
        let mut mac = HmacSha256::new_from_slice(b"SECabc").unwrap();
        mac.update(b"1700000000000\nSECabc");
        assert_eq!(d, B64.encode(mac.finalize().into_bytes()));
        // Feishu keys by "ts\nsecret" over nothing.
        let f = feishu_sign("abc", 1_700_000_000);
        let mac = HmacSha256::new_from_slice(b"1700000000\nabc").unwrap();
        assert_eq!(f, B64.encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn a_reassignment_reads_as_chinese_with_the_new_owner() {
        let names = |id: &str| (id == "u2").then(|| "张三".to_string());
        let n = Names {
            record: Some("陈明 · 华东机床"),
            user: &names,
            link: Some("https://crm.example.com/api/v1/leads/l1".into()),
        };
        let m = summary(
            "lead.reassigned",
            &json!({"lead_id": "l1", "from": "u1", "to": "u2"}),
            &n,
        );
        assert_eq!(m.title, "线索重新分配");
        assert!(
            m.text
                .starts_with("线索 陈明 · 华东机床 超时未领取，已重新分配给 张三"),
            "{}",
            m.text
        );
        assert!(m
            .text
            .ends_with("[查看记录](https://crm.example.com/api/v1/leads/l1)"));
    }

    #[test]
    fn robot_bodies_have_each_platform_shape() {
        let m = Summary {
            title: "T".into(),
            text: "x".into(),
        };
        let d = robot_body(WebhookFormat::Dingtalk, &m, None);
        assert_eq!(d["msgtype"], "markdown");
        assert_eq!(d["markdown"]["title"], "T");
        let w = robot_body(WebhookFormat::Wecom, &m, None);
        assert_eq!(w["markdown"]["content"], "### T\n\nx");
        let f = robot_body(WebhookFormat::Feishu, &m, Some((17, "s".into())));
        assert_eq!(f["msg_type"], "interactive");
        assert_eq!(f["timestamp"], "17");
        assert_eq!(f["sign"], "s");
    }

    #[test]
    fn robots_refuse_with_a_code_in_a_200() {
        assert!(accepted(
            WebhookFormat::Dingtalk,
            200,
            r#"{"errcode":0,"errmsg":"ok"}"#
        ));
        assert!(!accepted(
            WebhookFormat::Dingtalk,
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#
        ));
        assert!(!accepted(
            WebhookFormat::Feishu,
            200,
            r#"{"code":19021,"msg":"sign match fail"}"#
        ));
        assert!(accepted(WebhookFormat::Standard, 204, ""));
        assert!(!accepted(WebhookFormat::Standard, 500, ""));
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("线索", 4), "线");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
