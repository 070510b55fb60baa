//! Which command takes which flags: mail and harvest settings only where they are used.

use super::{fails, ok, paperscout};

const MAIL: [&str; 3] = ["--smtp-url", "--smtp-from", "--base-url"];
const HARVEST: [&str; 3] = ["--oai-url", "--hf-url", "--harvest-delay"];

fn help(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    ok(paperscout(dir.path())
        .args(args)
        .arg("--help")
        .env("PAPERSCOUT_SMTP_URL", "smtp://ada:hunter2@mail.example.org"))
}

#[test]
fn mail_and_harvest_flags_belong_to_the_commands_that_use_them() {
    let dir = tempfile::tempdir().unwrap();
    for flag in MAIL.iter().chain(&HARVEST) {
        let err = fails(paperscout(dir.path()).args(["search", flag, "x", "q"]), 2);
        assert!(err.contains(flag), "{flag}: {err}");
    }
    let search = help(&["search"]);
    for flag in MAIL.iter().chain(&HARVEST) {
        assert!(!search.contains(flag), "{flag} in search --help:\n{search}");
    }
    assert!(
        search.contains("--data-dir") && search.contains("--config"),
        "{search}"
    );
    let serve = help(&["serve"]);
    for flag in MAIL.iter().chain(&HARVEST) {
        assert!(serve.contains(flag), "{flag} not in serve --help:\n{serve}");
    }
    assert!(!serve.contains("hunter2"), "{serve}");
    for (cmd, has, lacks) in [
        (&["harvest", "arxiv"][..], HARVEST, MAIL),
        (&["digest", "send"][..], MAIL, HARVEST),
        (&["bench", "digest"][..], MAIL, HARVEST),
    ] {
        let text = help(cmd);
        assert!(has.iter().all(|f| text.contains(f)), "{cmd:?}:\n{text}");
        assert!(!lacks.iter().any(|f| text.contains(f)), "{cmd:?}:\n{text}");
    }
}
