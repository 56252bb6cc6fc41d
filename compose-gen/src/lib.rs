//! Writes the Docker Compose file for the echo server and N clients.
//!
//! `compose-gen <output-file> <client-count>` (usually through
//! `./generar-compose.sh`) writes a file with the `server` service, services
//! `client1..clientN` and the `testing_net` network; the committed
//! `docker-compose-dev.yaml` is its output for one client. With `--swarm` it
//! writes a Docker Swarm stack of the same images instead (`make swarm-up`).
//!
//! # Layout
//!
//! - [`model`]: the compose file as typed data ([`ComposeFile`]), built from
//!   [`Options`].
//! - [`yaml`]: a block-style YAML emitter that quotes every scalar a YAML
//!   reader could take for something else.
//! - [`stack`]: the Swarm stack ([`Stack`]): replicas, rolling updates,
//!   Swarm configs named by their content.
//! - [`args`]: the command line.
//! - [`output`]: replacing the output file atomically.
//!
//! No top-level `name:` key: docker-compose v1 rejects it, so the project
//! name `tp0` comes from the Makefile (`-p tp0`), which works with v1 and v2.

pub mod args;
pub mod model;
pub mod output;
pub mod stack;
pub mod yaml;

pub use model::{ComposeFile, Options};
pub use stack::Stack;
