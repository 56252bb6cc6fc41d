//! The Docker Swarm stack: the same images and config files as the compose
//! file, as replicated services for `docker stack deploy`.
//!
//! What differs from the compose file, and why:
//!
//! - The server has `replicas` and `endpoint_mode: dnsrr`: its name resolves
//!   to every task's address and the client, which resolves it for each
//!   message, spreads over them. The default virtual IP needs the kernel's
//!   IPVS, which not every host has (connections then fail with "No route to
//!   host").
//! - One `client` service with `replicas`; each task takes its slot number as
//!   its id (`CLI_ID={{.Task.Slot}}`, expanded by Swarm), runs its loop once
//!   and is not restarted.
//! - Configs are Swarm configs, not bind mounts (a mount exists on one node
//!   only). Swarm configs are immutable, so each config's name carries a tag
//!   of its content: an edited file is a new config, and deploying it rolls
//!   the service that uses it.
//! - The server's replicas are spread over the nodes (`placement:
//!   preferences: spread: node.id`), so a lost node takes only its share;
//!   on one node the preference changes nothing. A placement constraint
//!   (`node.role == worker`) can be added to either service.
//! - No `container_name` (Swarm names containers itself), `depends_on`
//!   (ignored: the client's connect window covers a late server),
//!   `security_opt` (ignored by `docker stack deploy`) or `dns_opt` (refused
//!   by its schema); `read_only`, `cap_drop` and `stop_grace_period` carry
//!   over.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use crate::compose::NETWORK;
use crate::quoted;

/// Server replicas when none are asked for.
pub const DEFAULT_SERVERS: u32 = 2;
/// Most server replicas the generator writes.
pub const MAX_SERVERS: u32 = 32;
/// Most tasks (servers and clients) on the stack's network: a Swarm overlay
/// gets a `/24`, of which the network, broadcast, gateway and load-balancer
/// addresses and one spare for a start-first update are not for tasks.
pub const MAX_TASKS: u32 = 251;
/// The server's config file, relative to the stack file.
pub const SERVER_CONFIG: &str = "server/config.ini";
/// The clients' config file, relative to the stack file.
pub const CLIENT_CONFIG: &str = "client/config.yaml";

/// What varies between generated stacks; its `Display` is the stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Server replicas, `1..=MAX_SERVERS`.
    pub servers: u32,
    /// Client replicas; `0` leaves the client service out.
    pub clients: u32,
    /// The server's image. On one node a local tag; across nodes an image in
    /// a registry every node can pull from.
    pub server_image: String,
    /// The client's image, as for the server.
    pub client_image: String,
    /// Tag of the server config's content ([`content_tag`]).
    pub server_config_tag: String,
    /// Tag of the client config's content ([`content_tag`]).
    pub client_config_tag: String,
    /// A placement constraint of the server's tasks (`node.role == worker`).
    pub server_constraint: Option<String>,
    /// A placement constraint of the clients' tasks.
    pub client_constraint: Option<String>,
}

