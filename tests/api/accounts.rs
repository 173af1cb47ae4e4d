use serde_json::json;

use crate::helpers::spawn_app;

const USCC: &str = "91350100M000100Y43";

#[actix_web::test]
async fn an_account_keeps_a_normalised_uscc_and_refuses_a_bad_check_character() {
    let app = spawn_app().await;
    let r = app.post("/accounts", &app.admin, json!({"name": "苏州恒锐精工有限公司", "uscc": " 91350100m000100y43 ", "phone": "+86 512-6666-8888"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["uscc"], USCC);
    assert_eq!(r.body["phone"], "051266668888");
    let bad = app
        .post(
            "/accounts",
            &app.admin,
            json!({"name": "x", "uscc": "91350100M000100Y44"}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.body["errors"][0]["field"], "uscc");
    assert_eq!(bad.body["errors"][0]["code"], "invalid_uscc");
    let dup = app
        .post(
            "/accounts",
            &app.admin,
            json!({"name": "另一个名字", "uscc": USCC}),
        )
        .await;
    dup.assert_problem(409, "duplicate");
    app.post(
        "/accounts",
        &app.admin,
        json!({"name": "x", "website": "ftp://x"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post("/accounts", &app.admin, json!({"name": ""}))
        .await
        .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn master_data_is_locked_for_everyone_but_admins() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (_, sales) = app.user("s1", "sales", Some(&team)).await;
    let r = app
        .post(
            "/accounts",
            &sales,
            json!({"name": "杭州新锐", "legal_name": "杭州新锐科技有限公司"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!("/accounts/{}", r.id());
    // Filling in a missing master-data field is allowed.
    let filled = app
        .patch(
            &path,
            &sales,
            json!({"legal_representative": "王强", "uscc": USCC}),
            None,
        )
        .await;
    assert_eq!(filled.status, 200, "{}", filled.text);
    // Changing a set one is not, except for an admin.
    app.patch(&path, &sales, json!({"legal_name": "别的名字"}), None)
        .await
        .assert_problem(403, "forbidden");
    app.patch(&path, &sales, json!({"uscc": null}), None)
        .await
        .assert_problem(403, "forbidden");
    let (_, director) = app.user("d1", "director", None).await;
    app.patch(
        &path,
        &director,
        json!({"legal_representative": "李四"}),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    let by_admin = app
        .patch(
            &path,
            &app.admin,
            json!({"legal_name": "杭州新锐智能有限公司"}),
            None,
        )
        .await;
    assert_eq!(by_admin.status, 200);
    // Other fields stay editable by the owner.
    let city = app
        .patch(&path, &sales, json!({"city": "杭州"}), None)
        .await;
    assert_eq!(city.status, 200);
    assert_eq!(city.body["legal_name"], "杭州新锐智能有限公司");
}

#[actix_web::test]
async fn row_scope_hides_other_reps_accounts_and_contacts() {
    let app = spawn_app().await;
    let east = app.create_team("华东").await;
    let south = app.create_team("华南").await;
    let (rep_a, a) = app.user("aa", "sales", Some(&east)).await;
    let (_, b) = app.user("bb", "sales", Some(&east)).await;
    let (_, east_mgr) = app.user("em", "manager", Some(&east)).await;
    let (_, south_mgr) = app.user("sm", "manager", Some(&south)).await;
    let (_, director) = app.user("dir", "director", None).await;
    let acc = app.post("/accounts", &a, json!({"name": "客户甲"})).await;
    assert_eq!(acc.body["owner_id"], rep_a.as_str());
    assert_eq!(acc.body["team_id"], east.as_str());
    let contact = app
        .post(
            "/contacts",
            &a,
            json!({"account_id": acc.id(), "name": "李娜", "decision_role": "decision_maker"}),
        )
        .await;
    assert_eq!(contact.status, 201, "{}", contact.text);
    let acc_path = format!("/accounts/{}", acc.id());
    let contact_path = format!("/contacts/{}", contact.id());
    for token in [&a, &east_mgr, &director, &app.admin] {
        assert_eq!(app.get(&acc_path, token).await.status, 200);
        assert_eq!(app.get(&contact_path, token).await.status, 200);
    }
    for token in [&b, &south_mgr] {
        app.get(&acc_path, token)
            .await
            .assert_problem(404, "not_found");
        app.get(&contact_path, token)
            .await
            .assert_problem(404, "not_found");
        app.patch(&acc_path, token, json!({"city": "x"}), None)
            .await
            .assert_problem(404, "not_found");
        app.patch(&contact_path, token, json!({"title": "x"}), None)
            .await
            .assert_problem(404, "not_found");
        app.delete(&contact_path, token)
            .await
            .assert_problem(404, "not_found");
        assert!(app.get("/accounts", token).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty());
        assert!(app.get("/contacts", token).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty());
        let r = app
            .post(
                "/contacts",
                token,
                json!({"account_id": acc.id(), "name": "x"}),
            )
            .await;
        r.assert_problem(422, "validation_failed");
    }
    // Sales cannot hand accounts to others; managers can.
    let users = app.get("/users?role=sales", &app.admin).await;
    let b_id = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bb")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(&acc_path, &a, json!({"owner_id": b_id}), None)
        .await
        .assert_problem(403, "forbidden");
    let moved = app
        .patch(&acc_path, &east_mgr, json!({"owner_id": b_id}), None)
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    app.get(&acc_path, &a)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get(&acc_path, &b).await.status, 200);
}

#[actix_web::test]
async fn upsert_by_external_id_creates_once_then_updates() {
    let app = spawn_app().await;
    let path = "/accounts/by-external/erp/C-10023";
    let first = app
        .put(
            path,
            &app.admin,
            json!({"name": "宁波精密", "city": "宁波"}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(
        first.body["external_refs"],
        json!([{"system": "erp", "external_id": "C-10023"}])
    );
    assert_eq!(
        first.header("location").unwrap(),
        format!("/api/v1/accounts/{}", first.id())
    );
    let second = app
        .put(
            path,
            &app.admin,
            json!({"name": "宁波精密机械", "city": "宁波"}),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.id(), first.id());
    assert_eq!(second.body["name"], "宁波精密机械");
    assert_eq!(second.body["version"], 2);
    let list = app.get("/accounts", &app.admin).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    app.put(
        "/accounts/by-external/e r p/1",
        &app.admin,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn contacts_carry_decision_roles_and_validate_them() {
    let app = spawn_app().await;
    let acc = app
        .post("/accounts", &app.admin, json!({"name": "客户乙"}))
        .await
        .id();
    let r = app
        .post(
            "/contacts",
            &app.admin,
            json!({"account_id": acc, "name": "王总", "phone": "+86 139 0000 1111", "email": "WANG@KeHu.cn",
                   "decision_role": "decision_maker", "concerns": ["价格", "交期"], "last_contacted_at": "2026-11-20T08:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["phone"], "13900001111");
    assert_eq!(r.body["email"], "wang@kehu.cn");
    assert_eq!(r.body["last_contacted_at"], "2026-11-20T08:00:00.000Z");
    app.post(
        "/contacts",
        &app.admin,
        json!({"account_id": acc, "name": "x", "decision_role": "boss"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let by_role = app
        .get(
            &format!("/contacts?account_id={acc}&decision_role=decision_maker"),
            &app.admin,
        )
        .await;
    assert_eq!(by_role.body["items"].as_array().unwrap().len(), 1);
    let by_phone = app
        .get("/contacts?phone=%2B86%20139-0000-1111", &app.admin)
        .await;
    assert_eq!(by_phone.body["items"].as_array().unwrap().len(), 1);
    let path = format!("/contacts/{}", r.id());
    let p = app
        .patch(
            &path,
            &app.admin,
            json!({"decision_role": "influencer", "title": "副总"}),
            Some(1),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["decision_role"], "influencer");
    assert_eq!(app.delete(&path, &app.admin).await.status, 204);
    app.get(&path, &app.admin)
        .await
        .assert_problem(404, "not_found");
}
