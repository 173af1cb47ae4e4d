//! Report aggregates. Every figure is computed by the database (COUNT/SUM with CASE,
//! correlated EXISTS, nearest-rank lookups with `LIMIT 1 OFFSET k`), never by loading the
//! rows into memory. The SQL is written once in the dialect both backends share and run on
//! the concrete connection with bound parameters (`?` is rewritten to `$n` for PostgreSQL).

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::work_orders::WorkOrderScope;
use super::DbConnection;
use crate::domain::role::RowScope;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its parameters in the order of their `?` placeholders.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub fn new(s: &str) -> Sql {
        Sql {
            text: s.to_string(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    pub fn text(&mut self, v: &str) -> &mut Sql {
        self.text.push('?');
        self.binds.push(Bind::Text(v.to_string()));
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Sql {
        self.text.push('?');
        self.binds.push(Bind::Int(v));
        self
    }

    /// `(?, ?, …)` of the values (`(NULL)` for none, which matches nothing).
    pub fn texts(&mut self, vs: &[String]) -> &mut Sql {
        if vs.is_empty() {
            return self.push("(NULL)");
        }
        self.push("(");
        for (i, v) in vs.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(v);
        }
        self.push(")")
    }

    pub fn append(&mut self, other: &Sql) -> &mut Sql {
        self.text.push_str(&other.text);
        self.binds.extend(other.binds.iter().cloned());
        self
    }

    fn numbered(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut n = 0;
        for c in self.text.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Runs `q` and maps its rows by column name.
pub fn load<T>(conn: &mut DbConnection, q: &Sql) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
{
    macro_rules! run {
        ($c:expr, $db:ty, $text:expr) => {{
            let mut b = diesel::sql_query($text).into_boxed::<$db>();
            for v in &q.binds {
                b = match v {
                    Bind::Text(s) => b.bind::<Text, _>(s.clone()),
                    Bind::Int(i) => b.bind::<BigInt, _>(*i),
                };
            }
            b.load::<T>($c)
        }};
    }
    match conn {
        DbConnection::Postgresql(c) => run!(c, Pg, q.numbered()),
        DbConnection::Sqlite(c) => run!(c, Sqlite, q.text.clone()),
    }
}

fn one<T>(conn: &mut DbConnection, q: &Sql) -> QueryResult<T>
where
    T: QueryableByName<Pg> + QueryableByName<Sqlite> + Default + 'static,
{
    Ok(load::<T>(conn, q)?.into_iter().next().unwrap_or_default())
}

#[derive(Debug, Default, QueryableByName)]
pub struct N2 {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub m: i64,
}

#[derive(Debug, Default, QueryableByName)]
pub struct Keyed {
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub m: i64,
    #[diesel(sql_type = BigInt)]
    pub w: i64,
}

#[derive(Debug, Default, QueryableByName)]
struct Value1 {
    #[diesel(sql_type = Nullable<BigInt>)]
    v: Option<i64>,
}

/// Who a report covers: the caller's row scope and the `team_id`/`owner_id` filters.
#[derive(Debug, Clone)]
pub struct Filters {
    pub scope: RowScope,
    pub team_id: Option<String>,
    pub owner_id: Option<String>,
}

/// A period `[from, to)` in epoch milliseconds, with `now` for "still open" judgements.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub now: i64,
}

fn team_clause(q: &mut Sql, owner: &str, team: &str, t: &str) {
    q.push(&format!(" AND ({team} = "))
        .text(t)
        .push(&format!(
            " OR {owner} IN (SELECT u.id FROM users u WHERE u.team_id = "
        ))
        .text(t)
        .push("))");
}

/// ` AND …` limiting owned rows (columns `owner`, `team`) to the filters.
fn owned(q: &mut Sql, owner: &str, team: &str, f: &Filters) {
    match &f.scope {
        RowScope::All => {}
        RowScope::Team(t) => team_clause(q, owner, team, t),
        RowScope::Own(u) => {
            q.push(&format!(" AND {owner} = ")).text(u);
        }
        RowScope::Nothing => {
            q.push(" AND 1 = 0");
        }
    }
    if let Some(t) = &f.team_id {
        team_clause(q, owner, team, t);
    }
    if let Some(o) = &f.owner_id {
        q.push(&format!(" AND {owner} = ")).text(o);
    }
}

/// ` AND …` limiting activities to those logged by reps the filters cover (activities are
/// attributed to whoever logged them).
fn by_actor(q: &mut Sql, actor: &str, f: &Filters) {
    let team = |q: &mut Sql, t: &str| {
        q.push(&format!(
            " AND {actor} IN (SELECT u.id FROM users u WHERE u.team_id = "
        ))
        .text(t)
        .push(")");
    };
    match &f.scope {
        RowScope::All => {}
        RowScope::Team(t) => team(q, t),
        RowScope::Own(u) => {
            q.push(&format!(" AND {actor} = ")).text(u);
        }
        RowScope::Nothing => {
            q.push(" AND 1 = 0");
        }
    }
    if let Some(t) = &f.team_id {
        team(q, t);
    }
    if let Some(o) = &f.owner_id {
        q.push(&format!(" AND {actor} = ")).text(o);
    }
}

fn between(q: &mut Sql, col: &str, p: &Period) {
    q.push(&format!(" AND {col} >= "))
        .int(p.from)
        .push(&format!(" AND {col} < "))
        .int(p.to);
}

const LIVE_LEAD: &str = "l.deleted_at IS NULL AND l.merged_into IS NULL";

/// Leads first assigned in the period (`l`).
fn leads_assigned(f: &Filters, p: &Period) -> Sql {
    let mut q = Sql::new(" FROM leads l WHERE ");
    q.push(LIVE_LEAD);
    owned(&mut q, "l.owner_id", "l.team_id", f);
    between(&mut q, "l.assigned_at", p);
    q
}

/// The count of values of `values` (a subquery with column `v`) and its nearest-rank
/// values at the given ranks.
fn ranked(conn: &mut DbConnection, values: &Sql, ranks: &[i64]) -> QueryResult<Vec<Option<i64>>> {
    let mut out = Vec::new();
    for &k in ranks {
        let mut q = Sql::new("SELECT t.v AS v FROM (");
        q.append(values)
            .push(") t ORDER BY t.v LIMIT 1 OFFSET ")
            .int(k - 1);
        out.push(one::<Value1>(conn, &q)?.v);
    }
    Ok(out)
}

fn count(conn: &mut DbConnection, from_where: &Sql) -> QueryResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) AS n, CAST(0 AS BIGINT) AS m");
    q.append(from_where);
    Ok(one::<N2>(conn, &q)?.n)
}

#[derive(Debug, Default)]
pub struct LeadResponse {
    pub assigned: i64,
    pub touched: i64,
    pub first_touch_median_ms: Option<i64>,
    pub first_touch_p90_ms: Option<i64>,
    pub completion_due: i64,
    pub completion_done: i64,
    pub claim_reassigned: i64,
    pub claim_escalated: i64,
    pub first_touch_overdue: i64,
}

/// Figures of the lead-response report.
pub fn lead_response(
    conn: &mut DbConnection,
    f: &Filters,
    p: &Period,
    rank: impl Fn(i64, f64) -> Option<i64>,
) -> QueryResult<LeadResponse> {
    let base = leads_assigned(f, p);
    let mut r = LeadResponse {
        assigned: count(conn, &base)?,
        ..Default::default()
    };
    let mut values = Sql::new("SELECT l.first_touch_at - l.assigned_at AS v");
    values
        .append(&base)
        .push(" AND l.first_touch_at IS NOT NULL");
    let mut counted = Sql::new("SELECT COUNT(*) AS n, CAST(0 AS BIGINT) AS m FROM (");
    counted.append(&values).push(") t");
    r.touched = one::<N2>(conn, &counted)?.n;
    if let (Some(med), Some(p90)) = (rank(r.touched, 0.5), rank(r.touched, 0.9)) {
        let v = ranked(conn, &values, &[med, p90])?;
        r.first_touch_median_ms = v[0];
        r.first_touch_p90_ms = v[1];
    }
    let within = |col: &str| format!("{col} IS NOT NULL AND {col} <= l.assigned_at + {DAY_MS}");
    let mut q = Sql::new("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN ");
    q.push(&within("l.accepted_at"))
        .push(" AND ")
        .push(&within("l.first_touch_at"))
        .push(&format!(
            " AND EXISTS (SELECT 1 FROM activities a WHERE a.lead_id = l.id \
             AND a.action = 'needs_discovery' AND a.reached AND a.created_at <= l.assigned_at + {DAY_MS})"
        ))
        .push(" THEN 1 ELSE 0 END), 0) AS BIGINT) AS m")
        .append(&base)
        .push(" AND l.assigned_at <= ")
        .int(p.now - DAY_MS);
    let c = one::<N2>(conn, &q)?;
    (r.completion_due, r.completion_done) = (c.n, c.m);
    let mut q = Sql::new(
        "SELECT x.kind || ':' || x.outcome AS key, COUNT(*) AS n, CAST(0 AS BIGINT) AS m, CAST(0 AS BIGINT) AS w \
         FROM lead_lapses x WHERE 1 = 1",
    );
    owned(&mut q, "x.owner_id", "x.team_id", f);
    between(&mut q, "x.at", p);
    q.push(" GROUP BY x.kind, x.outcome");
    for row in load::<Keyed>(conn, &q)? {
        match row.key.as_deref() {
            Some("claim:reassigned") => r.claim_reassigned = row.n,
            Some("claim:escalated") => r.claim_escalated = row.n,
            Some("first_touch:overdue") => r.first_touch_overdue = row.n,
            _ => {}
        }
    }
    Ok(r)
}

/// Leads created in the period by status, by source and by grade (`n` leads, `m`
/// converted, `w` ever assigned).
pub fn lead_funnel(
    conn: &mut DbConnection,
    f: &Filters,
    p: &Period,
) -> QueryResult<[Vec<Keyed>; 3]> {
    let mut base = Sql::new(" FROM leads l WHERE ");
    base.push(LIVE_LEAD);
    owned(&mut base, "l.owner_id", "l.team_id", f);
    between(&mut base, "l.created_at", p);
    let by = |col: &str| {
        let mut q = Sql::new(&format!(
            "SELECT {col} AS key, COUNT(*) AS n, \
             CAST(COALESCE(SUM(CASE WHEN l.status = 'converted' THEN 1 ELSE 0 END), 0) AS BIGINT) AS m, \
             CAST(COALESCE(SUM(CASE WHEN l.assigned_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS w"
        ));
        q.append(&base).push(&format!(" GROUP BY {col}"));
        q
    };
    Ok([
        load(conn, &by("l.status"))?,
        load(conn, &by("l.source"))?,
        load(conn, &by("l.grade"))?,
    ])
}

#[derive(Debug, Default)]
pub struct Actions {
    pub coverage_due: i64,
    pub coverage_met: i64,
    pub fulfilled: i64,
    pub fulfilment_delay_ms: i64,
    pub converted: i64,
    pub complete_chains: i64,
    pub activities: i64,
    pub touched_leads: i64,
    pub open_leads: i64,
    pub reps: i64,
}

/// The actions that make a complete chain, in order.
pub const CHAIN: [&str; 4] = [
    "first_contact",
    "needs_discovery",
    "demo",
    "quote_submitted",
];

pub fn actions(conn: &mut DbConnection, f: &Filters, p: &Period) -> QueryResult<Actions> {
    let mut r = Actions::default();
    let mut q = Sql::new(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN l.accepted_at IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM lead_lapses x WHERE x.lead_id = l.id AND x.kind = 'claim') \
         THEN 1 ELSE 0 END), 0) AS BIGINT) AS m",
    );
    q.append(&leads_assigned(f, p))
        .push(
            " AND NOT (l.status = 'assigned' AND l.claim_due_at IS NOT NULL AND l.claim_due_at > ",
        )
        .int(p.now)
        .push(")");
    let c = one::<N2>(conn, &q)?;
    (r.coverage_due, r.coverage_met) = (c.n, c.m);
    let mut q = Sql::new(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(a.fulfilled_at - a.next_action_due_at), 0) AS BIGINT) AS m \
         FROM activities a WHERE a.fulfilled_at IS NOT NULL",
    );
    by_actor(&mut q, "a.created_by", f);
    between(&mut q, "a.next_action_due_at", p);
    let c = one::<N2>(conn, &q)?;
    (r.fulfilled, r.fulfilment_delay_ms) = (c.n, c.m);
    let mut q = Sql::new("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN ");
    for (i, action) in CHAIN.iter().enumerate() {
        if i > 0 {
            q.push(" AND ");
        }
        q.push(&format!(
            "(EXISTS (SELECT 1 FROM activities a WHERE a.lead_id = l.id AND a.action = '{action}') \
             OR EXISTS (SELECT 1 FROM opportunities o JOIN activities a ON a.opportunity_id = o.id \
             WHERE o.lead_id = l.id AND a.action = '{action}'))"
        ));
    }
    q.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) AS m FROM leads l WHERE ")
        .push(LIVE_LEAD)
        .push(" AND l.status = 'converted'");
    owned(&mut q, "l.owner_id", "l.team_id", f);
    between(&mut q, "l.created_at", p);
    let c = one::<N2>(conn, &q)?;
    (r.converted, r.complete_chains) = (c.n, c.m);
    let mut q = Sql::new(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT a.lead_id) AS m FROM activities a WHERE a.lead_id IS NOT NULL",
    );
    by_actor(&mut q, "a.created_by", f);
    between(&mut q, "a.created_at", p);
    let c = one::<N2>(conn, &q)?;
    (r.activities, r.touched_leads) = (c.n, c.m);
    let mut q =
        Sql::new("SELECT COUNT(*) AS n, COUNT(DISTINCT l.owner_id) AS m FROM leads l WHERE ");
    q.push(LIVE_LEAD)
        .push(" AND l.owner_id IS NOT NULL AND l.status NOT IN ('converted', 'disqualified')");
    owned(&mut q, "l.owner_id", "l.team_id", f);
    let c = one::<N2>(conn, &q)?;
    (r.open_leads, r.reps) = (c.n, c.m);
    Ok(r)
}

