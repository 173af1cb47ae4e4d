//! Row-scope predicates shared by the repositories of owned records.

use diesel::prelude::*;

use super::schema::users;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern and wraps it in `%…%`.
pub fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// Ids of the members of a team, as a subquery for `owner_id IN (…)`.
pub fn team_members(
    team_id: &str,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::team_id, String>>,
    diesel::dsl::Nullable<users::id>,
> {
    users::table
        .filter(users::team_id.eq(team_id.to_string()))
        .select(users::id.nullable())
}
