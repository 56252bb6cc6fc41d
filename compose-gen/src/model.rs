//! The compose file as typed data: one server, N clients, one network.

use crate::yaml::{self, Node};

/// Name of the server's service (and, by default, of its container); the
/// clients reach the server by this DNS name.
pub const SERVER: &str = "server";
/// Name of the network every service joins; compose prefixes it with the
/// project name (`tp0_testing_net`).
pub const NETWORK: &str = "testing_net";
/// The network's subnet.
pub const SUBNET: &str = "172.25.125.0/24";
/// The most clients that fit beside the server in a `/24`: 256 addresses
/// less the network, broadcast, gateway and server addresses.
pub const MAX_CLIENTS: u32 = 252;
/// How long compose waits after `SIGTERM` before `SIGKILL`: above the
/// server's default shutdown grace (500 ms) with room to log and exit.
pub const STOP_GRACE_PERIOD: &str = "2s";

/// What varies between generated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Number of client services, `client1..clientN`.
    pub clients: u32,
    /// Put in front of every container name. Empty for the project's file;
    /// lets a second project (the end-to-end tests) run beside a user's
    /// `tp0` without a container-name clash.
    pub container_prefix: String,
    /// The network's subnet, [`SUBNET`] by default; another one lets a
    /// second project's network exist beside `tp0_testing_net`.
    pub subnet: String,
}

impl Options {
    /// The project's defaults for `clients` clients.
    pub fn new(clients: u32) -> Self {
        Options {
            clients,
            container_prefix: String::new(),
            subnet: SUBNET.to_owned(),
        }
    }
}

/// A whole compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeFile {
    /// Services in file order: the server, then the clients by id.
    pub services: Vec<Service>,
    /// Networks in file order.
    pub networks: Vec<Network>,
}

/// One service, always with a fixed container name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Service name, also its DNS name on the network.
    pub name: String,
    /// Container name, so `docker logs server` works without a project prefix.
    pub container_name: String,
    /// Local image; nothing is ever pulled.
    pub image: String,
    /// `KEY=value` pairs. Only what the config files cannot say (the
    /// client id), so editing a mounted config file always takes effect.
    pub environment: Vec<(String, String)>,
    /// `host:container:mode` bind mounts, host paths relative to the file.
    pub volumes: Vec<String>,
    /// Networks joined.
    pub networks: Vec<String>,
    /// Services started first.
    pub depends_on: Vec<String>,
    /// See [`STOP_GRACE_PERIOD`].
    pub stop_grace_period: String,
    /// The programs write nothing but their logs, so the root file system
    /// can be read-only.
    pub read_only: bool,
    /// Capabilities dropped; the programs need none (unprivileged port).
    pub cap_drop: Vec<String>,
    /// Security options, `no-new-privileges` in particular.
    pub security_opt: Vec<String>,
    /// Resolver options: try a bare service name before any search domain
    /// (`ndots:0`) and give up on a dead upstream resolver quickly, so a
    /// name lookup never stalls a client for long.
    pub dns_opt: Vec<String>,
}

/// A bridge network with a fixed subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Network name inside the file.
    pub name: String,
    /// Subnet in CIDR notation.
    pub subnet: String,
}

impl ComposeFile {
    /// The file for `options`: the server plus clients `1..=options.clients`.
    pub fn new(options: &Options) -> Self {
        let prefix = &options.container_prefix;
        let mut services = vec![Service::hardened(
            SERVER,
            format!("{prefix}{SERVER}"),
            "server:latest",
            "./server/config.ini:/config.ini:ro",
        )];
        services.extend((1..=options.clients).map(|id| {
            let name = format!("client{id}");
            let mut client = Service::hardened(
                &name,
                format!("{prefix}{name}"),
                "client:latest",
                "./client/config.yaml:/config.yaml:ro",
            );
            client
                .environment
                .push(("CLI_ID".to_owned(), id.to_string()));
            client.depends_on.push(SERVER.to_owned());
            client
        }));
        ComposeFile {
            services,
            networks: vec![Network {
                name: NETWORK.to_owned(),
                subnet: options.subnet.clone(),
            }],
        }
    }

    /// The YAML text, with a header saying where it comes from.
    pub fn to_yaml(&self) -> String {
        let clients = self.services.len().saturating_sub(1);
        let what = match clients {
            1 => "the server and 1 client".to_owned(),
            n => format!("the server and {n} clients"),
        };
        let header = [
            format!("Generated by compose-gen: {what}."),
            "Regenerate with ./generar-compose.sh <output-file> <client-count> instead of editing."
                .to_owned(),
        ];
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        yaml::document(&header, &self.to_node())
    }

    /// The file as a YAML tree.
    pub fn to_node(&self) -> Node {
        let services = self
            .services
            .iter()
            .map(|service| (service.name.clone(), service.to_node()))
            .collect();
        let networks = self
            .networks
            .iter()
            .map(|network| (network.name.clone(), network.to_node()))
            .collect();
        Node::Map(vec![
            ("services".to_owned(), Node::Map(services)),
            ("networks".to_owned(), Node::Map(networks)),
        ])
    }
}