#[derive(Debug, Default, QueryableByName)]
pub struct StalledDeal {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub stage: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub owner_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub stage_entered_at: i64,
}

#[derive(Debug, Default)]
pub struct Pipeline {
    /// Open deals by stage: count, Σ amount, Σ amount × probability.
    pub open: Vec<Keyed>,
    /// Stage exits in the period by the stage left: count, Σ seconds in it, regressions.
    pub exits: Vec<Keyed>,
    pub stalled: Vec<StalledDeal>,
    pub gated: i64,
    pub gated_with_evidence: i64,
    /// Deals expected to close in the period, open at its start, by their stage then:
    /// count, Σ amount.
    pub expected_at_start: Vec<Keyed>,
    pub won: i64,
    pub won_cents: i64,
}

/// Figures of the pipeline report. `gated` are the actions whose evidence counts;
/// `close_dates` the first and last calendar day of the period in the company's zone.
pub fn pipeline(
    conn: &mut DbConnection,
    f: &Filters,
    p: &Period,
    gated: &[String],
    close_dates: (&str, &str),
) -> QueryResult<Pipeline> {
    let mut r = Pipeline::default();
    const LIVE: &str = "o.deleted_at IS NULL";
    let mut q = Sql::new(
        "SELECT o.stage AS key, COUNT(*) AS n, CAST(COALESCE(SUM(o.amount_cents), 0) AS BIGINT) AS m, \
         CAST(COALESCE(SUM(o.amount_cents * o.probability), 0) AS BIGINT) AS w \
         FROM opportunities o WHERE o.deleted_at IS NULL AND o.status = 'open'",
    );
    owned(&mut q, "o.owner_id", "o.team_id", f);
    q.push(" GROUP BY o.stage");
    r.open = load(conn, &q)?;
    let mut q = Sql::new(
        "SELECT s.from_stage AS key, COUNT(*) AS n, CAST(COALESCE(SUM(s.secs_in_stage), 0) AS BIGINT) AS m, \
         CAST(COALESCE(SUM(CASE WHEN s.direction = 'backward' THEN 1 ELSE 0 END), 0) AS BIGINT) AS w \
         FROM opportunity_stages s JOIN opportunities o ON o.id = s.opportunity_id \
         WHERE s.from_stage IS NOT NULL AND ",
    );
    q.push(LIVE);
    owned(&mut q, "o.owner_id", "o.team_id", f);
    between(&mut q, "s.at", p);
    q.push(" GROUP BY s.from_stage");
    r.exits = load(conn, &q)?;
    let mut q = Sql::new(
        "SELECT o.id AS id, o.name AS name, o.stage AS stage, o.owner_id AS owner_id, \
         o.stage_entered_at AS stage_entered_at FROM opportunities o \
         WHERE o.deleted_at IS NULL AND o.status = 'open' AND o.stalled",
    );
    owned(&mut q, "o.owner_id", "o.team_id", f);
    q.push(" ORDER BY o.stage_entered_at, o.id LIMIT 20");
    r.stalled = load(conn, &q)?;
    let mut q = Sql::new(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN a.evidence <> '[]' THEN 1 ELSE 0 END), 0) \
         AS BIGINT) AS m FROM activities a WHERE a.action IN ",
    );
    q.texts(gated);
    by_actor(&mut q, "a.created_by", f);
    between(&mut q, "a.created_at", p);
    let c = one::<N2>(conn, &q)?;
    (r.gated, r.gated_with_evidence) = (c.n, c.m);
    let mut q = Sql::new(
        "SELECT t.stage AS key, COUNT(*) AS n, CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) AS m, CAST(0 AS BIGINT) AS w FROM \
         (SELECT (SELECT s.to_stage FROM opportunity_stages s WHERE s.opportunity_id = o.id AND s.at < ",
    );
    q.int(p.from)
        .push(
            " ORDER BY s.at DESC, s.id DESC LIMIT 1) AS stage, o.amount_cents AS amount \
             FROM opportunities o WHERE o.deleted_at IS NULL AND o.amount_cents IS NOT NULL AND o.created_at < ",
        )
        .int(p.from)
        .push(" AND (o.closed_at IS NULL OR o.closed_at >= ")
        .int(p.from)
        .push(") AND o.expected_close_date >= ")
        .text(close_dates.0)
        .push(" AND o.expected_close_date <= ")
        .text(close_dates.1);
    owned(&mut q, "o.owner_id", "o.team_id", f);
    q.push(") t GROUP BY t.stage");
    r.expected_at_start = load(conn, &q)?;
    let mut q = Sql::new(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(o.amount_cents), 0) AS BIGINT) AS m \
         FROM opportunities o WHERE o.deleted_at IS NULL AND o.status = 'won'",
    );
    owned(&mut q, "o.owner_id", "o.team_id", f);
    between(&mut q, "o.closed_at", p);
    let c = one::<N2>(conn, &q)?;
    (r.won, r.won_cents) = (c.n, c.m);
    Ok(r)
}