impl Stack {
    /// A stack of the local `server:latest` and `client:latest` images whose
    /// configs are tagged by the content of the files beside the stack file
    /// in `dir` (`server/config.ini`, and `client/config.yaml` if there are
    /// clients).
    pub fn from_dir(dir: &Path, servers: u32, clients: u32) -> io::Result<Self> {
        let tag_of = |file: &str| {
            let path = dir.join(file);
            fs::read(&path)
                .map(|bytes| content_tag(&bytes))
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let server_config_tag = tag_of(SERVER_CONFIG)?;
        let client_config_tag = if clients > 0 {
            tag_of(CLIENT_CONFIG)?
        } else {
            String::new()
        };
        Ok(Stack {
            servers,
            clients,
            server_image: "server:latest".to_owned(),
            client_image: "client:latest".to_owned(),
            server_config_tag,
            client_config_tag,
            server_constraint: None,
            client_constraint: None,
        })
    }

    /// Name of the server's config in the file; `docker stack deploy` puts
    /// the stack name in front of it.
    pub fn server_config_name(&self) -> String {
        format!("server_config_{}", self.server_config_tag)
    }

    /// Name of the clients' config in the file, as for the server.
    pub fn client_config_name(&self) -> String {
        format!("client_config_{}", self.client_config_tag)
    }
}

/// What both services have after their network: the compose file's grace
/// period and the part of its hardening that Swarm applies.
const HARDENING: &str = "    stop_grace_period: 2s
    read_only: true
    cap_drop:
      - ALL
";

/// The `constraints:` of a `placement:`, if there is one.
fn write_constraint(f: &mut fmt::Formatter<'_>, constraint: Option<&str>) -> fmt::Result {
    match constraint {
        Some(constraint) => write!(
            f,
            "        constraints:\n          - {}\n",
            quoted(constraint)
        ),
        None => Ok(()),
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (servers, clients) = (self.servers, self.clients);
        let noun = if clients == 1 { "client" } else { "clients" };
        let server_config = quoted(&self.server_config_name());
        let client_config = quoted(&self.client_config_name());
        // Version 3.8 has every key used here and is read by older `docker`
        // CLIs, which require a `version`. The server's update is
        // start-first: the new task runs before the old one gets SIGTERM, so
        // the name always resolves to a listening server, and Swarm counts a
        // new task as running once its HEALTHCHECK passes. A bad config exits
        // 1 at once: a few restarts, not a loop.
        write!(
            f,
            "\
# Generated by compose-gen --swarm: a Docker Swarm stack of {servers} server replica(s) and {clients} {noun}.
# Deploy with `make swarm-up`, which regenerates it; by hand:
# docker stack deploy --resolve-image never -c <this-file> <stack>
version: \"3.8\"

services:
  server:
    image: {}
    configs:
      - source: {server_config}
        target: /config.ini
    networks:
      - {NETWORK}
{HARDENING}    deploy:
      replicas: {servers}
      endpoint_mode: dnsrr
      update_config:
        parallelism: 1
        delay: 1s
        order: start-first
        failure_action: rollback
        monitor: 5s
      rollback_config:
        parallelism: 1
        order: start-first
      restart_policy:
        condition: on-failure
        delay: 1s
        max_attempts: 3
        window: 10s
      placement:
",
            quoted(&self.server_image)
        )?;
        write_constraint(f, self.server_constraint.as_deref())?;
        f.write_str("        preferences:\n          - spread: node.id\n")?;
        // Each task's id is its slot number, expanded by Swarm; a client that
        // finished its loop is done, not failed.
        if clients > 0 {
            write!(
                f,
                "  client:
    image: {}
    environment:
      - \"CLI_ID={{{{.Task.Slot}}}}\"
    configs:
      - source: {client_config}
        target: /config.yaml
    networks:
      - {NETWORK}
{HARDENING}    deploy:
      replicas: {clients}
      restart_policy:
        condition: none
",
                quoted(&self.client_image)
            )?;
            if self.client_constraint.is_some() {
                f.write_str("      placement:\n")?;
                write_constraint(f, self.client_constraint.as_deref())?;
            }
        }
        // Attachable: a throwaway container can join (validar-echo-server.sh).
        write!(
            f,
            "
networks:
  {NETWORK}:
    driver: overlay
    attachable: true

configs:
  {server_config}:
    file: ./{SERVER_CONFIG}
"
        )?;
        if clients > 0 {
            write!(f, "  {client_config}:\n    file: ./{CLIENT_CONFIG}\n")?;
        }
        Ok(())
    }
}

/// A short tag of `bytes`: what POSIX `cksum` prints of them, as
/// `<CRC>-<length>`, so a script on any host (macOS, Git Bash, busybox)
/// computes the same tag with `cksum` alone (`make swarm-up` does). It
/// changes when a config file changes; it only tells versions of one file
/// apart and is not a defence against anyone.
pub fn content_tag(bytes: &[u8]) -> String {
    const POLY: u32 = 0x04c1_1db7;
    fn feed(crc: u32, byte: u8) -> u32 {
        (0..8).fold(crc ^ (u32::from(byte) << 24), |crc, _| {
            if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            }
        })
    }
    let crc = bytes.iter().fold(0, |crc, &b| feed(crc, b));
    // Then the length, least significant byte first, as few bytes as it takes.
    let mut length = bytes.len() as u64;
    let mut crc = crc;
    while length != 0 {
        crc = feed(crc, length as u8);
        length >>= 8;
    }
    format!("{}-{}", !crc, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(servers: u32, clients: u32) -> Stack {
        Stack {
            servers,
            clients,
            server_image: "server:latest".to_owned(),
            client_image: "client:latest".to_owned(),
            server_config_tag: "00000000000000aa".to_owned(),
            client_config_tag: "00000000000000bb".to_owned(),
            server_constraint: None,
            client_constraint: None,
        }
    }

    const SERVER: &str = "  server:
    image: server:latest
    configs:
      - source: server_config_00000000000000aa
        target: /config.ini
    networks:
      - testing_net
    stop_grace_period: 2s
    read_only: true
    cap_drop:
      - ALL
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      update_config:
        parallelism: 1
        delay: 1s
        order: start-first
        failure_action: rollback
        monitor: 5s
      rollback_config:
        parallelism: 1
        order: start-first
      restart_policy:
        condition: on-failure
        delay: 1s
        max_attempts: 3
        window: 10s
      placement:
        preferences:
          - spread: node.id
";

    const NETWORKS: &str = "networks:
  testing_net:
    driver: overlay
    attachable: true
";

    #[test]
    fn servers_and_clients() {
        let expected = format!(
            "\
# Generated by compose-gen --swarm: a Docker Swarm stack of 3 server replica(s) and 2 clients.
# Deploy with `make swarm-up`, which regenerates it; by hand:
# docker stack deploy --resolve-image never -c <this-file> <stack>
version: \"3.8\"

services:
{SERVER}  client:
    image: client:latest
    environment:
      - \"CLI_ID={{{{.Task.Slot}}}}\"
    configs:
      - source: client_config_00000000000000bb
        target: /config.yaml
    networks:
      - testing_net
    stop_grace_period: 2s
    read_only: true
    cap_drop:
      - ALL
    deploy:
      replicas: 2
      restart_policy:
        condition: none

{NETWORKS}
configs:
  server_config_00000000000000aa:
    file: ./server/config.ini
  client_config_00000000000000bb:
    file: ./client/config.yaml
"
        );
        assert_eq!(stack(3, 2).to_string(), expected);
    }

    #[test]
    fn no_clients_no_client_service_or_config() {
        let yaml = stack(3, 0).to_string();
        assert!(yaml.contains(&format!("services:\n{SERVER}\n{NETWORKS}")));
        assert!(yaml.ends_with(
            "configs:\n  server_config_00000000000000aa:\n    file: ./server/config.ini\n"
        ));
        assert!(!yaml.contains("client:"), "{yaml}");
        assert!(!yaml.contains("client_config"), "{yaml}");
    }

    #[test]
    fn no_key_that_swarm_ignores_or_refuses() {
        let yaml = stack(2, 2).to_string();
        for key in [
            "container_name",
            "depends_on",
            "security_opt",
            "dns_opt",
            "volumes",
        ] {
            assert!(!yaml.contains(key), "{key} in\n{yaml}");
        }
    }

    #[test]
    fn content_tag_is_what_posix_cksum_prints() {
        // `printf ... | cksum` on any POSIX system.
        assert_eq!(content_tag(b""), "4294967295-0");
        assert_eq!(content_tag(b"a"), "1220704766-1");
        assert_eq!(content_tag(b"LOGGING_LEVEL = INFO\n"), "564360382-21");
        assert_eq!(content_tag(&[0; 1000]), "2610763910-1000");
        assert_ne!(
            content_tag(b"LOGGING_LEVEL = INFO\n"),
            content_tag(b"LOGGING_LEVEL = DEBUG\n")
        );
    }

    #[test]
    fn from_dir_tags_the_files_beside_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("server")).unwrap();
        fs::write(dir.path().join(SERVER_CONFIG), b"a").unwrap();
        let server_only = Stack::from_dir(dir.path(), 2, 0).unwrap();
        assert_eq!(
            server_only.server_config_name(),
            "server_config_1220704766-1"
        );
        let missing = Stack::from_dir(dir.path(), 2, 1).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(
            missing.to_string().contains("client/config.yaml"),
            "{missing}"
        );
        fs::create_dir(dir.path().join("client")).unwrap();
        fs::write(dir.path().join(CLIENT_CONFIG), b"").unwrap();
        let both = Stack::from_dir(dir.path(), 2, 1).unwrap();
        assert_eq!(both.client_config_name(), "client_config_4294967295-0");
        assert_eq!(both.server_image, "server:latest");
        assert_eq!(both.client_image, "client:latest");
    }

    #[test]
    fn placement_constraints_are_added_to_the_spread() {
        let mut stack = stack(4, 3);
        stack.server_constraint = Some("node.role == worker".to_owned());
        stack.client_constraint = Some("node.role == manager".to_owned());
        let yaml = stack.to_string();
        assert!(
            yaml.contains(
                "      placement:\n        constraints:\n          - \"node.role == worker\"\n        \
                 preferences:\n          - spread: node.id\n"
            ),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "        condition: none\n      placement:\n        constraints:\n          \
                 - \"node.role == manager\"\n\n"
            ),
            "{yaml}"
        );
    }
}
