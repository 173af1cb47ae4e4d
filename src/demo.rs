//! `serve --demo`: a demo company (three regional sales teams, a director, one user of each
//! other role), the mainland-China 2026 working calendar and assignment rules that
//! reproduce the field examples, so that the API can be tried at once. Loading is skipped when the demo
//! admin already exists.

use serde_json::json;

use crate::bootstrap::SYSTEM_ACTOR;
use crate::domain::role::Role;
use crate::error::AppResult;
use crate::service::org::{NewUser, UserCreate};
use crate::service::{new_id, run_in_transaction};
use crate::store::calendars::CalendarRow;
use crate::store::rules::RuleRow;
use crate::store::teams::{self, TeamRow};
use crate::store::{users, DbConnection};

/// The password of every demo login.
pub const DEMO_PASSWORD: &str = "crmflow-demo";

struct Rep {
    username: &'static str,
    name: &'static str,
    role: Role,
    regions: &'static [&'static str],
    industries: &'static [&'static str],
    skills: &'static [&'static str],
    capacity: i32,
}

const fn rep(
    username: &'static str,
    name: &'static str,
    role: Role,
    regions: &'static [&'static str],
    industries: &'static [&'static str],
    skills: &'static [&'static str],
    capacity: i32,
) -> Rep {
    Rep {
        username,
        name,
        role,
        regions,
        industries,
        skills,
        capacity,
    }
}

const TEAMS: &[(&str, &[&str], &[Rep])] = &[
    (
        "华东",
        &["上海", "江苏", "浙江", "安徽", "山东"],
        &[
            rep(
                "east.manager",
                "周敏",
                Role::Manager,
                &["上海", "江苏", "浙江"],
                &[],
                &[],
                20,
            ),
            rep(
                "east.rep1",
                "张伟",
                Role::Sales,
                &["上海", "江苏"],
                &["新能源汽车"],
                &["电池", "激光焊接"],
                40,
            ),
            rep(
                "east.rep2",
                "李娜",
                Role::Sales,
                &["浙江"],
                &["医疗器械"],
                &["内窥镜", "灭菌"],
                30,
            ),
            rep(
                "east.rep3",
                "王磊",
                Role::Sales,
                &["江苏", "安徽"],
                &["新能源汽车", "光伏"],
                &["储能"],
                35,
            ),
        ],
    ),
    (
        "华南",
        &["广东", "福建", "广西", "海南"],
        &[
            rep(
                "south.manager",
                "陈静",
                Role::Manager,
                &["广东", "福建"],
                &[],
                &[],
                20,
            ),
            rep(
                "south.rep1",
                "刘洋",
                Role::Sales,
                &["广东"],
                &["消费电子"],
                &["SMT"],
                40,
            ),
            rep(
                "south.rep2",
                "黄丽",
                Role::Sales,
                &["福建", "广东"],
                &["医疗器械"],
                &["影像"],
                30,
            ),
        ],
    ),
    (
        "华北",
        &["北京", "天津", "河北", "山西", "内蒙古"],
        &[
            rep(
                "north.manager",
                "赵强",
                Role::Manager,
                &["北京", "天津"],
                &[],
                &[],
                20,
            ),
            rep(
                "north.rep1",
                "孙鹏",
                Role::Sales,
                &["北京", "河北"],
                &["新能源汽车"],
                &["电驱"],
                40,
            ),
            rep(
                "north.rep2",
                "杨帆",
                Role::Sales,
                &["天津", "山西"],
                &["装备制造"],
                &["数控"],
                30,
            ),
        ],
    ),
];

const OTHERS: &[(&str, &str, Role)] = &[
    ("director", "吴总", Role::Director),
    ("marketing", "郑晓", Role::Marketing),
    ("service", "冯客服", Role::Service),
    ("engineer", "何工", Role::Engineer),
    ("legal", "许律", Role::Legal),
    ("finance", "吕会计", Role::Finance),
    ("implementation", "施实施", Role::Implementation),
    ("integration", "集成账号", Role::Integration),
];

