//! `hel data`: build the data sets bundled with hel.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use miette::IntoDiagnostic;

use hel::data::mnist;

use super::CmdResult;

/// Build the data sets bundled with hel.
#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand)]
pub enum DataCommand {
    #[command(name = "mnist-3v8")]
    Mnist3v8(Mnist3v8Args),
}

/// Build MNIST 3-vs-8 (14x14, labels +1 = digit 3, -1 = digit 8) from the canonical IDX files.
///
/// Keeps digits 3 and 8 in file order and downsamples each 28x28 image to 14x14 by the floor of
/// the mean of each 2x2 block. Writes mnist_3v8_train.csv.gz (11,982 rows) and
/// mnist_3v8_test.csv.gz (1,984 rows): gzip CSV with header `label,p0,...,p195`. The output is
/// byte-for-byte reproducible (fixed gzip header), so it can be committed and checksummed.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    hel data mnist-3v8 --idx-dir ../shared/data/mnist --out-dir examples/data\n  \
    hel data mnist-3v8 --idx-dir ~/mnist --out-dir /tmp/mnist --force")]
pub struct Mnist3v8Args {
    /// Directory holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
    /// t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.
    #[arg(long, value_name = "DIR")]
    pub idx_dir: PathBuf,

    /// Directory to write the two .csv.gz files into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "examples/data")]
    pub out_dir: PathBuf,

    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: DataArgs) -> CmdResult {
    match args.command {
        DataCommand::Mnist3v8(a) => run_mnist_3v8(a),
    }
}

fn run_mnist_3v8(a: Mnist3v8Args) -> CmdResult {
    // Check before the (few-second) build, so a forgotten --force fails fast.
    if !a.force {
        for name in [mnist::TRAIN_FILE, mnist::TEST_FILE] {
            let p = a.out_dir.join(name);
            if p.exists() {
                return Err(hel::data::DataError::OutputExists { path: p }).into_diagnostic();
            }
        }
    }
    let data = mnist::build_from_idx_dir(&a.idx_dir).into_diagnostic()?;
    let written = mnist::write_outputs(&data, &a.out_dir, a.force).into_diagnostic()?;
    for (path, split) in written.iter().zip([&data.train, &data.test]) {
        println!(
            "wrote {} ({} rows, {} threes, {} eights)",
            path.display(),
            split.len(),
            split.threes(),
            split.len() - split.threes()
        );
    }
    Ok(())
}
