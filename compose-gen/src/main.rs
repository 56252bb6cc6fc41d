//! `compose-gen [--swarm [options]] <output-file> <client-count>`: see the
//! library docs.

use std::io::Write as _;
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
            config_tags,
            constraints: (server_constraint, client_constraint),
        } => {
            // Tags the caller computed, or those of the files beside the stack file.
            let tags = config_tags.map(Ok).unwrap_or_else(|| {
                let dir = match output.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                Stack::from_dir(dir, servers, clients)
                    .map(|stack| (stack.server_config_tag, stack.client_config_tag))
            });
            let (server_config_tag, client_config_tag) = match tags {
                Ok(tags) => tags,
                Err(e) => {
                    eprintln!("compose-gen: cannot read a config file beside the stack file: {e}");
                    return ExitCode::FAILURE;
                }
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
            let noun = if clients == 1 { "client" } else { "clients" };
            let what = format!("a Swarm stack: {servers} server replica(s), {clients} {noun}");
            write(&output, &stack.to_yaml(), &what)
        }
    }
}

/// Writes `yaml` to `output` (`-`: standard output, which
/// `generar-compose.sh` turns into a file on the host) and says so, or says
/// why not.
fn write(output: &Path, yaml: &str, what: &str) -> ExitCode {
    if output == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        return match stdout
            .write_all(yaml.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("compose-gen: cannot write to standard output: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
