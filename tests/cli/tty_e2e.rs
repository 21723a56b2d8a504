//! tty envs in the TUI, end to end: the real binary in tmux, read back from the screen. The
//! child sees a terminal of its pane's size (and SIGWINCH when it changes); `i` types into
//! it (a prompt, `pdb`, Ctrl-C as the terminal's own SIGINT); a full-screen program is drawn
//! by the emulator and left cleanly; `s` shows the plain stream and comes back. Each test
//! checks that `stty -g` is unchanged afterwards and that nothing of the run is left.

use crate::support::{Project, toml_str};
use crate::tui_e2e::{Tmux, assert_clean_exit};

/// A config of tty envs `(name, script)`.
fn tty_envs(envs: &[(&str, &str)]) -> String {
    let mut config = String::new();
    for (name, script) in envs {
        config.push_str(&format!(
            "[env.{name}]\ntty = true\ncommands = [{}]\n",
            toml_str(script)
        ));
    }
    config
}

/// The focused pane's inner width as drawn in the list view: the columns between the `││`
/// that ends the env list and the pane's right border, on the first row inside the pane.
fn pane_columns(screen: &str) -> usize {
    let row = screen.lines().nth(1).expect("a second row");
    let chars: Vec<char> = row.chars().collect();
    let start = row
        .find("││")
        .map(|byte| row[..byte].chars().count() + 2)
        .expect("the list's and the pane's borders");
    let end = chars.iter().rposition(|&c| c == '│').expect("right border");
    end - start
}

// Markers the tests wait for are computed by the shell (`$((…))`), so that the command line
// in the pane's title never matches them before the child printed them.

/// Quit with `q` (and `y` if envs still run), then the clean-exit checks.
fn quit(p: &Project, tmux: &Tmux, busy: bool, code: &str) {
    tmux.keys(&["q"]);
    if busy {
        tmux.wait_for("and quit?");
        tmux.keys(&["y"]);
    }
    assert_clean_exit(p, tmux, code);
}

