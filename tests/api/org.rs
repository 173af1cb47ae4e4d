use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn admins_build_teams_and_users_with_all_assignment_attributes() {
    let app = spawn_app().await;
    let team = app
        .post(
            "/teams",
            &app.admin,
            json!({"name": "华东", "regions": ["上海", "江苏"]}),
        )
        .await;
    assert_eq!(team.status, 201, "{}", team.text);
    let team_id = team.id();
    let (mgr, _) = app.user("east.manager", "manager", Some(&team_id)).await;
    let r = app
        .post(
            "/users",
            &app.admin,
            json!({"username": "East.Rep1", "password": "long-enough-1", "display_name": "张伟", "role": "sales",
                   "team_id": team_id, "manager_id": mgr, "regions": ["上海", "上海", "江苏"], "industries": ["新能源汽车"],
                   "skills": ["电池"], "capacity": 40}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["username"], "east.rep1", "usernames are lower-cased");
    assert_eq!(
        r.body["regions"],
        json!(["上海", "江苏"]),
        "duplicates dropped"
    );
    assert_eq!(r.body["capacity"], 40);
    assert!(r.body.get("password").is_none());
    let patched = app
        .patch(
            &format!("/teams/{team_id}"),
            &app.admin,
            json!({"manager_id": mgr}),
            Some(1),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["manager_id"], mgr.as_str());
    let members = app
        .get(&format!("/users?team_id={team_id}&role=sales"), &app.admin)
        .await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&format!("/teams/{team_id}"), &app.admin)
            .await
            .header("etag")
            .as_deref(),
        Some("\"2\"")
    );
}

#[actix_web::test]
async fn user_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/users",
            &app.admin,
            json!({"username": "a b", "password": "short", "role": "sales", "capacity": -1}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["username", "password", "capacity"]);
    app.post(
        "/users",
        &app.admin,
        json!({"username": "abc", "password": "long-enough", "role": "king"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/users",
        &app.admin,
        json!({"username": "abc", "password": "long-enough", "role": "sales", "team_id": "nope"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.user("abc", "sales", None).await;
    app.post(
        "/users",
        &app.admin,
        json!({"username": "ABC", "password": "long-enough", "role": "sales"}),
    )
    .await
    .assert_problem(409, "duplicate");
}

#[actix_web::test]
async fn only_admins_change_the_organisation() {
    let app = spawn_app().await;
    let (id, director) = app.user("dir", "director", None).await;
    app.post("/teams", &director, json!({"name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/users",
        &director,
        json!({"username": "x1", "password": "long-enough", "role": "sales"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch(
        &format!("/users/{id}"),
        &director,
        json!({"role": "admin"}),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(
        app.get("/users", &director).await.status,
        200,
        "everyone may read the organisation"
    );
    app.get("/users/nope", &director)
        .await
        .assert_problem(404, "not_found");
    app.get("/teams/nope", &director)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn a_password_change_takes_effect_and_is_audited_without_the_password() {
    let app = spawn_app().await;
    let (id, _) = app.user("pat", "sales", None).await;
    let r = app
        .patch(
            &format!("/users/{id}"),
            &app.admin,
            json!({"password": "a-new-password"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    app.login("pat", "a-new-password").await;
    let audit = app
        .get(&format!("/audit?entity=user&entity_id={id}"), &app.admin)
        .await;
    assert!(!audit.text.contains("a-new-password"));
    assert!(!audit.text.contains("argon2"));
}
