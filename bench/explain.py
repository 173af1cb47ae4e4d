"""The query plans of the statements the server runs on the lead table (as diesel writes
them), on a seeded SQLite database: python3 bench/explain.py DB OWNER_ID (bench/growth.sh
runs it on its largest table)."""
import sqlite3
import sys

db, owner = sys.argv[1:3]
c = sqlite3.connect(db)
n = c.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
keys = "id, company_key, phone, email, email_domain, deleted_at, merged_into"
compared = "id, name, company, company_key, phone, email, email_domain, title, province, city, industry"
probe = c.execute("SELECT phone, email, email_domain, company_block, id FROM leads "
                  "WHERE company_block IS NOT NULL ORDER BY id LIMIT 1").fetchone()
queries = [(f"duplicate candidates by {col} (limit {lim}): the matching keys only",
            f"SELECT {keys} FROM leads WHERE {col} = ? ORDER BY id DESC LIMIT ?", (value, lim))
           for col, value, lim in zip(["phone", "email", "email_domain"], probe, [50, 50, 100])]
queries.append(("duplicate candidates by company_block (limit 200): id and company key, from the index",
                "SELECT id, company_key FROM leads WHERE company_block = ? ORDER BY id DESC LIMIT ?",
                (probe[3], 200)))
queries.append(("a matching candidate's compared columns (and whether it is live and unmerged)",
                f"SELECT {compared}, deleted_at, merged_into FROM leads WHERE id = ? LIMIT ?", (probe[4], 1)))
queries.append(("GET /leads?owner_id&status&limit=50",
                "SELECT * FROM leads WHERE deleted_at IS NULL AND status = ? AND owner_id = ? ORDER BY id DESC LIMIT ?",
                ("assigned", owner, 50)))
queries.append(("a pool's conversions in 90 days (top-performers strategy)",
                "SELECT owner_id, COUNT(*) FROM leads WHERE owner_id IN (?) AND status = ? AND updated_at >= ? "
                "AND deleted_at IS NULL GROUP BY owner_id", (owner, "converted", 0)))
queries.append(("GET /leads/{id}", "SELECT * FROM leads WHERE id = ? AND deleted_at IS NULL LIMIT ?", (probe[4], 1)))
print(f"-- SQLite {sqlite3.sqlite_version}, {n} leads; EXPLAIN QUERY PLAN")
for name, sql, args in queries:
    print(f"\n-- {name}\n{sql}\n-- args {args!r}")
    for row in c.execute("EXPLAIN QUERY PLAN " + sql, args):
        print("  " + row[3])
