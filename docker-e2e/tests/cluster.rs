//! The Swarm stack across the nodes of a real multi-node swarm: Docker
//! engines in containers on this engine, made by `make cluster-up` and
//! removed by `make cluster-down` (on drop, even when a test fails). Each
//! test has a cluster of its own (`tp0e2ecluster<tag>`, about 10 s to make):
//! the servers on the workers, the clients on the manager, and placement,
//! rolling updates, a drain, a node's power loss and a manager quorum that
//! loses its leader, all while clients run.

use std::time::{Duration, Instant};

use docker_e2e::*;

const FAIL: &str = "result: fail";
const ECHO: &str = "action: receive_message | result: success";
const ON_WORKERS: &str = "node.role == worker";
const ON_MANAGER: &str = "node.role == manager";

/// A client that keeps sending, every 100 ms, until it is stopped.
fn endless_clients() -> String {
    client_yaml(100_000, "100ms", "INFO")
}

/// Lines of `text` containing `part`.
fn count(text: &str, part: &str) -> usize {
    text.lines().filter(|l| l.contains(part)).count()
}

/// Echoes so far of each running client, by slot.
fn echo_counts(cluster: &Cluster, stack: &Stack) -> Vec<(u32, usize)> {
    stack
        .running("client")
        .iter()
        .map(|t| (t.slot, count(&cluster.task_logs(t), ECHO)))
        .collect()
}

/// Waits until every client of `before` that still runs has `more` echoes
/// beyond what it had then.
fn wait_more_echoes(cluster: &Cluster, stack: &Stack, before: &[(u32, usize)], more: usize) {
    wait_for(
        "more echoes for every client",
        Duration::from_secs(60),
        || {
            let now = echo_counts(cluster, stack);
            !now.is_empty()
                && now.iter().all(|(slot, n)| {
                    let had = before.iter().find(|b| b.0 == *slot).map_or(0, |b| b.1);
                    *n >= had + more
                })
        },
    );
}

/// `servers` server replicas on the workers and 2 endless clients on the
/// manager, once each client has had 3 echoes.
fn stack_under_load(cluster: &Cluster, tag: &str, servers: u32) -> Stack {
    let stack = Stack::deploy_at(
        Some(cluster.host()),
        &format!("tp0e2ecluster{tag}"),
        servers,
        (Some(ON_WORKERS), Some(ON_MANAGER)),
    );
    stack.start_clients(2, &endless_clients());
    wait_for("2 running clients", Duration::from_secs(30), || {
        stack.running("client").len() == 2
    });
    wait_more_echoes(cluster, &stack, &[], 3);
    stack
}

/// What the clients did, once stopped with SIGTERM: (echoes, failed
/// exchanges, clients that exited 0).
fn stop_clients(cluster: &Cluster, stack: &Stack) -> (usize, usize, usize) {
    for task in stack.running("client") {
        stack.docker(&["kill", "--signal", "TERM", &task.container]);
    }
    stack.wait_all_exited("client", Duration::from_secs(30));
    let (mut echoed, mut failed, mut clean) = (0, 0, 0);
    for task in stack.tasks("client") {
        let text = cluster.task_logs(&task);
        assert_log_format(&task.container, &text);
        echoed += count(&text, ECHO);
        failed += count(&text, FAIL);
        if task.exit_code == Some(0) {
            assert!(text.contains("action: exit | result: success"), "{text}");
            clean += 1;
        } else {
            eprintln!("client {} exited {:?}:\n{text}", task.slot, task.exit_code);
        }
    }
    (echoed, failed, clean)
}

/// Every server task that has exited (those whose node is still up): exit
/// 0 after its shutdown lines, no failed exchange in any log. Returns how
/// many exited.
fn check_replaced_servers(cluster: &Cluster, stack: &Stack, dead_node: Option<&str>) -> usize {
    let mut replaced = 0;
    for task in stack.tasks("server") {
        if Some(task.node.as_str()) == dead_node {
            continue;
        }
        if check_server_task(&task, &cluster.task_logs(&task)) {
            replaced += 1;
        }
    }
    replaced
}

/// A rolling update of the server (what `make swarm-roll` runs); returns
/// how long it took to converge.
fn roll_server(stack: &Stack) -> Duration {
    let started = Instant::now();
    stack.docker(&[
        "service",
        "update",
        "--force",
        "--detach=false",
        "--quiet",
        &stack.service("server"),
    ]);
    started.elapsed()
}

/// The host names of the nodes that run the server's tasks.
fn server_nodes(cluster: &Cluster, stack: &Stack) -> Vec<String> {
    let mut nodes: Vec<String> = stack
        .running("server")
        .iter()
        .map(|t| cluster.hostname(&t.node))
        .collect();
    nodes.sort();
    nodes
}

/// `make swarm-down` of the make test's stack, on drop (even on failure).
struct SwarmDown<'a>(&'a Cluster, Vec<String>);

