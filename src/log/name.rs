//! The name of each attempt's log file inside the log folder.

/// The log file of an env's `run`-th start (retries and reruns alike): `<env>.log` for the
/// first, `<env>@<n>.log` after that, so no start overwrites an earlier one's log. `@` is
/// outside the env name alphabet (`[A-Za-z0-9._-]`), so no name maps onto another env's log:
/// the name is what precedes the first `@` (or the final `.log`).
pub fn log_file_name(env: &str, run: u32) -> String {
    if run <= 1 {
        format!("{env}.log")
    } else {
        format!("{env}@{run}.log")
    }
}

/// The folder under the log folder holding every attempt's report folder.
pub const REPORTS_DIR: &str = "reports";

/// The report folder of an env's `run`-th start, inside [`REPORTS_DIR`]: named like its log
/// without `.log` (`<env>`, then `<env>@<n>`), so an attempt's log and reports pair up.
pub fn report_dir_name(env: &str, run: u32) -> String {
    if run <= 1 {
        env.to_owned()
    } else {
        format!("{env}@{run}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn log_names_never_collide_across_envs_and_runs() {
        assert_eq!(log_file_name("lint", 0), "lint.log");
        assert_eq!(log_file_name("lint", 1), "lint.log");
        assert_eq!(log_file_name("lint", 2), "lint@2.log");
        assert_eq!(log_file_name("py3.12", 7), "py3.12@7.log");
        // Names chosen to look like another env's later run under a `.n` scheme.
        let names = [
            "a", "a.2", "a.2.2", "a.log", "a.2.log", "2", "a-2", "a_2", "..a", "a.",
        ];
        let mut seen = HashSet::new();
        for name in names {
            for run in 1..=12 {
                let file = log_file_name(name, run);
                assert!(seen.insert(file.clone()), "{name} run {run}: {file} taken");
                let dir = report_dir_name(name, run);
                assert_eq!(
                    format!("{dir}.log"),
                    file,
                    "a report folder pairs with its log"
                );
            }
        }
    }
}
