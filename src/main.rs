//! The `runall` binary: parse the command line, run, exit the way a shell expects.

use std::process::ExitCode;

use clap::Parser;

#[expect(clippy::print_stderr, reason = "the one place errors reach the user")]
fn main() -> ExitCode {
    let cli = runall::cli::Cli::parse();
    match runall::run(&cli) {
        Ok(runall::RunExit::Code(code)) => ExitCode::from(code),
        Ok(runall::RunExit::Signal(signal)) => runall::die_by_signal(signal),
        Err(e) => {
            eprintln!("runall: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
