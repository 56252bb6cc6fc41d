//! A student's machine, as far as one Linux host can stand in for it: a
//! checkout made the way Git for Windows makes it (`core.autocrlf=true`), a
//! userland with no GNU tool (busybox's applets, none of them `timeout`,
//! like macOS), and a `docker` that refuses what Git Bash breaks (a host
//! path handed to a container).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{repo_root, run};

/// A clone of the repository made with `git -c core.autocrlf=true clone`,
/// Git for Windows' default. Removed when dropped.
pub fn windows_style_clone() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("tp0e2e-crlf-")
        .tempdir()
        .expect("create a temporary directory");
    let clone = dir.path().join("tp0");
    let out = run(
        "git",
        &[
            "-c",
            "core.autocrlf=true",
            "clone",
            "--quiet",
            repo_root().to_str().expect("a UTF-8 path"),
            clone.to_str().expect("a UTF-8 path"),
        ],
    );
    assert!(out.status.success(), "git clone failed: {out:?}");
    dir
}

/// The files of the checkout at `dir` that hold a CR LF line end.
pub fn files_with_crlf(dir: &Path) -> Vec<String> {
    let out = run(
        "git",
        &["-C", dir.to_str().expect("a UTF-8 path"), "ls-files", "-z"],
    );
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    out.stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .filter(|name| {
            fs::read(dir.join(name))
                .map(|bytes| bytes.windows(2).any(|pair| pair == b"\r\n"))
                .unwrap_or(false)
        })
        .collect()
}

/// The POSIX utilities a user's scripts may use, as busybox provides them:
/// no GNU coreutils, and no `timeout` (neither macOS nor POSIX has one).
const POSIX_TOOLS: &[&str] = &[
    "awk", "basename", "cat", "chmod", "cksum", "cp", "cut", "date", "dirname", "env", "expr",
    "grep", "head", "id", "kill", "ls", "mkdir", "mktemp", "mv", "printf", "rm", "sed", "sh",
    "sleep", "sort", "tail", "tee", "test", "tr", "uname", "wc",
];

/// A `PATH` of a student's host: [`POSIX_TOOLS`] from busybox, `bash` (the
/// course types `bash generar-compose.sh`), the compose CLI, and a `docker`
/// that refuses any `docker run` whose arguments hold the path `refused`
/// (a clone's absolute path: what Git Bash rewrites into a `C:/...` path
/// that means nothing inside a Linux container) and logs every `docker
/// run` it lets through, so a test can tell it was used.
#[derive(Debug)]
pub struct StudentHost {
    dir: tempfile::TempDir,
}

impl StudentHost {
    /// Makes the tool directory, with the `docker` that refuses `refused`.
    pub fn new(refused: &Path) -> Self {
        let docker = which("docker").expect("docker on PATH");
        Self::with_docker(|log| {
            format!(
                "#!/bin/sh\n\
                 # docker, refusing a host path in `docker run` as Git Bash would break it.\n\
                 case \"$1 $2\" in\n\
                 run\\ * | container\\ run)\n\
                 \x20   for arg do\n\
                 \x20       case $arg in\n\
                 \x20       *'{refused}'*)\n\
                 \x20           echo \"docker: refused, a host path in docker run: $arg\" >&2\n\
                 \x20           echo refused >>'{log}'\n\
                 \x20           exit 125 ;;\n\
                 \x20       esac\n\
                 \x20   done\n\
                 \x20   echo run >>'{log}' ;;\n\
                 esac\n\
                 exec '{docker}' \"$@\"\n",
                refused = refused.display(),
                log = log.display(),
                docker = docker.display(),
            )
        })
    }

    /// Makes the tool directory with `docker` the shell script that
    /// `script` writes, given the path of the log [`Self::docker_runs`] reads.
    pub fn with_docker(script: impl FnOnce(&Path) -> String) -> Self {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "no /bin/busybox: install Debian's busybox-static (.ci/run does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("tp0e2e-host-")
            .tempdir()
            .expect("create a temporary directory");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("create bin/");
        for tool in POSIX_TOOLS {
            std::os::unix::fs::symlink(busybox, bin.join(tool)).expect("link a busybox applet");
        }
        for tool in ["bash", "docker-compose"] {
            if let Some(path) = which(tool) {
                std::os::unix::fs::symlink(path, bin.join(tool)).expect("link a tool");
            }
        }
        let path = bin.join("docker");
        fs::write(&path, script(&dir.path().join("docker-run.log")))
            .expect("write the docker wrapper");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        StudentHost { dir }
    }

    /// The `PATH` to run a user's commands with.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// Applies this host to `command`: its `PATH`, nothing else of the
    /// caller's tools.
    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command.env("PATH", self.path())
    }

    /// How many `docker run`s went through, and how many were refused.
    pub fn docker_runs(&self) -> (usize, usize) {
        let log = fs::read_to_string(self.dir.path().join("docker-run.log")).unwrap_or_default();
        let refused = log.lines().filter(|line| *line == "refused").count();
        (log.lines().count() - refused, refused)
    }
}

/// `program` as the test process's own `PATH` finds it.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
