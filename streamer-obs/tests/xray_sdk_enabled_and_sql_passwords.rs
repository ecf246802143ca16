//! Two X-Ray rules on what is recorded: `AWS_XRAY_SDK_ENABLED=false` disables recording
//! (T-7), and an Oracle-style `user/password@host` password is not recorded in the `sql`
//! block.
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
