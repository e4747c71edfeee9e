//! Measures the CKKS operations on this machine and prints them as the Rust source of
//! `schedule/src/cost_default.rs`'s `MEASURED` table (the cost table every build ships with).
//! Run on an otherwise idle machine:
//!
//! ```text
//! cargo run -p hel-runtime --release --example default_cost_table > table.rs
//! ```
//!
//! `HEL_CALIBRATE_LOG_N=14,15` measures other ring degrees than 12..=16. (`hel calibrate`
//! measures the same and saves a cost table file for `hel run --evaluator cost` instead.)
//! Formerly the ignored test `print_default_cost_table` in `runtime/tests/exec.rs`.

use hel_runtime::exec::calibrate;

fn main() {
    let log_ns: Vec<u32> = std::env::var("HEL_CALIBRATE_LOG_N")
        .map(|v| {
            v.split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .expect("HEL_CALIBRATE_LOG_N: a list like 13,14")
                })
                .collect()
        })
        .unwrap_or_else(|_| (12..=16).collect());
    let t = calibrate(&log_ns, 5, &mut |p: &str| eprintln!("{p}")).expect("calibration");
    println!("pub(super) const MEASURED: &[Curve] = &[");
    for c in &t.curves {
        let pts: Vec<String> = c
            .points
            .iter()
            .map(|(l, s)| format!("({l}, {s:.3e})"))
            .collect();
        println!("    ({}, \"{}\", &[{}]),", c.log_n, c.op, pts.join(", "));
    }
    println!("];");
}