impl Service {
    /// A service on [`NETWORK`] with the project's hardening and one
    /// read-only config mount.
    fn hardened(name: &str, container_name: String, image: &str, config_volume: &str) -> Self {
        Service {
            name: name.to_owned(),
            container_name,
            image: image.to_owned(),
            environment: Vec::new(),
            volumes: vec![config_volume.to_owned()],
            networks: vec![NETWORK.to_owned()],
            depends_on: Vec::new(),
            stop_grace_period: STOP_GRACE_PERIOD.to_owned(),
            read_only: true,
            cap_drop: vec!["ALL".to_owned()],
            security_opt: vec!["no-new-privileges:true".to_owned()],
            dns_opt: vec![
                "ndots:0".to_owned(),
                "timeout:1".to_owned(),
                "attempts:2".to_owned(),
            ],
        }
    }

    fn to_node(&self) -> Node {
        let mut entries = vec![
            ("container_name", Node::str(&self.container_name)),
            ("image", Node::str(&self.image)),
        ];
        if !self.environment.is_empty() {
            let pairs = self.environment.iter().map(|(k, v)| format!("{k}={v}"));
            entries.push(("environment", Node::strs(pairs)));
        }
        entries.push(("volumes", Node::strs(&self.volumes)));
        entries.push(("networks", Node::strs(&self.networks)));
        if !self.depends_on.is_empty() {
            entries.push(("depends_on", Node::strs(&self.depends_on)));
        }
        entries.extend([
            ("stop_grace_period", Node::str(&self.stop_grace_period)),
            ("read_only", Node::Bool(self.read_only)),
            ("cap_drop", Node::strs(&self.cap_drop)),
            ("security_opt", Node::strs(&self.security_opt)),
            ("dns_opt", Node::strs(&self.dns_opt)),
        ]);
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

impl Network {
    fn to_node(&self) -> Node {
        let subnet = Node::Map(vec![("subnet".to_owned(), Node::str(&self.subnet))]);
        let ipam = Node::Map(vec![
            ("driver".to_owned(), Node::str("default")),
            ("config".to_owned(), Node::Seq(vec![subnet])),
        ]);
        Node::Map(vec![("ipam".to_owned(), ipam)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARDENING: &str = "    stop_grace_period: 2s
    read_only: true
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    dns_opt:
      - ndots:0
      - timeout:1
      - attempts:2
";

    const NETWORKS: &str = "networks:
  testing_net:
    ipam:
      driver: default
      config:
        - subnet: 172.25.125.0/24
";

    #[test]
    fn server_only() {
        let yaml = ComposeFile::new(&Options::new(0)).to_yaml();
        let expected = format!(
            "\
# Generated by compose-gen: the server and 0 clients.
# Regenerate with ./generar-compose.sh <output-file> <client-count> instead of editing.
services:
  server:
    container_name: server
    image: server:latest
    volumes:
      - ./server/config.ini:/config.ini:ro
    networks:
      - testing_net
{HARDENING}
{NETWORKS}"
        );
        assert_eq!(yaml, expected);
    }

    #[test]
    fn two_clients() {
        let yaml = ComposeFile::new(&Options::new(2)).to_yaml();
        let client = |id: u32| {
            format!(
                "  client{id}:
    container_name: client{id}
    image: client:latest
    environment:
      - CLI_ID={id}
    volumes:
      - ./client/config.yaml:/config.yaml:ro
    networks:
      - testing_net
    depends_on:
      - server
{HARDENING}"
            )
        };
        let expected = format!(
            "\
# Generated by compose-gen: the server and 2 clients.
# Regenerate with ./generar-compose.sh <output-file> <client-count> instead of editing.
services:
  server:
    container_name: server
    image: server:latest
    volumes:
      - ./server/config.ini:/config.ini:ro
    networks:
      - testing_net
{HARDENING}{}{}
{NETWORKS}",
            client(1),
            client(2)
        );
        assert_eq!(yaml, expected);
    }

    #[test]
    fn one_client_header_is_singular() {
        let yaml = ComposeFile::new(&Options::new(1)).to_yaml();
        assert!(yaml.starts_with("# Generated by compose-gen: the server and 1 client.\n"));
    }

    #[test]
    fn services_in_order_and_only_cli_id_in_environment() {
        let file = ComposeFile::new(&Options::new(12));
        let names: Vec<&str> = file.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[0], "server");
        assert_eq!(names[12], "client12");
        assert_eq!(names.len(), 13);
        for (id, client) in file.services[1..].iter().enumerate() {
            assert_eq!(
                client.environment,
                vec![("CLI_ID".to_owned(), (id + 1).to_string())]
            );
            assert_eq!(client.container_name, client.name);
        }
        assert!(file.services[0].environment.is_empty());
    }

    #[test]
    fn prefix_and_subnet_options() {
        let options = Options {
            clients: 1,
            container_prefix: "e2e-".to_owned(),
            subnet: "172.25.126.0/24".to_owned(),
        };
        let yaml = ComposeFile::new(&options).to_yaml();
        assert!(yaml.contains("  server:\n    container_name: e2e-server\n"));
        assert!(yaml.contains("  client1:\n    container_name: e2e-client1\n"));
        assert!(yaml.contains("    depends_on:\n      - server\n"));
        assert!(yaml.contains("        - subnet: 172.25.126.0/24\n"));
    }
}
