use serde_json::json;

use crate::helpers::{fresh_database, spawn_on};

#[actix_web::test]
async fn the_demo_company_routes_the_field_examples() {
    let (url, _dir) = fresh_database();
    let u = url.clone();
    let logins = actix_web::rt::task::spawn_blocking(move || {
        let db = crmflow::startup::open_database(&crate::helpers::test_settings(&u)).unwrap();
        let mut conn = db.write_conn().unwrap();
        crmflow::demo::load(&mut conn).unwrap()
    })
    .await
    .unwrap();
    assert!(logins
        .iter()
        .any(|(u, _, r)| u == "east.rep1" && r.as_str() == "sales"));
    assert_eq!(
        logins.len(),
        1 + 8 + 10,
        "admin, one of each other role, three teams"
    );
    let app = spawn_on(url).await;
    let director = app.login("director", crmflow::demo::DEMO_PASSWORD).await;
    let sim = |lead: serde_json::Value| {
        app.post(
            "/assignment-rules/simulate",
            &director,
            json!({"lead": lead}),
        )
    };

    let ev = sim(json!({"name": "x", "industry": "新能源汽车", "budget_cents": 60000000, "province": "江苏", "source": "trade_show"})).await;
    assert_eq!(ev.body["rule_name"], "华东新能源大客户", "{}", ev.text);
    assert!(ev.body["reason"]
        .as_str()
        .unwrap()
        .starts_with("top 3 performer"));
    let web = sim(json!({"name": "x", "source": "web_form", "province": "广东"})).await;
    assert_eq!(web.body["rule_name"], "华南官网线索");
    let med = sim(json!({"name": "x", "industry": "医疗器械", "province": "浙江", "product_interest": "内窥镜"})).await;
    assert_eq!(med.body["rule_name"], "医疗器械技能匹配");
    let rest = sim(json!({"name": "x", "source": "referral", "province": "新疆"})).await;
    assert_eq!(rest.body["rule_name"], "兜底规则");
    let cals = app.get("/calendars", &director).await;
    assert_eq!(cals.body["items"][0]["name"], "中国大陆工作日 2026");
    assert_eq!(
        cals.body["items"][0]["makeup_workdays"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}
