//! Hand-edited and corrupted artifacts that once made a command panic, hang, allocate without
//! bound or print wrong numbers (issue 19), and the reproducers the artifact fuzzer
//! (`tests/hostile_artifacts.rs`) found: each must now be refused with a message that says
//! what is wrong.

mod hostile;

use hel_runtime::client::{decrypt_outputs, ClientError, EncryptedOutputs};
use hel_runtime::schedule::{
    limits, ClientOp, Instr, Layout, Plain, Schedule, ScheduleError, ScheduleFormat, Shape,
};

use hostile::{artifacts, ckks_objects, exercise, reseal};

/// Re-encodes an edited schedule (valid checksum) and loads it; returns the refusal.
fn refused(s: &Schedule) -> String {
    let bytes = s.to_bytes(ScheduleFormat::Binary).unwrap();
    match Schedule::from_bytes(&bytes) {
        Err(ScheduleError::Invalid(m)) => m,
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("the edited schedule was accepted"),
    }
}

#[test]
fn the_fixture_runs_encrypted_and_each_artifact_loads() {
    let a = artifacts();
    assert!(
        !a.schedule.derived.is_empty(),
        "the fixture has client precomputation"
    );
    assert!(!a.schedule.rotation_steps.is_empty(), "the fixture rotates");
    assert_eq!(
        Schedule::from_bytes(&a.schedule_bin).as_ref(),
        Ok(&a.schedule)
    );
    assert!(
        exercise(&a.schedule, true),
        "the unedited schedule decrypts"
    );
    let outs = EncryptedOutputs::from_bytes(&a.schedule, &a.ctx, &a.enc_outputs).unwrap();
    assert_eq!(
        decrypt_outputs(&a.schedule, &a.ctx, &a.sk, &outs).unwrap(),
        a.results
    );
}

#[test]
fn a_unit_whose_product_wraps_is_refused() {
    let mut s = artifacts().schedule.clone();
    // 2^63 * 2 wraps to 0 in usize; with h = 2^63 + slots/2 it wraps to the slot count.
    s.unit.h = (1usize << 63) + s.params.slots() / 2;
    s.unit.w = 2;
    assert!(refused(&s).contains("does not cover"), "{}", refused(&s));
}

