//! `compose-gen [--swarm [options]] <output-file> <client-count>`: see the
//! library docs.

use std::io::{self, Write as _};
use std::path::Path;
use std::process::ExitCode;

use compose_gen::args::{parse_args, usage, Command};
use compose_gen::output::{dir_of, write_atomically};
use compose_gen::{ComposeFile, Stack};

fn main() -> ExitCode {
    let (output, yaml, what) = match parse_args(std::env::args_os().skip(1)) {
        Command::Help => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Command::Usage(problem) => {
            eprint!("compose-gen: {problem}\n{}", usage());
            return ExitCode::from(2);
        }
        Command::Generate { output, clients } => {
            let what = format!("server and {clients} {}", noun(clients));
            (output, ComposeFile::new(clients).to_string(), what)
        }
        Command::Stack {
            output,
            clients,
            servers,
            server_image,
            client_image,
            config_tags,
            constraints: (server_constraint, client_constraint),
        } => {
            // Tags the caller computed, or those of the files beside the stack file.
            let (server_config_tag, client_config_tag) = match config_tags {
                Some(tags) => tags,
                None => match Stack::from_dir(dir_of(&output), servers, clients) {
                    Ok(stack) => (stack.server_config_tag, stack.client_config_tag),
                    Err(e) => {
                        eprintln!(
                            "compose-gen: cannot read a config file beside the stack file: {e}"
                        );
                        return ExitCode::FAILURE;
                    }
                },
            };
            let stack = Stack {
                servers,
                clients,
                server_image,
                client_image,
                server_config_tag,
                client_config_tag,
                server_constraint,
                client_constraint,
            };
            let noun = noun(clients);
            let what = format!("a Swarm stack: {servers} server replica(s), {clients} {noun}");
            (output, stack.to_string(), what)
        }
    };
    // `-` is standard output, which `generar-compose.sh` turns into a file on
    // the host.
    let written = if output == Path::new("-") {
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(yaml.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to standard output: {e}"))
    } else {
        write_atomically(&output, yaml.as_bytes())
            .map(|()| println!("compose-gen: wrote {} ({what})", output.display()))
            .map_err(|e| format!("cannot write {}: {e}", output.display()))
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("compose-gen: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn noun(clients: u32) -> &'static str {
    if clients == 1 {
        "client"
    } else {
        "clients"
    }
}
