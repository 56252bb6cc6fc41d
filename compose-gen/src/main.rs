//! `compose-gen <output-file> <client-count>`: see the library docs.

use std::process::ExitCode;

use compose_gen::args::{parse_args, usage, Command};
use compose_gen::output::write_atomically;
use compose_gen::{ComposeFile, Options};

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
            match write_atomically(&output, yaml.as_bytes()) {
                Ok(()) => {
                    let noun = if clients == 1 { "client" } else { "clients" };
                    println!(
                        "compose-gen: wrote {} (server and {clients} {noun})",
                        output.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("compose-gen: cannot write {}: {e}", output.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
