//! Assertions both programs' tests share: what the contract says of any of
//! the two binaries (config refusal, SIGTERM during start-up).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{command, hold_across_exec, start_with_memory_cap, Program, SIGTERM};

/// A YAML text of a few hundred bytes whose aliases of aliases ("billion
/// laughs") expand to 9^9 strings, several GiB once built as a tree: what
/// a config file must be refused for before anything is expanded. The first
/// alias is at line 2, column 8.
pub fn yaml_alias_bomb() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text
}

/// How long a program may take to refuse its config: a config error is
/// found before any I/O, in milliseconds; far more means it is stuck (a
/// blocked open, an endless read).
pub const CONFIG_EXIT: Duration = Duration::from_secs(10);

/// Starts `name` in `dir` (its address space capped at 512 MiB, so a program
/// that would read without limit fails inside the test) and expects it to
/// refuse its config: exit 1 within [`CONFIG_EXIT`], one line on stderr,
/// `<name>: config error: ...`, containing every one of `parts`. Returns it.
pub fn assert_config_refused(
    name: &str,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    parts: &[&str],
) -> String {
    let mut program = start_with_memory_cap(name, dir, env, args, 512 << 20);
    let (status, waited) = program.wait_exit(CONFIG_EXIT);
    let lines = program.lines();
    assert_eq!(status.code(), Some(1), "{env:?} {args:?}: {lines:?}");
    assert_eq!(lines.len(), 1, "one clear line: {lines:?}");
    let line = lines.into_iter().next().expect("one line");
    assert!(
        line.starts_with(&format!("{name}: config error: ")),
        "{line}"
    );
    for part in parts {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    eprintln!("{args:?}: exit 1 after {waited:?}");
    line
}

/// Starts `name` 50 times with SIGTERM sent 0 to 4.9 ms after the spawn (in
/// steps of 0.1 ms), held blocked across `exec` (see [`hold_across_exec`]).
/// Every tenth start gets the environment of `env(true)`, a bad config, and
/// must exit 1; the others `env(false)` and must exit 0 and log every line of
/// `clean_exit_lines`. None may be killed by the signal.
pub fn assert_sigterm_during_start_up_is_clean(
    name: &str,
    env: impl Fn(bool) -> Vec<(String, String)>,
    clean_exit_lines: &[&[&str]],
) {
    use std::os::unix::process::ExitStatusExt;
    const STARTS: u32 = 50;
    const EXIT_PATIENCE: Duration = Duration::from_secs(10);
    let began = Instant::now();
    for start in 0..STARTS {
        let bad_config = start % 10 == 9;
        let env = env(bad_config);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut command = command(name, &env);
        hold_across_exec(&mut command, SIGTERM);
        let mut program = Program::spawn(name, command);
        // A spread of moments, not a wait for a condition: the signal is meant
        // to land anywhere in start-up.
        std::thread::sleep(Duration::from_micros(u64::from(start) * 100));
        let (status, _) = program.stop_with(SIGTERM, EXIT_PATIENCE);
        assert_eq!(status.signal(), None, "start {start}: killed by a signal");
        if bad_config {
            assert_eq!(status.code(), Some(1), "start {start}: bad config");
            continue;
        }
        assert_eq!(
            status.code(),
            Some(0),
            "start {start}: {:?}",
            program.lines()
        );
        for line in clean_exit_lines {
            program.wait_line(line, EXIT_PATIENCE);
        }
    }
    println!("{STARTS} starts in {:?}", began.elapsed());
}
