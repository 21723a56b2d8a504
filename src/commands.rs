//! The one-shot commands, which run no envs: `completions`, `man` and `init` (no config
//! needed) and `list` (the config and its history, presented). Their output goes to stdout;
//! a failed write is said on stderr and fails the command.

pub mod init;
pub mod list;

use crate::cli::{self, Cli, Cmd};
use crate::config::Config;
use crate::error::Error;
use crate::exit_code::{self, RunExit};
use crate::history::History;
use crate::plan::Shard;
use crate::plan::balance::Balanced;
use crate::stdio;

/// `completions`, `man` and `init`: they need no config. `None` for everything else.
pub fn run_tool_command(cli: &Cli) -> Result<Option<RunExit>, Error> {
    let written = match &cli.command {
        Some(Cmd::Completions { shell }) => stdio::write_stdout(&cli::completions(*shell)),
        Some(Cmd::Man) => stdio::write_stdout(&cli::man_page().map_err(Error::Man)?),
        Some(Cmd::Init { from_tox: false }) => {
            let path = init::write(&std::env::current_dir()?)?;
            let note = format!(
                "runall: wrote {}; edit its envs, then run `runall list`\n",
                path.display()
            );
            stdio::write_stdout(note.as_bytes())
        }
        Some(Cmd::List { .. } | Cmd::Init { from_tox: true }) | None => return Ok(None),
    };
    Ok(Some(RunExit::Code(written_code(written))))
}

/// `runall init --from-tox`: a runall.toml equivalent to the tox configuration here (or
/// `-c FILE`), written to the current folder, never over an existing one.
pub fn init_from_tox(cli: &Cli, runall_tox: Option<&std::ffi::OsStr>) -> Result<RunExit, Error> {
    let here = std::env::current_dir()?;
    let file = match &cli.config {
        Some(file) => file.clone(),
        None => crate::tox::discover::find(&here).ok_or_else(|| Error::NoConfig(here.clone()))?,
    };
    let (config, kept) = crate::tox::load(&file, runall_tox)?;
    let tox = crate::tox::query::ToxCommand::resolve(runall_tox, None)?;
    let path = init::write_from_tox(&here, &config, &tox.argv)?;
    kept.keep();
    let note = format!(
        "runall: wrote {} from {}; `runall list` shows its envs\n",
        path.display(),
        file.display()
    );
    Ok(RunExit::Code(written_code(stdio::write_stdout(
        note.as_bytes(),
    ))))
}

/// `runall list` (`--json`: [`list::json`]), each env's last run told as of `now`
/// (seconds since the Unix epoch).
pub fn list(config: &Config, history: &History, json: bool, now: u64) -> RunExit {
    let text = if json {
        list::json(config, history)
    } else {
        let tox_file = config.envs.iter().find_map(|env| match &env.origin {
            crate::config::EnvOrigin::Tox { file, .. } if *file != config.path => Some(file),
            _ => None,
        });
        let also = tox_file.map_or_else(String::new, |file| {
            format!(" (and tox envs from {})", file.display())
        });
        format!(
            "config: {}{also}\n\n{}",
            config.path.display(),
            list::text(config, |env| history.describe_last(env, now))
        )
    };
    RunExit::Code(written_code(stdio::write_stdout(text.as_bytes())))
}

/// `runall list --shard K/N [--durations FILE]`: each shard's envs and expected time.
pub fn list_shards(
    config: &Config,
    split: &Balanced,
    selected: Shard,
    by_time: bool,
    json: bool,
) -> RunExit {
    let text = if json {
        list::shards_json(config, split, selected, by_time)
    } else {
        list::shards_text(config, split, selected, by_time)
    };
    RunExit::Code(written_code(stdio::write_stdout(text.as_bytes())))
}

/// The exit code of a one-shot command whose output was (`true`) or could not be written.
fn written_code(written: bool) -> u8 {
    if written {
        exit_code::OK
    } else {
        exit_code::ENV_FAILED
    }
}
