//! The `runall` binary: parse the command line, run, exit the way a shell expects.

use std::process::ExitCode;

use clap::Parser;

#[expect(clippy::print_stderr, reason = "the one place errors reach the user")]
fn main() -> ExitCode {
    // runall's guardian (spawned by runall itself, see `runner::guardian`) before anything
    // else: no argument parsing, no threads, no terminal.
    if std::env::args_os().nth(1).as_deref() == Some(runall::runner::guardian::MARKER.as_ref()) {
        return ExitCode::from(runall::runner::guardian::main());
    }
    runall::runner::guardian::enable();
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
