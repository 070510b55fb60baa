//! `digest send` and `digest status` against a local mail sink.

use super::{fails, ok, paperscout, run};

/// A digest claimed by a run that then crashed (abort: no unwinding, no cleanup) is sent by the
/// next run, exactly once; a third run sends nothing.
#[test]
fn a_crash_between_claiming_and_sending_a_digest_neither_loses_nor_repeats_it() {
    use paperscout_app::digest::DigestConfig;
    use paperscout_app::{Config, Digests, Engine, ModelSpec, NoProgress, SmtpUrl};
    use paperscout_mailsink::MailSink;
    use std::sync::Arc;
    use std::time::Duration;

    const SECRET: &str = "a test secret that is long enough for hmac keys";
    let dir = tempfile::tempdir().unwrap();
    let sink = MailSink::start();
    // Subscribe and confirm in-process, on the data dir the binary will use.
    {
        let mut model = ModelSpec::new(paperscout_testkit::cache_dir());
        model.dir = paperscout_testkit::model_dir();
        let engine = Engine::open(
            Config {
                demo: false,
                ..Config::new(dir.path().to_path_buf(), model)
            },
            Arc::new(NoProgress),
        )
        .unwrap();
        let config = DigestConfig {
            smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
            ..DigestConfig::default()
        };
        let d = Digests::new(Arc::new(engine), config, SECRET.as_bytes()).unwrap();
        let now = chrono::Utc::now();
        d.subscribe(
            &paperscout_app::SubscriptionRequest {
                email: "crash@example.org".into(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        d.deliver(now).unwrap();
        assert!(sink.wait_for(1, Duration::from_secs(10)));
        let text = sink.messages()[0].text();
        let token: String = text.split("confirm?t=").nth(1).unwrap()[..80].to_string();
        d.confirm(&token, now).unwrap();
    }
    let config = dir.path().join("paperscout.toml");
    std::fs::write(&config, "[digest]\nsend_empty = true\n").unwrap();
    let send = || {
        let mut cmd = paperscout(dir.path());
        cmd.args(["digest", "send", "--now"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_SECRET", SECRET)
            .env("PAPERSCOUT_CONFIG", &config)
            .env("PAPERSCOUT_SMTP_URL", sink.url());
        cmd
    };

    // A dry run changes nothing.
    let plan = ok(send().arg("--dry-run"));
    assert!(plan.contains("crash@example.org"), "{plan}");
    let crashed = run(send().env("PAPERSCOUT_FAULT", "crash-after-claim"));
    assert!(
        !crashed.status.success(),
        "the fault hook aborts the process"
    );
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("crashing after claiming"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1, "nothing was sent before the crash");

    let out = ok(&mut send());
    assert!(out.contains("0 due") && out.contains("1 sent"), "{out}");
    assert!(sink.wait_for(2, Duration::from_secs(10)));
    let out = ok(&mut send());
    assert!(out.contains("0 due") && out.contains("0 sent"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "exactly one digest");
    assert!(
        mails[1].subject().contains("nothing new"),
        "{}",
        mails[1].subject()
    );
    let status = ok(paperscout(dir.path())
        .args(["digest", "status", "--json"])
        .env("PAPERSCOUT_NO_DEMO", "1"));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["active_subscribers"], 1);
    assert_eq!(status["outbox"]["sent"], 2);
}

#[test]
fn mail_settings_are_checked_and_passwords_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "status"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_SMTP_URL", "http://ada:hunter2@mail.example.org"),
        2,
    );
    assert!(err.contains("smtp://") && !err.contains("hunter2"), "{err}");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[smtp]\nurl = \"smtp://127.0.0.1:2525\"\nfrom = 3\n",
    )
    .unwrap();
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "status"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_CONFIG", &config),
        2,
    );
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");
    let out = ok(paperscout(dir.path())
        .args(["digest", "status"])
        .env("PAPERSCOUT_NO_DEMO", "1")
        .env(
            "PAPERSCOUT_SMTP_URL",
            "smtp://ada:hunter2@mail.example.org:587?tls=required",
        ));
    assert!(
        out.contains("smtp://ada:***@mail.example.org:587") && !out.contains("hunter2"),
        "{out}"
    );
    // Without a mail server, sending says so.
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "send"])
            .env("PAPERSCOUT_NO_DEMO", "1"),
        1,
    );
    assert!(err.contains("PAPERSCOUT_SMTP_URL"), "{err}");
}