fn request(username: &str, name: &str, role: Role) -> UserCreate {
    UserCreate {
        username: username.into(),
        password: DEMO_PASSWORD.into(),
        display_name: Some(name.into()),
        role,
        team_id: None,
        manager_id: None,
        regions: Vec::new(),
        industries: Vec::new(),
        skills: Vec::new(),
        capacity: 0,
        active: Some(true),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Loads the demo company; returns the logins (username, display name, role), or an empty
/// list when it was loaded before.
pub fn load(conn: &mut DbConnection) -> AppResult<Vec<(String, String, Role)>> {
    if users::find_by_username(conn, "admin")?.is_some() {
        return Ok(Vec::new());
    }
    let mut logins = Vec::new();
    // Hash every password before the transaction (argon2 is deliberately slow).
    let admin = NewUser::prepare(request("admin", "系统管理员", Role::Admin))?;
    let mut others = Vec::new();
    for (u, n, r) in OTHERS {
        others.push(NewUser::prepare(request(u, n, *r))?);
        logins.push((u.to_string(), n.to_string(), *r));
    }
    let mut team_members = Vec::new();
    for (team, regions, reps) in TEAMS {
        let mut members = Vec::new();
        for r in reps.iter() {
            members.push((r.role, r.username));
            logins.push((r.username.to_string(), r.name.to_string(), r.role));
        }
        team_members.push((*team, *regions, reps, members));
    }
    run_in_transaction(
        conn,
        (chrono::Utc::now(), crate::config::DEFAULT_TIME_ZONE),
        SYSTEM_ACTOR.into(),
        "demo".into(),
        move |uow| {
            admin.insert(uow)?;
            let mut director_id = None;
            for u in others {
                let v = u.insert(uow)?;
                if v.role == Role::Director {
                    director_id = Some(v.id);
                }
            }
            let calendar_id = demo_calendar(uow)?;
            let mut all_reps = Vec::new();
            for (priority, (team, regions, reps, _)) in (10..).zip(team_members) {
                let team_id = new_id();
                teams::insert(
                    uow.conn,
                    &TeamRow {
                        id: team_id.clone(),
                        name: team.into(),
                        manager_id: None,
                        regions: json!(strings(regions)).to_string(),
                        version: 1,
                        created_at: uow.now_ms,
                        updated_at: uow.now_ms,
                    },
                )?;
                uow.audit("team", &team_id, "create", &[]);
                let mut manager_id = director_id.clone();
                for r in reps.iter() {
                    let req = UserCreate {
                        team_id: Some(team_id.clone()),
                        manager_id: manager_id.clone(),
                        regions: strings(r.regions),
                        industries: strings(r.industries),
                        skills: strings(r.skills),
                        capacity: r.capacity,
                        ..request(r.username, r.name, r.role)
                    };
                    let v = NewUser::prepare(req)?.insert(uow)?;
                    if r.role == Role::Sales {
                        all_reps.push(v.id.clone());
                    }
                    if r.role == Role::Manager {
                        let mut t = teams::find(uow.conn, &team_id)?.expect("team just inserted");
                        t.manager_id = Some(v.id.clone());
                        teams::update(uow.conn, &t, t.version)?;
                        manager_id = Some(v.id);
                    }
                }
                let in_region = json!({"field": "province", "op": "in", "value": regions});
                let big_ev = [
                    json!({"field": "industry", "op": "eq", "value": "新能源汽车"}),
                    json!({"field": "budget_cents", "op": "gte", "value": 50_000_000}),
                    in_region.clone(),
                ];
                let name = format!("{team}新能源大客户");
                demo_rule(
                    uow,
                    &name,
                    priority,
                    &big_ev,
                    Some(&team_id),
                    &[],
                    "top_performers",
                    &calendar_id,
                )?;
                let web = [
                    json!({"field": "source", "op": "eq", "value": "web_form"}),
                    in_region,
                ];
                let name = format!("{team}官网线索");
                demo_rule(
                    uow,
                    &name,
                    priority + 20,
                    &web,
                    Some(&team_id),
                    &[],
                    "round_robin",
                    &calendar_id,
                )?;
            }
            let medical = [json!({"field": "industry", "op": "eq", "value": "医疗器械"})];
            demo_rule(
                uow,
                "医疗器械技能匹配",
                20,
                &medical,
                None,
                &all_reps,
                "skill_match",
                &calendar_id,
            )?;
            demo_rule(
                uow,
                "兜底规则",
                1000,
                &[],
                None,
                &all_reps,
                "least_loaded",
                &calendar_id,
            )?;
            Ok(())
        },
    )?;
    logins.insert(0, ("admin".into(), "系统管理员".into(), Role::Admin));
    Ok(logins)
}

/// The mainland-China working calendar of 2026 (09:00–18:00, public holidays, 调休).
fn demo_calendar(uow: &mut crate::service::Uow<'_>) -> AppResult<String> {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../data/cn-holidays-2026.json"))
            .expect("the shipped calendar data is JSON");
    let entries =
        |k: &str| serde_json::Value::Array(data[k].as_array().cloned().unwrap_or_default());
    let row = CalendarRow {
        id: new_id(),
        name: "中国大陆工作日 2026".into(),
        time_zone: "Asia/Shanghai".into(),
        hours: json!([{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}]).to_string(),
        holidays: entries("holidays").to_string(),
        makeup_workdays: entries("makeup_workdays").to_string(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
    };
    crate::store::calendars::insert(uow.conn, &row)?;
    uow.audit("calendar", &row.id, "create", &[]);
    Ok(row.id)
}

/// One assignment rule of the demo: 2 h to claim, 4 h to first touch, on the calendar.
#[allow(clippy::too_many_arguments)]
fn demo_rule(
    uow: &mut crate::service::Uow<'_>,
    name: &str,
    priority: i32,
    conditions: &[serde_json::Value],
    team_id: Option<&str>,
    user_ids: &[String],
    strategy: &str,
    calendar_id: &str,
) -> AppResult<()> {
    let row = RuleRow {
        id: new_id(),
        name: name.into(),
        priority,
        active: true,
        conditions: serde_json::Value::Array(conditions.to_vec()).to_string(),
        team_id: team_id.map(str::to_string),
        user_ids: json!(user_ids).to_string(),
        strategy: strategy.into(),
        top_n: (strategy == "top_performers").then_some(3),
        max_load_ratio: Some(0.65),
        claim_timeout_secs: 7200,
        first_touch_timeout_secs: 14400,
        max_reassignments: 2,
        calendar_id: Some(calendar_id.into()),
        rr_cursor: None,
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        deleted_at: None,
    };
    crate::store::rules::insert(uow.conn, &row)?;
    uow.audit("assignment_rule", &row.id, "create", &[]);
    Ok(())
}