impl Drop for SwarmDown<'_> {
    fn drop(&mut self) {
        let mut args = vec!["swarm-down"];
        args.extend(self.1.iter().map(String::as_str));
        let _ = self.0.make(Some(self.0.host()), &args, COMMAND_TIMEOUT);
    }
}

#[test]
fn cluster_make_targets_spread_4_servers_over_2_workers_and_every_exchange_succeeds() {
    let cluster = Cluster::up("spread", 3, 1);
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let vars = vec![
        "STACK=tp0e2eclusterspread".to_owned(),
        format!("SWARM_DIR={}", dir.path().display()),
    ];
    let make = |target: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![target];
        args.extend(vars.iter().map(String::as_str));
        args.extend(extra);
        let out = cluster.make(Some(cluster.host()), &args, COMMAND_TIMEOUT);
        let text = printed(&out);
        assert!(out.status.success(), "make {args:?}:\n{text}");
        text
    };
    let _down = SwarmDown(&cluster, vars.clone());

    // What a user runs, with the client's committed config (5 messages).
    let up = make(
        "swarm-up",
        &[
            "-o",
            "docker-image",
            "SERVERS=4",
            "CLIENTS=3",
            &format!("SERVER_CONSTRAINT={ON_WORKERS}"),
            &format!("CLIENT_CONSTRAINT={ON_MANAGER}"),
        ],
    );
    assert!(
        up.contains("swarm-up: using the swarm this engine is in")
            && up.contains("stack tp0e2eclusterspread deployed: 4 server replica(s) running"),
        "{up}"
    );
    let stack = "tp0e2eclusterspread";
    let workers = [cluster.node(2), cluster.node(3)];
    let servers = service_tasks(Some(cluster.host()), &format!("{stack}_server"));
    let on: Vec<String> = servers.iter().map(|t| cluster.hostname(&t.node)).collect();
    for worker in &workers {
        assert_eq!(
            on.iter().filter(|n| *n == worker).count(),
            2,
            "spread: {on:?}"
        );
    }

    let clients = || service_tasks(Some(cluster.host()), &format!("{stack}_client"));
    wait_for("3 finished clients", Duration::from_secs(90), || {
        let tasks = clients();
        tasks.len() == 3 && tasks.iter().all(Task::is_final)
    });
    for task in clients() {
        assert_eq!(cluster.hostname(&task.node), cluster.node(1), "{task:?}");
        let text = cluster.task_logs(&task);
        assert_log_format(&task.container, &text);
        assert_eq!(task.exit_code, Some(0), "client {}:\n{text}", task.slot);
        assert!(!text.contains(FAIL), "client {}:\n{text}", task.slot);
        assert_eq!(count(&text, ECHO), 5, "client {}:\n{text}", task.slot);
    }
    let mut per_worker = [0, 0];
    for task in &servers {
        let text = cluster.task_logs(task);
        assert!(!text.contains(FAIL), "server task {}:\n{text}", task.id);
        let k = workers
            .iter()
            .position(|w| *w == cluster.hostname(&task.node))
            .expect("a worker");
        per_worker[k] += count(&text, ECHO);
    }
    assert_eq!(per_worker.iter().sum::<usize>(), 15, "{per_worker:?}");
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "echoes per worker: {per_worker:?}"
    );
    eprintln!("15 exchanges, echoes per worker: {per_worker:?}");

    make("swarm-roll", &[]);
    let down = make("swarm-down", &[]);
    assert!(
        down.contains("swarm-down: stack tp0e2eclusterspread is gone"),
        "{down}"
    );
}

#[test]
fn cluster_rolling_update_across_nodes_under_load_fails_no_exchange() {
    let cluster = Cluster::up("roll", 3, 1);
    let stack = stack_under_load(&cluster, "roll", 4);
    assert_eq!(
        server_nodes(&cluster, &stack),
        [
            cluster.node(2),
            cluster.node(2),
            cluster.node(3),
            cluster.node(3)
        ]
    );

    let before = echo_counts(&cluster, &stack);
    let rolled_in = roll_server(&stack);
    eprintln!("rolling update of 4 replicas on 2 workers converged in {rolled_in:?}");
    wait_more_echoes(&cluster, &stack, &echo_counts(&cluster, &stack), 3);
    let (echoed, failed, clean) = stop_clients(&cluster, &stack);
    assert_eq!((failed, clean), (0, 2), "{echoed} echoes");
    assert!(echoed > before.iter().map(|b| b.1).sum::<usize>() + 10);
    assert_eq!(stack.running("server").len(), 4);
    assert_eq!(check_replaced_servers(&cluster, &stack, None), 4);
    eprintln!("{echoed} echoes, none failed, across the update");
}

