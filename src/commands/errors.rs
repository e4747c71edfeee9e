//! How a failed command ends: the exit code (1 user error, 2 usage error) and the report, on
//! stderr as text and, with `--json`, on stdout as exactly one JSON object
//! `{"error": {"message", "code", "exit_code", ...}}`.

use serde_json::{json, Value};

/// Exit code of a user error: bad input files, a program that does not check, a refused write.
pub const USER_ERROR: i32 = 1;
/// Exit code of a usage error: something wrong with the command line itself (a flag, its value,
/// a combination of flags), found without reading any file.
pub const USAGE_ERROR: i32 = 2;

/// The `code` of usage errors in `--json` error objects.
const USAGE_CODE: &str = "hel::usage";

/// A usage error found after clap parsed the command line (a flag combination clap cannot
/// express, such as a flag the chosen evaluator does not take). `main` exits with 2 on it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A [`UsageError`] as a report, for `?` in the commands.
pub fn usage_error(msg: impl std::fmt::Display) -> miette::Report {
    miette::Report::new(UsageError(msg.to_string()))
}

/// The exit code of a failed command.
pub fn exit_code(report: &miette::Report) -> i32 {
    if report.downcast_ref::<UsageError>().is_some() {
        USAGE_ERROR
    } else {
        USER_ERROR
    }
}

/// Prints a failed command's report: on stderr always (a usage error like clap's own), and with
/// `json` also as one JSON object on stdout. Returns the exit code.
pub fn report_failure(report: &miette::Report, json: bool) -> i32 {
    let code = exit_code(report);
    if code == USAGE_ERROR {
        eprintln!("error: {report}\n\nFor more information, try '--help'.");
    } else {
        eprintln!("{report:?}");
    }
    if json {
        println!("{}", report_json(report, code));
    }
    code
}

/// A clap parse failure under `--json`: the JSON object on stdout, clap's text on stderr.
/// Returns the exit code (2).
pub fn report_clap_failure(e: &clap::Error) -> i32 {
    let _ = e.print();
    let text = e.render().to_string();
    // clap's text: `error: <message>`, then tips and the usage line in later paragraphs.
    let (first, rest) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let message = first.trim().strip_prefix("error: ").unwrap_or(first.trim());
    let help = rest.trim();
    let v = json!({
        "error": {
            "message": message,
            "code": USAGE_CODE,
            "exit_code": e.exit_code(),
            "help": if help.is_empty() { Value::Null } else { help.into() },
            "labels": [],
        }
    });
    println!("{v}");
    e.exit_code()
}

/// `{"error": {...}}` for a report: the message with its causes, the diagnostic's code and help
/// where it has them, and its labels located in their source file (1-based line and column).
pub fn report_json(report: &miette::Report, exit_code: i32) -> Value {
    let message: Vec<String> = report.chain().map(ToString::to_string).collect();
    let code = if exit_code == USAGE_ERROR {
        Some(USAGE_CODE.to_string())
    } else {
        report.code().map(|c| c.to_string())
    };
    let source = report.source_code();
    let labels: Vec<Value> = report
        .labels()
        .into_iter()
        .flatten()
        .map(|l| {
            let mut v = json!({
                "label": l.label(),
                "offset": l.offset(),
                "length": l.len(),
            });
            if let Some(span) = source.and_then(|s| s.read_span(l.inner(), 0, 0).ok()) {
                v["file"] = json!(span.name());
                v["line"] = json!(span.line() + 1);
                v["column"] = json!(span.column() + 1);
            }
            v
        })
        .collect();
    json!({
        "error": {
            "message": message.join(": "),
            "code": code,
            "exit_code": exit_code,
            "help": report.help().map(|h| h.to_string()),
            "labels": labels,
        }
    })
}