#[derive(Debug, Default, QueryableByName)]
pub struct ServiceRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub team_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = BigInt)]
    pub closed: i64,
    #[diesel(sql_type = BigInt)]
    pub with_deadline: i64,
    #[diesel(sql_type = BigInt)]
    pub met: i64,
    #[diesel(sql_type = BigInt)]
    pub resolved: i64,
    #[diesel(sql_type = BigInt)]
    pub resolution_ms: i64,
}

/// Work orders created in the period, by team.
pub fn service(
    conn: &mut DbConnection,
    scope: &WorkOrderScope,
    team_id: Option<&str>,
    engineer_id: Option<&str>,
    p: &Period,
) -> QueryResult<Vec<ServiceRow>> {
    let sum = |cond: &str, then: &str| {
        format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN {then} ELSE 0 END), 0) AS BIGINT)")
    };
    let deadline = "w.resolution_due_at IS NOT NULL AND w.status <> 'cancelled'";
    let mut q = Sql::new(&format!(
        "SELECT w.team_id AS team_id, COUNT(*) AS created, {closed} AS closed, ",
        closed = sum("w.status = 'closed'", "1")
    ));
    q.push(&format!(
        "CAST(COALESCE(SUM(CASE WHEN {deadline} AND (w.resolved_at IS NOT NULL OR w.resolution_due_at < "
    ))
    .int(p.now)
    .push(") THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_deadline, ")
    .push(&sum(
        &format!(
            "{deadline} AND w.resolved_at IS NOT NULL AND w.resolved_at <= w.resolution_due_at \
             AND (w.response_due_at IS NULL OR (w.accepted_at IS NOT NULL AND w.accepted_at <= w.response_due_at))"
        ),
        "1",
    ))
    .push(" AS met, ")
    .push(&sum("w.resolved_at IS NOT NULL", "1"))
    .push(" AS resolved, ")
    .push(&sum(
        "w.resolved_at IS NOT NULL",
        "w.resolved_at - w.created_at - w.paused_secs * 1000",
    ))
    .push(" AS resolution_ms FROM work_orders w WHERE w.deleted_at IS NULL");
    match scope {
        WorkOrderScope::All => {}
        WorkOrderScope::Engineer { user_id, team_id } => {
            q.push(" AND (w.engineer_id = ").text(user_id);
            if let Some(t) = team_id {
                q.push(" OR w.team_id = ").text(t);
            }
            q.push(")");
        }
        WorkOrderScope::Nothing => {
            q.push(" AND 1 = 0");
        }
    }
    if let Some(t) = team_id {
        q.push(" AND w.team_id = ").text(t);
    }
    if let Some(e) = engineer_id {
        q.push(" AND w.engineer_id = ").text(e);
    }
    between(&mut q, "w.created_at", p);
    q.push(" GROUP BY w.team_id ORDER BY w.team_id");
    load(conn, &q)
}