#[test]
fn cluster_node_drain_under_load_fails_no_exchange_and_the_tasks_move() {
    let cluster = Cluster::up("drain", 3, 1);
    let stack = stack_under_load(&cluster, "drain", 4);
    let drained = stack.running("server")[0].node.clone();
    let drained_name = cluster.hostname(&drained);

    let before = echo_counts(&cluster, &stack);
    let started = Instant::now();
    cluster.docker(&["node", "update", "--availability", "drain", &drained]);
    wait_for(
        "4 server tasks off the drained node",
        Duration::from_secs(60),
        || {
            let tasks = stack.tasks("server");
            let elsewhere = tasks
                .iter()
                .filter(|t| t.node != drained && t.desired == "running" && t.state == "running")
                .count();
            elsewhere == 4
                && tasks
                    .iter()
                    .filter(|t| t.node == drained)
                    .all(Task::is_final)
        },
    );
    eprintln!(
        "drain of {drained_name}: the server converged on the other worker in {:?}",
        started.elapsed()
    );
    wait_more_echoes(&cluster, &stack, &before, 5);
    let (echoed, failed, clean) = stop_clients(&cluster, &stack);
    assert_eq!((failed, clean), (0, 2), "{echoed} echoes");
    let on = server_nodes(&cluster, &stack);
    assert!(on.iter().all(|n| *n != drained_name), "{on:?}");
    assert_eq!(check_replaced_servers(&cluster, &stack, None), 2);
    eprintln!("{echoed} echoes, none failed, across the drain");
}

#[test]
fn cluster_node_failure_under_load_loses_only_the_exchanges_in_flight_on_it() {
    let cluster = Cluster::up("fail", 3, 1);
    let stack = stack_under_load(&cluster, "fail", 4);
    let dead = stack.running("server")[0].node.clone();
    let dead_name = cluster.hostname(&dead);

    // A power loss: the node's container killed, its engine and tasks with it.
    let before = echo_counts(&cluster, &stack);
    let started = Instant::now();
    docker_at(None, &["kill", "--signal", "KILL", &dead_name]);
    wait_for("the node to be down", Duration::from_secs(60), || {
        cluster
            .docker(&["node", "inspect", "-f", "{{.Status.State}}", &dead])
            .trim()
            == "down"
    });
    let down_after = started.elapsed();
    wait_for(
        "4 server tasks on the surviving nodes",
        Duration::from_secs(90),
        || {
            stack
                .running("server")
                .iter()
                .filter(|t| t.node != dead)
                .count()
                == 4
        },
    );
    let converged = started.elapsed();
    eprintln!(
        "power loss of {dead_name}: marked down after {down_after:?}, \
         4 replicas running again after {converged:?}"
    );
    assert!(converged < Duration::from_secs(60), "{converged:?}");

    // The clients that had no exchange in flight on the dead node go on.
    wait_more_echoes(&cluster, &stack, &before, 5);
    let (echoed, failed, clean) = stop_clients(&cluster, &stack);
    eprintln!(
        "{echoed} echoes, {failed} exchange(s) lost with the node; \
         {clean} of 2 clients ran on to a clean exit"
    );
    // A client has at most one exchange in flight; the one that loses it
    // ends its run (exit 1), as it does when any answer is lost.
    assert!(failed <= 2, "{failed} failed exchanges");
    assert_eq!(clean + failed, 2, "{failed} lost, {clean} clean");
    check_replaced_servers(&cluster, &stack, Some(&dead));
}

#[test]
fn cluster_three_managers_elect_a_new_leader_and_a_rolling_update_completes() {
    let cluster = Cluster::up("quorum", 3, 3);
    let leader_of = |host: &str| {
        docker_at(
            Some(host),
            &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
        )
        .lines()
        .find_map(|l| l.strip_suffix(" Leader").map(str::to_owned))
    };
    let leader = leader_of(cluster.host()).expect("a leader");
    // Talk to the swarm through a manager that stays up.
    let other = (1..=3)
        .find(|&n| cluster.node(n) != leader)
        .expect("another manager");
    let host = cluster.manager_host(other);
    let stack = Stack::deploy_at(Some(&host), "tp0e2eclusterquorum", 3, (None, None));

    let started = Instant::now();
    docker_at(None, &["kill", "--signal", "KILL", &leader]);
    let mut new_leader = None;
    wait_for("a new leader", Duration::from_secs(60), || {
        let out = run_docker_at(
            Some(&host),
            &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
        );
        new_leader = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_suffix(" Leader").map(str::to_owned))
            .filter(|l| *l != leader);
        new_leader.is_some()
    });
    eprintln!(
        "{leader} lost: {} elected leader after {:?}",
        new_leader.as_deref().unwrap_or("?"),
        started.elapsed()
    );

    let rolled_in = roll_server(&stack);
    eprintln!("rolling update with 2 of 3 managers converged in {rolled_in:?}");
    let running = stack.running("server");
    assert_eq!(running.len(), 3, "{running:?}");
    let dead = docker_at(Some(&host), &["node", "inspect", "-f", "{{.ID}}", &leader]);
    assert!(running.iter().all(|t| t.node != dead.trim()), "{running:?}");
}