#[test]
fn a_tty_env_sees_a_terminal_the_size_of_its_pane_and_sigwinch_on_resize() {
    let script = "python3 -c 'import os; print(\"isatty\", os.isatty(0), os.isatty(1), \
                  \"size\", *os.get_terminal_size())'; \
                  trap 'echo winch $(stty size)' WINCH; echo ready-$((1+1)); \
                  while :; do sleep 0.05; done";
    let p = Project::new(&tty_envs(&[("term", script)]));
    let tmux = Tmux::start(&p, "");
    let screen = tmux.wait_for("ready-2");
    let cols = pane_columns(&screen);
    // 40 rows: the key bar and the pane's two borders are not the child's.
    assert!(
        screen.contains(&format!("isatty True True size {cols} 37")),
        "{cols}\n{screen}"
    );
    tmux.command(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    let screen = tmux.wait_until("the new size", |s| s.contains("winch 27 "));
    let cols = pane_columns(&screen);
    assert!(
        screen.contains(&format!("winch 27 {cols}")),
        "{cols}\n{screen}"
    );
    // Into input mode and out again with Ctrl-], as a person leaves it; then Ctrl-C is
    // runall's own again: its ladder, and runall dies by SIGINT.
    tmux.keys(&["i"]);
    tmux.wait_for("INPUT → term");
    tmux.keys(&["C-]"]);
    tmux.wait_until("input mode left", |s| !s.contains("INPUT"));
    tmux.keys(&["C-c"]);
    assert_clean_exit(&p, &tmux, "130");
}

#[test]
fn pdb_answers_what_is_typed_through_input_mode() {
    // In a function: `c` at module level would stop again at the module's return.
    let script = "printf 'import pdb\\ndef f():\\n    x = 6\\n    pdb.set_trace()\\n    \
                  print(\"after\", x * 7)\\nf()\\n' > dbg.py; python3 dbg.py";
    let p = Project::new(&tty_envs(&[("debug", script)]));
    let tmux = Tmux::start(&p, "");
    tmux.wait_for("(Pdb)");
    tmux.keys(&["i"]);
    tmux.wait_for("INPUT");
    tmux.type_text("p 6*7");
    tmux.keys(&["Enter"]);
    tmux.wait_until("the answer", |s| s.lines().any(|l| l.contains("│42 ")));
    tmux.type_text("c");
    tmux.keys(&["Enter"]);
    tmux.wait_for("after 42");
    // The env's end ends input mode.
    let screen = tmux.wait_for("input mode left");
    assert!(!screen.contains("INPUT →"), "{screen}");
    assert!(screen.contains("✔ debug"), "{screen}");
    quit(&p, &tmux, false, "0");
}

#[test]
fn ctrl_c_typed_into_a_prompt_is_the_childs_sigint() {
    let p = Project::new(&tty_envs(&[
        ("prompt", "exec python3 -c 'input(\"ask\" + \"-me: \")'"),
        ("other", "sleep 100"),
    ]));
    let tmux = Tmux::start(&p, "");
    // Python's own prompt: its SIGINT handler is in place.
    tmux.wait_for("ask-me:");
    tmux.keys(&["i"]);
    tmux.wait_for("INPUT");
    tmux.keys(&["C-c"]);
    tmux.wait_for("KeyboardInterrupt");
    // Python (3.8 on) ends an uncaught KeyboardInterrupt by dying of SIGINT itself, as a
    // shell would report it (130): the env failed by its own signal, not runall's.
    let screen = tmux.wait_for("prompt killed by SIGINT");
    assert!(screen.contains("✘ prompt"), "{screen}");
    // Only that env: runall goes on, and the other env still runs.
    assert!(screen.contains("▶ other"), "{screen}");
    // The env ended, so its input mode did; now Ctrl-C is runall's own.
    tmux.wait_for("input mode left");
    tmux.keys(&["C-c"]);
    assert_clean_exit(&p, &tmux, "130");
}

#[test]
fn i_on_an_env_without_a_terminal_says_how_to_get_one() {
    let p = Project::new("[env.pipes]\ncommands = [\"echo piped-$((1+1)); sleep 100\"]\n");
    let tmux = Tmux::start(&p, "");
    tmux.wait_for("piped-2");
    tmux.keys(&["i"]);
    tmux.wait_for("set `tty = true`");
    quit(&p, &tmux, true, "1");
}

#[test]
fn less_is_drawn_as_a_terminal_draws_it_and_left_cleanly() {
    let script = "seq 1 200 > numbers.txt; less numbers.txt; echo less-$((1+1))";
    let p = Project::new(&tty_envs(&[("pager", script)]));
    let tmux = Tmux::start(&p, "");
    // less fills the pane from its first row: line 1 on the pane's first row, and its
    // prompt on the last.
    tmux.wait_until("less's first page", |s| {
        let rows: Vec<&str> = s.lines().collect();
        rows.len() > 3 && rows[1].contains("││1 ") && rows[2].contains("││2 ")
    });
    tmux.keys(&["i"]);
    tmux.wait_for("INPUT");
    // Down a page, as a person reads.
    tmux.keys(&["Space"]);
    tmux.wait_until("the next page", |s| {
        s.lines().nth(1).is_some_and(|r| r.contains("││37 "))
    });
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("less-2");
    // The alternate screen is gone: none of its pages is on the main screen.
    assert!(!screen.contains("││37 "), "{screen}");
    quit(&p, &tmux, false, "0");
}

#[test]
fn s_shows_the_plain_stream_and_comes_back() {
    let p = Project::new(
        "[env.ticker]\ncommands = [\"echo first-$((1+1)); sleep 1; echo second-$((1+2)); \
         sleep 100\"]\n",
    );
    let tmux = Tmux::start(&p, "");
    tmux.wait_for("first-2");
    tmux.keys(&["s"]);
    tmux.wait_for("the plain stream");
    tmux.wait_for("ticker | first-2");
    // Live, not only the history: what came after the switch.
    tmux.wait_for("ticker | second-3");
    tmux.keys(&["s"]);
    tmux.wait_until("the TUI again", |s| {
        s.contains("envs 0/1") && s.contains("? help")
    });
    quit(&p, &tmux, true, "1");
}

/// `--attach`: the env gets runall's own terminal (after the env it depends on), answers a
/// prompt typed straight into the terminal, outlives its `timeout`, and the summary follows.
#[test]
fn attach_hands_the_terminal_to_one_env() {
    let p = Project::new(
        "[env.dep]\ncommands = [\"echo dep-output\"]\n\
         [env.ask]\ndepends = [\"dep\"]\ntimeout = \"1s\"\n\
         commands = [\"python3 -c 'import os; print(\\\"tty\\\", os.isatty(0), os.isatty(1)); \
         print(\\\"hello\\\", input(\\\"name? \\\"))'; sleep 1.5; echo slept-$((1+1))\"]\n",
    );
    let tmux = Tmux::start(&p, "--attach ask");
    tmux.wait_for("name?");
    let screen = tmux.screen();
    assert!(screen.contains("tty True True"), "{screen}");
    // The env it depends on ran first, its output kept to its log.
    assert!(!screen.contains("dep-output"), "{screen}");
    tmux.type_text("bob");
    tmux.keys(&["Enter"]);
    tmux.wait_for("hello bob");
    let screen = tmux.wait_for("2 passed, 0 failed");
    assert!(screen.contains("slept-2"), "{screen}");
    assert_clean_exit(&p, &tmux, "0");
    assert_eq!(p.log("dep"), b"dep-output\n");
}

/// `y` puts the pane's text on the clipboard with OSC 52 (tmux, with `set-clipboard on`,
/// keeps it as a paste buffer), the search hit's line when there is one; `m` releases the
/// mouse for the terminal's own selection and takes it back.
#[test]
fn y_copies_with_osc52_and_m_toggles_the_mouse() {
    let p = Project::new(
        "[env.words]\ncommands = [\"echo alpha-$((1+1)); echo beta-$((1+2)); sleep 100\"]\n",
    );
    let tmux = Tmux::start(&p, "");
    tmux.command(&["set", "-g", "set-clipboard", "on"]);
    tmux.wait_for("beta-3");
    tmux.keys(&["y"]);
    tmux.wait_for("copied the pane");
    let copied = tmux.output(&["show-buffer"]);
    assert_eq!(copied, "alpha-2\nbeta-3", "{copied:?}");
    tmux.keys(&["/"]);
    tmux.type_text("beta");
    tmux.keys(&["Enter"]);
    tmux.wait_for("1/1");
    tmux.keys(&["y"]);
    tmux.wait_for("copied the hit's line");
    assert_eq!(tmux.output(&["show-buffer"]), "beta-3");
    let mouse = || tmux.output(&["display", "-p", "-t", "t", "#{mouse_any_flag}"]);
    assert_eq!(mouse().trim(), "1");
    tmux.keys(&["m"]);
    tmux.wait_for("mouse released");
    assert_eq!(mouse().trim(), "0");
    tmux.keys(&["m"]);
    tmux.wait_for("mouse captured");
    assert_eq!(mouse().trim(), "1");
    quit(&p, &tmux, true, "1");
}

/// `--attach` and Ctrl-Z: the attached env is stopped by its terminal, and runall stops with
/// it like a shell's job (never waiting forever for a stopped child); `fg` gives the terminal
/// back to the env, which goes on, answers its prompt and finishes; the terminal's settings
/// are as before.
#[test]
fn attach_then_ctrl_z_stops_runall_as_a_job_and_fg_goes_on() {
    let p = Project::new(
        "[env.ask]\n\
         commands = [\"python3 -c 'print(\\\"hello\\\", input(\\\"name? \\\"))'; echo after-$((1+1))\"]\n",
    );
    let tmux = Tmux::interactive(&p);
    tmux.wait_for("PROMPT$");
    tmux.type_line("stty -g > stty.before");
    let runall = env!("CARGO_BIN_EXE_runall");
    // Alone on its line: bash would go on with the rest of a list once the job stops.
    tmux.type_line(&format!(
        "RUNALL_TEST_TAG={} '{runall}' --attach ask",
        p.tag
    ));
    tmux.wait_for("name?");
    tmux.keys(&["C-z"]);
    tmux.wait_until("the shell's prompt after the stop", |s| {
        s.contains("Stopped") && s.trim_end().ends_with("PROMPT$")
    });
    // The shell has its terminal, as it was.
    tmux.type_line("stty -g > stty.during; echo during-$((2+2))");
    tmux.wait_for("during-4");
    tmux.type_line("fg; echo fg-$?; stty -g > stty.after");
    // The env has the terminal again: what is typed reaches its prompt.
    tmux.wait_until("runall in the foreground again", |s| {
        s.lines().filter(|l| l.contains("--attach ask")).count() >= 3
    });
    tmux.type_text("bob");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_until("the shell to go on", |s| {
        s.lines().any(|l| l.starts_with("fg-"))
    });
    assert!(screen.contains("hello bob"), "{screen}");
    assert!(screen.contains("after-2"), "{screen}");
    assert!(screen.contains("1 passed, 0 failed"), "{screen}");
    assert!(screen.lines().any(|l| l == "fg-0"), "{screen}");
    let read = |name: &str| std::fs::read_to_string(p.path().join(name)).unwrap_or_default();
    tmux.wait_until("stty to write", |_| !read("stty.after").is_empty());
    assert_eq!(
        read("stty.before"),
        read("stty.during"),
        "settings at the stop"
    );
    assert_eq!(
        read("stty.before"),
        read("stty.after"),
        "terminal settings changed"
    );
    p.assert_no_survivors();
}
