//! `serve --demo`: a demo company (three regional sales teams, a director, one user of each
//! other role) so that the API can be tried at once. Loading is skipped when the demo
//! admin already exists.

use serde_json::json;

use crate::bootstrap::SYSTEM_ACTOR;
use crate::domain::role::Role;
use crate::error::AppResult;
use crate::service::org::{NewUser, UserCreate};
use crate::service::{new_id, run_in_transaction};
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
        chrono::Utc::now(),
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
            for (team, regions, reps, _) in team_members {
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
                    if r.role == Role::Manager {
                        let mut t = teams::find(uow.conn, &team_id)?.expect("team just inserted");
                        t.manager_id = Some(v.id.clone());
                        teams::update(uow.conn, &t, t.version)?;
                        manager_id = Some(v.id);
                    }
                }
            }
            Ok(())
        },
    )?;
    logins.insert(0, ("admin".into(), "系统管理员".into(), Role::Admin));
    Ok(logins)
}