/// Live leads (`l`), accounts (`a`) or contacts (`c`, through their account) created in the
/// period, in scope.
fn records(entity: &str, f: &Filters, p: Option<&Period>) -> Sql {
    let (from, alias, owner, team, live) = match entity {
        "lead" => ("leads l", "l", "l.owner_id", "l.team_id", LIVE_LEAD),
        "account" => (
            "accounts a",
            "a",
            "a.owner_id",
            "a.team_id",
            "a.deleted_at IS NULL",
        ),
        _ => (
            "contacts c JOIN accounts a ON a.id = c.account_id",
            "c",
            "a.owner_id",
            "a.team_id",
            "c.deleted_at IS NULL AND a.deleted_at IS NULL",
        ),
    };
    let mut q = Sql::new(&format!(" FROM {from} WHERE {live}"));
    owned(&mut q, owner, team, f);
    if let Some(p) = p {
        between(&mut q, &format!("{alias}.created_at"), p);
    }
    q
}

#[derive(Debug, Default, QueryableByName)]
struct Filled {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    c0: i64,
    #[diesel(sql_type = BigInt)]
    c1: i64,
    #[diesel(sql_type = BigInt)]
    c2: i64,
    #[diesel(sql_type = BigInt)]
    c3: i64,
    #[diesel(sql_type = BigInt)]
    c4: i64,
    #[diesel(sql_type = BigInt)]
    c5: i64,
    #[diesel(sql_type = BigInt)]
    c6: i64,
    #[diesel(sql_type = BigInt)]
    c7: i64,
}

