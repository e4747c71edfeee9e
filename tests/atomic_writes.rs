//! Output files through the real commands: racing writers (exactly one wins), temporary files
//! of killed runs (gone after the next write), `hel keygen`'s pair of files, and names from
//! files on the terminal (control characters escaped).

mod common;
use common::hel;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn example() -> String {
    format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"))
}

/// stderr with miette's wrapping undone.
fn flat(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn of_concurrent_writers_to_one_path_exactly_one_succeeds() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    for round in 0..3 {
        let _ = std::fs::remove_file(dir.join("same.helc"));
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_hel"))
                    .args(["compile", &example(), "-o", "same.helc"])
                    .current_dir(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won = outs.iter().filter(|o| o.status.code() == Some(0)).count();
        assert_eq!(won, 1, "round {round}");
        for o in outs.iter().filter(|o| o.status.code() != Some(0)) {
            assert_eq!(o.status.code(), Some(1));
            assert!(
                flat(o).contains("same.helc exists; pass --force"),
                "{}",
                flat(o)
            );
        }
        assert_eq!(names(dir), vec!["same.helc".to_string()]);
    }
}

#[test]
fn temporary_files_a_killed_run_leaves_are_removed_by_the_next_write() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    // What a `hel` killed while writing leaves: its temporary file, named by its process id.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!(".big.hct.tmp{dead}-0");
    std::fs::write(dir.join(&stale), vec![7u8; 1 << 20]).unwrap();
    let o = hel(dir, &["compile", &example(), "-o", "poly.helc"]);
    assert_eq!(o.status.code(), Some(0), "{}", flat(&o));
    assert_eq!(names(dir), vec!["poly.helc".to_string()]);
}

#[test]
fn keygen_writes_both_files_or_neither() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    assert_eq!(
        hel(dir, &["compile", &example(), "-o", "poly.helc"])
            .status
            .code(),
        Some(0)
    );
    std::fs::create_dir(dir.join("keys")).unwrap();
    // A half pair (as a kill between the two publications leaves) is not replaced silently.
    std::fs::write(dir.join("keys/eval.keys"), b"stale").unwrap();
    let o = hel(dir, &["keygen", "poly.helc", "--out", "keys"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        flat(&o).contains("eval.keys exists; pass --force"),
        "{}",
        flat(&o)
    );
    assert_eq!(names(&dir.join("keys")), vec!["eval.keys".to_string()]);
    // A secret key that cannot be published: nothing is written, no temporary file is left.
    std::fs::create_dir(dir.join("keys/secret.key")).unwrap();
    let o = hel(dir, &["keygen", "poly.helc", "--out", "keys", "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        flat(&o).contains("secret.key is not a regular file (a directory)"),
        "{}",
        flat(&o)
    );
    assert_eq!(std::fs::read(dir.join("keys/eval.keys")).unwrap(), b"stale");
    assert_eq!(
        names(&dir.join("keys")),
        vec!["eval.keys".to_string(), "secret.key".to_string()]
    );
    // With --force and a writable place, both files of one key set.
    std::fs::remove_dir(dir.join("keys/secret.key")).unwrap();
    let o = hel(dir, &["keygen", "poly.helc", "--out", "keys", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", flat(&o));
    assert_eq!(
        names(&dir.join("keys")),
        vec!["eval.keys".to_string(), "secret.key".to_string()]
    );
    assert_ne!(std::fs::read(dir.join("keys/eval.keys")).unwrap(), b"stale");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys/secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn names_from_files_reach_the_terminal_escaped() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let o = hel(
        dir,
        &["compile", &example(), "--format", "ron", "-o", "poly.helc"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", flat(&o));
    let ron = std::fs::read_to_string(dir.join("poly.helc")).unwrap();
    // A name that would set the window title, return the cursor and reverse the text.
    let hostile = ron.replace(
        "name: \"poly.hel\"",
        "name: \"poly\u{1b}]0;owned\u{7}\r\u{202e}lleh\"",
    );
    assert_ne!(hostile, ron);
    std::fs::write(dir.join("hostile.helc"), hostile).unwrap();
    let o = hel(dir, &["run", "hostile.helc", "--evaluator", "cost"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    for text in [&out, &err] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{202e}']),
            "raw control characters reached the terminal: {text:?}"
        );
    }
    // Accepted, the listing names the program with visible escapes. (Should validation
    // refuse such names, the refusal above is what matters.)
    if o.status.code() == Some(0) {
        assert!(
            out.contains("poly\\u{1b}]0;owned\\u{7}\\r\\u{202e}lleh"),
            "{out}"
        );
    } else {
        assert_eq!(o.status.code(), Some(1), "{err}");
    }
}
