//! `compose-gen [--swarm [options]] <output-file> <client-count>`: see the
//! library docs.

use std::path::Path;
use std::process::ExitCode;

use compose_gen::args::{parse_args, usage, Command};
use compose_gen::output::write_atomically;
use compose_gen::{ComposeFile, Options, Stack};

fn main() -> ExitCode {
    match parse_args(std::env::args_os().skip(1)) {
        Command::Help => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Command::Usage(problem) => {
            eprint!("compose-gen: {problem}\n{}", usage());
            ExitCode::from(2)
        }
        Command::Generate { output, clients } => {
            let yaml = ComposeFile::new(&Options::new(clients)).to_yaml();
            let noun = if clients == 1 { "client" } else { "clients" };
            write(&output, &yaml, &format!("server and {clients} {noun}"))
        }
        Command::Stack {
            output,
            clients,
            servers,
            server_image,
            client_image,
        } => {
            let dir = match output.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let stack = match Stack::from_dir(dir, servers, clients) {
                Ok(stack) => Stack {
                    server_image,
                    client_image,
                    ..stack
                },
                Err(e) => {
                    eprintln!("compose-gen: cannot read a config file beside the stack file: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let noun = if clients == 1 { "client" } else { "clients" };
            let what = format!("a Swarm stack: {servers} server replica(s), {clients} {noun}");
            write(&output, &stack.to_yaml(), &what)
        }
    }
}

/// Writes `yaml` to `output` and says so, or says why not.
fn write(output: &Path, yaml: &str, what: &str) -> ExitCode {
    match write_atomically(output, yaml.as_bytes()) {
        Ok(()) => {
            println!("compose-gen: wrote {} ({what})", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compose-gen: cannot write {}: {e}", output.display());
            ExitCode::FAILURE
        }
    }
}
