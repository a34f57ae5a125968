//! Writes queued in a transaction and sent together. On PostgreSQL the queue becomes one
//! statement, each write a data-modifying `WITH` item whose row count the final `SELECT`
//! returns: a step's result (lease, step row, children, audit row, attempt row) costs one
//! round trip instead of five. On SQLite, in process, the writes simply run one by one.
//!
//! All items of one PostgreSQL statement see the same snapshot and none sees another's
//! changes, so a write may be queued only when no write queued with it reads what it writes
//! or touches the same rows. Foreign keys are checked at the end of the statement, so a row
//! and the rows referring to it may go together.

use tasker_core::StoreError;

use super::Arg;

/// PostgreSQL's limit on bind parameters in one statement.
const PG_MAX_PARAMS: usize = 65_535;

/// How many rows a write must touch, and the conflict reported when it touches another number.
pub(crate) type Expect = Option<(u64, String)>;

/// One queued write: SQL with `$1…` placeholders of its own, its arguments, and how many rows
/// it must touch (`None`: any number).
pub(crate) struct Deferred {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) expect: Expect,
}

/// The statement of several writes, with its arguments and each write's expected count
/// (columns `n0`, `n1`, … of its one row). `None` when the writes are better sent one by one:
/// a single write, or more arguments than one statement may bind.
pub(crate) fn combine(pending: &[Deferred]) -> Option<(String, Vec<Arg>, Vec<&Expect>)> {
    let total: usize = pending.iter().map(|d| d.args.len()).sum();
    if pending.len() < 2 || total > PG_MAX_PARAMS {
        return None;
    }
    let mut items = Vec::with_capacity(pending.len());
    let mut counts = Vec::with_capacity(pending.len());
    let mut args = Vec::with_capacity(total);
    for (i, d) in pending.iter().enumerate() {
        let body = shift_placeholders(&d.sql, args.len());
        let returning = if is_select(&d.sql) {
            ""
        } else {
            " RETURNING 1"
        };
        items.push(format!("w{i} AS ({body}{returning})"));
        counts.push(format!("(SELECT COUNT(*) FROM w{i}) AS n{i}"));
        args.extend(d.args.iter().cloned());
    }
    let sql = format!("WITH {} SELECT {}", items.join(", "), counts.join(", "));
    Some((sql, args, pending.iter().map(|d| &d.expect).collect()))
}

/// Fails with the write's conflict when it touched other than the rows it had to.
pub(crate) fn check(expect: &Expect, n: u64) -> Result<(), StoreError> {
    match expect {
        Some((want, conflict)) if *want != n => Err(StoreError::Conflict(conflict.clone())),
        _ => Ok(()),
    }
}

fn is_select(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("select"))
}

/// `sql` with every placeholder `$N` renumbered `$(N + offset)`. The engine's SQL has no `$`
/// outside placeholders; quoted literals are copied unchanged all the same.
fn shift_placeholders(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    rewrite_placeholders(sql, '$', offset)
}

/// `sql` with each placeholder `$N` outside quoted literals written `{marker}{N + offset}`.
pub(super) fn rewrite_placeholders(sql: &str, marker: char, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
            continue;
        }
        if c != '$' || quoted || !chars.peek().is_some_and(char::is_ascii_digit) {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
            n = n * 10 + d as usize;
            chars.next();
        }
        out.push(marker);
        out.push_str(&(n + offset).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(sql: &str, args: usize, expect: Option<u64>) -> Deferred {
        Deferred {
            sql: sql.to_owned(),
            args: (0..args).map(|i| Arg::Int(Some(i as i64))).collect(),
            expect: expect.map(|n| (n, format!("expected {n}"))),
        }
    }

    #[test]
    fn placeholders_are_renumbered_outside_literals() {
        assert_eq!(
            shift_placeholders("UPDATE t SET a = $1, b = '$2' WHERE c = $12", 3),
            "UPDATE t SET a = $4, b = '$2' WHERE c = $15"
        );
        assert_eq!(shift_placeholders("SELECT $1", 0), "SELECT $1");
    }

    #[test]
    fn writes_become_one_statement_with_a_count_each() {
        let pending = [
            write("DELETE FROM l WHERE id = $1", 1, Some(1)),
            write("INSERT INTO a (x, y) VALUES ($1, $2)", 2, None),
            write("SELECT pg_notify($1, '')", 1, None),
        ];
        let (sql, args, expected) = combine(&pending).expect("combined");
        assert_eq!(
            sql,
            "WITH w0 AS (DELETE FROM l WHERE id = $1 RETURNING 1), \
             w1 AS (INSERT INTO a (x, y) VALUES ($2, $3) RETURNING 1), \
             w2 AS (SELECT pg_notify($4, '')) \
             SELECT (SELECT COUNT(*) FROM w0) AS n0, (SELECT COUNT(*) FROM w1) AS n1, \
             (SELECT COUNT(*) FROM w2) AS n2"
        );
        assert_eq!(args.len(), 4);
        let counts: Vec<Option<u64>> = expected.iter().map(|e| e.as_ref().map(|x| x.0)).collect();
        assert_eq!(counts, vec![Some(1), None, None]);
    }

    #[test]
    fn one_write_or_too_many_arguments_run_alone() {
        assert!(combine(&[write("DELETE FROM l", 0, None)]).is_none());
        let big = [
            write("INSERT INTO a VALUES ($1)", PG_MAX_PARAMS, None),
            write("INSERT INTO a VALUES ($1)", 1, None),
        ];
        assert!(combine(&big).is_none());
    }

    #[test]
    fn a_count_other_than_expected_is_a_conflict() {
        let one = Some((1, "step s changed concurrently".to_owned()));
        assert!(check(&one, 1).is_ok());
        assert!(check(&None, 7).is_ok());
        let err = check(&one, 0).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(m) if m == "step s changed concurrently"));
    }
}
