//! Two X-Ray rules on what is recorded: `AWS_XRAY_SDK_ENABLED=false` disables recording
//! (T-7), and an Oracle-style `user/password@host` password is not recorded in the `sql`
//! block (X-15; `C##` and quoted users included), while a path holding an `@`
//! (`data/users@2024.db`) is recorded as given.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use streamer_obs::clock::SystemClock;
use streamer_obs::trace_header::TraceHeader;
use streamer_obs::xray::recorder::Recorder;

/// T-7: `AWS_XRAY_SDK_ENABLED=false` disables the SDK (the X-Ray SDK configuration
/// variable). With it set, a sampled invocation must record and send nothing.
#[test]
fn aws_xray_sdk_enabled_false_disables_tracing() {
    let config = common::config(&[("AWS_XRAY_SDK_ENABLED", "false")]);
    let header: TraceHeader = common::HEADER.parse().unwrap();
    let cap = streamer_obs::testing::CapturingEmitter::new();
    let emitter = cap.clone();
    let rec = Arc::new(Recorder::for_invocation_with(
        Some(&header),
        None,
        &config,
        move || Arc::new(emitter),
        Arc::new(SystemClock),
    ));
    drop(rec.subsegment("Work"));
    let _ = rec.flush_now();
    assert!(
        !rec.is_recording() && cap.raw().is_empty(),
        "AWS_XRAY_SDK_ENABLED=false ignored: recording={}, documents sent: {:?}",
        rec.is_recording(),
        cap.raw()
    );
}

/// X-15: the `sql` block's `url` (and `connection_string`) are recorded "without
/// passwords". Oracle's connection syntax puts the password in the user information as
/// `user/password@host` (the thin JDBC URL `jdbc:oracle:thin:scott/tiger@host:1521:SID`,
/// EZConnect `scott/tiger@//host:1521/service`); the SDK's own docs promise the URL's
/// password is removed.
#[test]
fn sql_oracle_style_password_is_not_recorded() {
    use streamer_obs::trace_header::SegmentId;
    use streamer_obs::xray::document::{Sql, Subsegment};
    let mut leaked = Vec::new();
    for url in [
        "jdbc:oracle:thin:app/hunter2@db.example.com:1521:ORCL",
        "jdbc:oracle:thin:app/hunter2@//db.example.com:1521/ORCL",
        "app/hunter2@//db.example.com:1521/ORCL",
    ] {
        let mut s = Subsegment::new(SegmentId::generate(), "Query", 0);
        s.set_sql(Sql {
            url: Some(url.to_owned()),
            connection_string: Some(url.to_owned()),
            database_type: Some("Oracle".into()),
            ..Default::default()
        });
        let sql = s.sql().unwrap();
        for (field, v) in [("url", &sql.url), ("connection_string", &sql.connection_string)] {
            if v.as_deref().is_some_and(|v| v.contains("hunter2")) {
                leaked.push(format!("{field} of {url:?} recorded as {v:?}"));
            }
        }
    }
    assert!(leaked.is_empty(), "passwords written to the sql block: {leaked:#?}");
}

/// The `sql` block a subsegment records for `url` (also as the connection string).
fn recorded(url: &str, database_type: &str) -> (Option<String>, Option<String>) {
    use streamer_obs::trace_header::SegmentId;
    use streamer_obs::xray::document::{Sql, Subsegment};
    let mut s = Subsegment::new(SegmentId::generate(), "Query", 0);
    s.set_sql(Sql {
        url: Some(url.to_owned()),
        connection_string: Some(url.to_owned()),
        database_type: Some(database_type.into()),
        ..Default::default()
    });
    let sql = s.sql().unwrap();
    (sql.url.clone(), sql.connection_string.clone())
}

#[test]
fn paths_and_urls_without_passwords_are_recorded_as_given() {
    let mut changed = Vec::new();
    for (url, db) in [
        ("data/users@2024.db", "sqlite"),
        ("var/lib/app/cache@v2.sqlite3", "sqlite"),
        ("backups/2026-11-28/orders@eu.db", "sqlite"),
        ("postgres://app@db.example.com:5432/main", "postgresql"),
        ("db.example.com/main", "postgresql"),
    ] {
        let (u, c) = recorded(url, db);
        if u.as_deref() != Some(url) || c.as_deref() != Some(url) {
            changed.push(format!("{url:?} ({db}) -> url {u:?}, connection_string {c:?}"));
        }
    }
    assert!(changed.is_empty(), "no password here, yet changed:\n{}", changed.join("\n"));
}

/// Random short `sql.url`s from the Oracle scanner's vocabulary: no panic, and the
/// subsegment's document stays one JSON object.
#[test]
fn random_sql_urls_never_panic() {
    const V: &[&str] = &[
        "jdbc:oracle:",
        "thin:",
        "JDBC:ORACLE:OCI:",
        "app",
        "/",
        "//",
        "@",
        "\"",
        "'",
        "?",
        ":",
        ";",
        "=",
        "#",
        " ",
        "é",
        "日",
        "pw",
        "db",
        "1521",
        "postgres://",
        "u:p@h",
        "Password=",
        "%40",
    ];
    let mut rng = fastrand::Rng::with_seed(0x0_5a1);
    for _ in 0..20_000 {
        let url: String = (0..rng.usize(1..10)).map(|_| V[rng.usize(0..V.len())]).collect();
        let u = url.clone();
        let r = std::panic::catch_unwind(move || recorded(&u, "oracle"));
        assert!(r.is_ok(), "panic for {url:?}");
    }
}

/// README: Oracle's `user/password@host` password is removed (EZConnect and
/// `jdbc:oracle:<driver>:`). A common user of a multitenant Oracle database must be named
/// `C##…` (`c##app`), and `#`/`$` are valid in unquoted Oracle user names; a quoted user
/// name (`"App"`) is valid too. `remove_oracle_password` ends the user at a `#` or `"`
/// (xray/redact.rs), finds no `/` there and records the password.
#[test]
fn oracle_passwords_of_users_named_with_hash_or_quotes_are_removed() {
    let mut leaked = Vec::new();
    for url in [
        "jdbc:oracle:thin:c##app/hunter2@db.example.com:1521/ORCL",
        "c##app/hunter2@//db.example.com:1521/ORCL",
        "jdbc:oracle:thin:\"App\"/hunter2@db.example.com:1521:ORCL",
    ] {
        let (u, c) = recorded(url, "oracle");
        if u.as_deref().is_some_and(|v| v.contains("hunter2")) || c.as_deref().is_some_and(|v| v.contains("hunter2")) {
            leaked.push(format!("{url:?} -> url {u:?}, connection_string {c:?}"));
        }
    }
    // Baseline: a plain user name.
    let (u, _) = recorded("jdbc:oracle:thin:app/hunter2@db.example.com:1521/ORCL", "oracle");
    assert!(!u.unwrap().contains("hunter2"));
    assert!(leaked.is_empty(), "passwords recorded:\n{}", leaked.join("\n"));
}