#[test]
fn huge_shapes_are_refused_before_anything_is_allocated() {
    let a = artifacts();
    let mut s = a.schedule.clone();
    s.outputs[0].shape = Shape::Matrix(1 << 32, 1 << 32);
    assert!(refused(&s).contains("more than"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.inputs[0].shape = Shape::Matrix(1 << 20, 1 << 20);
    assert!(refused(&s).contains("more than"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.inputs[1].seq = Some(1 << 40);
    assert!(refused(&s).contains("elements"), "{}", refused(&s));
    // An 80 GB fill in the client's precomputation.
    let mut s = a.schedule.clone();
    let shape = Shape::Matrix(100_000, 100_000);
    s.derived[0].shape = shape;
    s.derived[0].ops.push(ClientOp::Fill { shape, value: 1.0 });
    assert!(refused(&s).contains("entries"), "{}", refused(&s));
}

#[test]
fn the_client_precomputation_must_have_the_shapes_it_declares() {
    let mut s = artifacts().schedule.clone();
    s.derived[0].ops.push(ClientOp::Fill {
        shape: Shape::Vector(3),
        value: 1.0,
    });
    let n = s.derived[0].ops.len() as u32;
    s.derived[0].ops.push(ClientOp::MatMul(n - 2, n - 1));
    assert!(refused(&s).contains("wrong shapes"), "{}", refused(&s));
    let mut s = artifacts().schedule.clone();
    s.derived[0].shape = Shape::Scalar;
    assert!(refused(&s).contains("declared shape"), "{}", refused(&s));
}

#[test]
fn offsets_and_steps_that_would_overflow_are_refused() {
    let a = artifacts();
    let mut s = a.schedule.clone();
    s.ct_inputs[0].pack.layout = Layout::MatrixTile {
        transposed: false,
        row0: usize::MAX,
        col0: 0,
    };
    assert!(refused(&s).contains("offset"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.outputs[0].tiles[0].layout = Layout::RowVector { offset: usize::MAX };
    assert!(refused(&s).contains("offset"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    let i = s.nodes.len() - 1;
    s.nodes[i].instr = Instr::MulPlain {
        a: 0,
        plain: Plain::Diagonal {
            value: 1.0,
            offset: i64::MAX,
            rows: (0, 4),
        },
        scale: 2f64.powi(20),
    };
    assert!(refused(&s).contains("diagonal offset"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.rotation_steps.push(i64::MIN);
    s.rotation_steps.sort_unstable();
    assert!(refused(&s).contains("rotation step"), "{}", refused(&s));
}

#[test]
fn counts_beyond_the_limits_are_refused() {
    let mut s = artifacts().schedule.clone();
    s.rotation_steps = (1..=limits::MAX_ROTATION_STEPS as i64 + 1).collect();
    assert!(refused(&s).contains("rotation steps"), "{}", refused(&s));
    let mut s = artifacts().schedule.clone();
    s.name = "n".repeat(limits::MAX_NAME_BYTES + 1);
    assert!(refused(&s).contains("program name"), "{}", refused(&s));
}

#[test]
fn scales_and_factors_must_be_finite() {
    let a = artifacts();
    let mut s = a.schedule.clone();
    s.ct_inputs[0].scale = f64::NAN;
    assert!(refused(&s).contains("scale"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.outputs[0].tiles[0].factor = 0.0;
    assert!(refused(&s).contains("factor"), "{}", refused(&s));
    let mut s = a.schedule.clone();
    s.nodes[0].last_use = Some(0);
    assert!(refused(&s).contains("last use"), "{}", refused(&s));
}

/// The example: an output ciphertext's scale doubled (both checksums recomputed)
/// decrypted to twice... or a million times the result, with exit 0.
#[test]
fn an_edited_output_scale_is_refused_not_decoded() {
    let a = artifacts();
    let mut bytes = a.enc_outputs.clone();
    let (at, len) = ckks_objects(&bytes)[0];
    let mut old = [0u8; 8];
    old.copy_from_slice(&bytes[at + 53..at + 61]);
    let scale = f64::from_le_bytes(old) * 1024.0;
    bytes[at + 53..at + 61].copy_from_slice(&scale.to_le_bytes());
    reseal(&mut bytes[at..at + len]);
    reseal(&mut bytes);
    let e = EncryptedOutputs::from_bytes(&a.schedule, &a.ctx, &bytes).unwrap_err();
    assert!(matches!(e, ClientError::OutputLevel { .. }), "{e}");
    assert!(e.to_string().contains("the schedule records"), "{e}");
}

#[test]
fn a_cost_table_for_an_impossible_ring_is_refused() {
    use hel_runtime::exec::CostTable;
    let mut t = CostTable::default();
    // `seconds` subtracted the degrees in i32: 2^31 overflowed.
    t.curves[0].log_n = 1 << 31;
    let e = CostTable::from_ron(&t.to_ron().unwrap()).unwrap_err();
    assert!(e.to_string().contains("hel uses N = 2^12 to 2^16"), "{e}");
}

/// Runs `hel` with `args`; returns the exit code and stderr.
fn hel(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Makes a named pipe at `path`.
#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[cfg(unix)]
#[test]
fn commands_refuse_devices_fifos_and_directories_by_name() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("program.helc");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let dir = d.path().to_str().unwrap();
    for (args, name, kind) in [
        (vec!["check", "/dev/zero"], "/dev/zero", "a device"),
        (vec!["depth", dir], dir, "a directory"),
        (vec!["keygen", fifo, "--out", dir], fifo, "a FIFO"),
    ] {
        let (code, err) = hel(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(name), "{args:?}: {err}");
        assert!(err.contains(kind), "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

/// `hel decrypt` of outputs whose first ciphertext's scale was multiplied by 1024 (both
/// checksums recomputed): exit 1 naming the file and the recorded scale, where it used to
/// print numbers 1024 times too small with exit 0. The unedited file decrypts.
#[test]
fn hel_decrypt_refuses_an_edited_output_scale() {
    let a = artifacts();
    let d = tempfile::tempdir().unwrap();
    let mut edited = a.enc_outputs.clone();
    let (at, len) = ckks_objects(&edited)[0];
    let mut old = [0u8; 8];
    old.copy_from_slice(&edited[at + 53..at + 61]);
    let scale = f64::from_le_bytes(old) * 1024.0;
    edited[at + 53..at + 61].copy_from_slice(&scale.to_le_bytes());
    reseal(&mut edited[at..at + len]);
    reseal(&mut edited);
    let files = [
        ("p.helc", &a.schedule_bin),
        ("secret.key", &a.secret_key),
        ("out.hct", &a.enc_outputs),
        ("edited.hct", &edited),
    ];
    for (name, bytes) in files {
        std::fs::write(d.path().join(name), bytes).unwrap();
    }
    let path = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let decrypt = |outputs: &str| {
        hel(&[
            "decrypt",
            &path("p.helc"),
            "--secret-key",
            &path("secret.key"),
            &path(outputs),
        ])
    };
    let (code, err) = decrypt("out.hct");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = decrypt("edited.hct");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("edited.hct"), "{err}");
    assert!(err.contains("the schedule records level"), "{err}");
}

/// A schedule edited after compiling (an output bound doubled, the checksum resealed; a
/// constant changed in the RON text) ran under the original program's identity, so inputs
/// encrypted for it were accepted and decrypted to other numbers. Loading now recomputes the
/// program hash.
#[test]
fn an_edited_schedule_is_refused_by_its_program_hash() {
    let a = artifacts();
    let mut s = a.schedule.clone();
    s.outputs[0].bound *= 2.0;
    let bytes = s.to_bytes(ScheduleFormat::Binary).unwrap();
    assert_eq!(
        Schedule::from_bytes(&bytes),
        Err(ScheduleError::HashMismatch)
    );
    let ron = s.to_bytes(ScheduleFormat::Ron).unwrap();
    assert_eq!(Schedule::from_bytes(&ron), Err(ScheduleError::HashMismatch));
    assert!(ScheduleError::HashMismatch
        .to_string()
        .contains("program hash"));
    // The unedited schedule round-trips in both formats (RON keeps every f64's bits).
    for format in [ScheduleFormat::Binary, ScheduleFormat::Ron] {
        let bytes = a.schedule.to_bytes(format).unwrap();
        assert_eq!(Schedule::from_bytes(&bytes).unwrap(), a.schedule);
    }
}

/// Two outputs of one name: `hel decrypt --json` printed one of them; two inputs of one name:
/// `hel encrypt` called the given input missing.
#[test]
fn two_inputs_or_outputs_of_one_name_are_refused() {
    let a = artifacts();
    let mut s = a.schedule.clone();
    s.outputs.push(s.outputs[0].clone());
    let name = &a.schedule.outputs[0].name;
    assert!(refused(&s).contains(&format!("two outputs are named `{name}`")));
    let mut s = a.schedule.clone();
    s.inputs.push(s.inputs[0].clone());
    let name = &a.schedule.inputs[0].name;
    assert!(refused(&s).contains(&format!("two inputs are named `{name}`")));
}

/// `--force` renamed a regular file over the path it was given, whatever that was: `hel
/// decrypt -o /dev/null --force` as root replaced the machine's `/dev/null`. Only regular
/// files (and links) are replaced; the output stays what it was.
#[cfg(unix)]
#[test]
fn force_never_replaces_a_fifo_or_a_directory() {
    use std::os::unix::fs::FileTypeExt;
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("out.helc");
    mkfifo(&fifo);
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let src = format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"));
    for (out, kind) in [(&fifo, "a named pipe"), (&sub, "a directory")] {
        let out = out.to_str().unwrap();
        let (code, err) = hel(&["compile", &src, "--set", "n=8", "-o", out, "--force"]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("not a regular file"), "{err}");
        assert!(err.contains(kind), "{err}");
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(sub.is_dir());
}

/// A key file padded far beyond what its envelope declares (a 3 GB `eval.keys` took 3 GB of
/// memory before "bytes after the end of the data") is refused from its first bytes, and
/// evaluation keys given as the secret key are named as such, not as too large a file.
#[test]
fn client_files_are_judged_by_their_envelope_before_they_are_read() {
    let a = artifacts();
    let d = tempfile::tempdir().unwrap();
    let path = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    std::fs::write(path("p.helc"), &a.schedule_bin).unwrap();
    std::fs::write(path("in.hct"), &a.enc_inputs).unwrap();
    let padded = std::fs::File::create(path("eval.keys")).unwrap();
    use std::io::Write;
    (&padded).write_all(&a.eval_keys_bin).unwrap();
    // Sparse: the file system holds no more than the keys. Padded to 64 GiB, it is refused
    // for its size, not by the memory check (which counted its size as keys in memory);
    // padded within what such a file can be, for its length.
    for (padding, says) in [
        (64u64 << 30, ["more than the", "such a file can have"]),
        (1 << 30, ["1073741824", "after the end of the data"]),
    ] {
        padded
            .set_len(a.eval_keys_bin.len() as u64 + padding)
            .unwrap();
        let (code, err) = hel(&[
            "run",
            &path("p.helc"),
            "--eval-keys",
            &path("eval.keys"),
            "--inputs",
            &path("in.hct"),
            "-o",
            &path("out.hct"),
        ]);
        assert_eq!(code, Some(1), "{err}");
        assert!(says.iter().all(|s| err.contains(s)), "{err}");
    }
    std::fs::write(path("eval.keys"), &a.eval_keys_bin).unwrap();
    let (code, err) = hel(&[
        "decrypt",
        &path("p.helc"),
        "--secret-key",
        &path("eval.keys"),
        &path("in.hct"),
    ]);
    assert_eq!(code, Some(1), "{err}");
    let flat = err
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("expected a secret key, but this file holds evaluation keys"),
        "{err}"
    );
}

/// A binary schedule padded to 900 MB (sparse), and 900 MB of bytes that are neither a
/// binary schedule nor text, were read whole (and the latter converted to text, 2.7 GB)
/// before being refused: the header and the first bytes now decide.
#[test]
fn oversized_schedule_files_are_refused_from_their_first_bytes() {
    let a = artifacts();
    let bytes = a.schedule.to_bytes(ScheduleFormat::Binary).unwrap();
    let size = bytes.len() as u64;
    let head = &bytes[..hel_runtime::schedule::SCHEDULE_HEADER];
    let check = hel_runtime::schedule::check_file_size;
    assert_eq!(check(head, size), Ok(()));
    assert_eq!(check(head, size + 1), Err(ScheduleError::Truncated));
    assert_eq!(check(head, size - 1), Err(ScheduleError::Truncated));
    assert_eq!(check(&head[..10], size), Err(ScheduleError::Truncated));
    assert_eq!(
        check(b"\xff\xfe junk", 900 << 20),
        Err(ScheduleError::NotASchedule)
    );
    // RON declares no length; a UTF-8 character cut by the end of the peek is no error.
    assert_eq!(check("(name: \"é".as_bytes(), 1 << 20), Ok(()));
    assert_eq!(check(&"(name: \"é".as_bytes()[..9], 1 << 20), Ok(()));

    let d = tempfile::tempdir().unwrap();
    for (name, front) in [
        ("padded.helc", &bytes[..]),
        ("junk.helc", &b"\xff\xfe junk"[..]),
    ] {
        let path = d.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &file, front).unwrap();
        file.set_len(900 << 20).unwrap();
        let (code, err) = hel(&["run", path.to_str().unwrap(), "--evaluator", "cost"]);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("padded") || err.contains("not a hel schedule"),
            "{err}"
        );
    }
}