/// A column of an entity, or a custom value, as an expression that is NULL when unset.
pub enum FieldExpr<'a> {
    Column(&'a str),
    Custom(&'a str),
}

/// The number of records and, per field, how many have it filled in.
pub fn completeness(
    conn: &mut DbConnection,
    entity: &str,
    fields: &[FieldExpr<'_>],
    f: &Filters,
    p: Option<&Period>,
) -> QueryResult<(i64, Vec<i64>)> {
    let alias = match entity {
        "lead" => "l",
        "account" => "a",
        _ => "c",
    };
    let postgres = matches!(conn, DbConnection::Postgresql(_));
    let base = records(entity, f, p);
    let (mut total, mut filled) = (0, Vec::new());
    for chunk in fields.chunks(8) {
        let mut q = Sql::new("SELECT COUNT(*) AS n");
        for i in 0..8 {
            let expr = match chunk.get(i) {
                None => "CAST(0 AS BIGINT)".to_string(),
                // Keys are validated as [a-z0-9_], safe to inline.
                Some(FieldExpr::Custom(k)) if postgres => {
                    format!("COUNT(NULLIF({alias}.custom::jsonb ->> '{k}', ''))")
                }
                Some(FieldExpr::Custom(k)) => {
                    format!("COUNT(NULLIF(json_extract({alias}.custom, '$.{k}'), ''))")
                }
                Some(FieldExpr::Column(c)) => format!("COUNT({alias}.{c})"),
            };
            q.push(&format!(", {expr} AS c{i}"));
        }
        q.append(&base);
        let r = one::<Filled>(conn, &q)?;
        total = r.n;
        let all = [r.c0, r.c1, r.c2, r.c3, r.c4, r.c5, r.c6, r.c7];
        filled.extend_from_slice(&all[..chunk.len()]);
    }
    if fields.is_empty() {
        total = count(conn, &base)?;
    }
    Ok((total, filled))
}

/// Suspected duplicate leads (flagged, unmerged) and accounts (a later account with the
/// company-name key of an earlier one), created in the period when given.
pub fn duplicates(
    conn: &mut DbConnection,
    f: &Filters,
    p: Option<&Period>,
) -> QueryResult<(i64, i64)> {
    let mut q = Sql::new("SELECT COUNT(*) AS n, CAST(0 AS BIGINT) AS m");
    q.append(&records("lead", f, p))
        .push(" AND l.possible_duplicate");
    let leads = one::<N2>(conn, &q)?.n;
    let mut q = Sql::new("SELECT COUNT(*) AS n, CAST(0 AS BIGINT) AS m");
    q.append(&records("account", f, p)).push(
        " AND EXISTS (SELECT 1 FROM accounts b WHERE b.name_key = a.name_key \
         AND b.deleted_at IS NULL AND b.id < a.id)",
    );
    let accounts = one::<N2>(conn, &q)?.n;
    Ok((leads, accounts))
}

#[derive(Debug, Default, QueryableByName)]
pub struct StalledLead {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub company: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub owner_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub last_at: i64,
    #[diesel(sql_type = BigInt)]
    pub activities: i64,
}

#[derive(Debug, Default, QueryableByName)]
pub struct LateResponder {
    #[diesel(sql_type = Text)]
    pub owner_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub late: i64,
    #[diesel(sql_type = BigInt)]
    pub claim_lapses: i64,
}

/// The open leads in reps' hands longest without an activity (since the last activity,
/// else since assignment), and the reps with more than `max_late` missed deadlines in the
/// period.
pub fn lead_health(
    conn: &mut DbConnection,
    f: &Filters,
    p: &Period,
    max_late: i64,
) -> QueryResult<(Vec<StalledLead>, Vec<LateResponder>)> {
    let mut q = Sql::new(
        "SELECT l.id AS id, l.name AS name, l.company AS company, l.owner_id AS owner_id, l.status AS status, \
         COALESCE((SELECT MAX(a.created_at) FROM activities a WHERE a.lead_id = l.id), l.assigned_at, l.created_at) \
         AS last_at, (SELECT COUNT(*) FROM activities a WHERE a.lead_id = l.id) AS activities \
         FROM leads l WHERE ",
    );
    q.push(LIVE_LEAD)
        .push(" AND l.owner_id IS NOT NULL AND l.status NOT IN ('converted', 'disqualified')");
    owned(&mut q, "l.owner_id", "l.team_id", f);
    q.push(" ORDER BY last_at, id LIMIT 10");
    let stalled = load(conn, &q)?;
    let mut q = Sql::new(
        "SELECT x.owner_id AS owner_id, u.display_name AS display_name, COUNT(*) AS late, \
         CAST(COALESCE(SUM(CASE WHEN x.kind = 'claim' THEN 1 ELSE 0 END), 0) AS BIGINT) AS claim_lapses \
         FROM lead_lapses x LEFT JOIN users u ON u.id = x.owner_id WHERE x.owner_id IS NOT NULL",
    );
    owned(&mut q, "x.owner_id", "x.team_id", f);
    between(&mut q, "x.at", p);
    q.push(" GROUP BY x.owner_id, u.display_name HAVING COUNT(*) > ")
        .int(max_late)
        .push(" ORDER BY late DESC, owner_id");
    Ok((stalled, load(conn, &q)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_in_bind_order() {
        let mut q = Sql::new("SELECT 1 WHERE a = ");
        q.text("x")
            .push(" AND b IN ")
            .texts(&["p".into(), "q".into()]);
        assert_eq!(q.numbered(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(q.binds.len(), 3);
        assert_eq!(Sql::new("").texts(&[]).text, "(NULL)");
    }
}
