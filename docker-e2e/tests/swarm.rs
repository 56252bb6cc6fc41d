//! The Swarm stack on a real single-node swarm: server replicas reached by
//! DNS round robin, a rolling update, scaling and `docker stack rm` while
//! clients run, and the make targets. Each test skips (passing, with a
//! printed reason) where the engine cannot run a swarm; each uses its own
//! stack `tp0e2eswarm…`, and makes and leaves a swarm only where the engine
//! was in none.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use docker_e2e::*;

const FAIL: &str = "result: fail";

/// A client that keeps sending until it is stopped.
fn endless_clients() -> String {
    client_yaml(100_000, "100ms", "INFO")
}

/// A stack `tag` with `servers` server replicas and 2 endless clients, once
/// each client has had 3 echoes: a stack under load.
fn stack_under_load(swarm: &Swarm, tag: &str, servers: u32) -> Stack {
    let stack = Stack::deploy(swarm, tag, servers);
    stack.start_clients(2, &endless_clients());
    wait_for("2 running clients", Duration::from_secs(30), || {
        stack.running("client").len() == 2
    });
    wait_more_echoes(&stack, &echo_counts(&stack), 3);
    stack
}

/// Waits until every running client task has logged `more` echoes beyond
/// what it had in `before` (by slot).
fn wait_more_echoes(stack: &Stack, before: &[(u32, usize)], more: usize) {
    wait_for(
        "more echoes for every client",
        Duration::from_secs(60),
        || {
            let tasks = stack.running("client");
            tasks.len() == before.len()
                && tasks.iter().all(|t| {
                    let had = before.iter().find(|(s, _)| *s == t.slot).map_or(0, |b| b.1);
                    echoes(t) >= had + more
                })
        },
    );
}

fn echo_counts(stack: &Stack) -> Vec<(u32, usize)> {
    stack
        .running("client")
        .iter()
        .map(|t| (t.slot, echoes(t)))
        .collect()
}

/// Stops the endless clients with SIGTERM and checks each one: exit 0, its
/// echoes numbered 1..n without a gap, no failed exchange. Returns the echoes.
fn stop_and_check_clients(stack: &Stack, clients: u32) -> usize {
    let running = stack.running("client");
    assert_eq!(running.len(), clients as usize, "{running:?}");
    for task in &running {
        docker(&["kill", "--signal", "TERM", &task.container]);
    }
    stack.wait_all_exited("client", Duration::from_secs(30));
    let mut total = 0;
    for task in stack.tasks("client") {
        let text = logs(&task.container);
        assert_log_format(&task.container, &text);
        assert_eq!(task.exit_code, Some(0), "client {}:\n{text}", task.slot);
        assert!(!text.contains(FAIL), "client {}:\n{text}", task.slot);
        let echoed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("action: receive_message | result: success"))
            .collect();
        for (k, line) in echoed.iter().enumerate() {
            let expected = format!("| msg: [CLIENT {}] Message N°{}", task.slot, k + 1);
            assert!(line.ends_with(&expected), "{line:?} is not {expected:?}");
        }
        assert!(text.contains("action: exit | result: success"), "{text}");
        total += echoed.len();
    }
    total
}

/// Every task of the server, the replaced ones included: no failed exchange
/// in any log; every one that exited did so with status 0 after a clean
/// shutdown. Returns how many were replaced.
fn check_servers(stack: &Stack) -> usize {
    stack.wait_running(
        "server",
        stack.running("server").len() as u32,
        Duration::from_secs(60),
    );
    let mut replaced = 0;
    for task in stack.tasks("server") {
        if check_server_task(&task, &logs(&task.container)) {
            replaced += 1;
        }
    }
    replaced
}

#[test]
fn swarm_clients_spread_over_three_server_replicas_and_every_exchange_succeeds() {
    let Some(swarm) = Swarm::join_or_skip() else {
        return;
    };
    let stack = Stack::deploy(&swarm, "spread", 3);
    stack.start_clients(3, &client_yaml(10, "50ms", "INFO"));
    wait_for("3 client tasks", Duration::from_secs(30), || {
        stack.tasks("client").len() == 3
    });
    stack.wait_all_exited("client", Duration::from_secs(90));

    let tasks = stack.tasks("client");
    let mut slots: Vec<u32> = tasks.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, [1, 2, 3]);
    for task in &tasks {
        let text = logs(&task.container);
        assert_log_format(&task.container, &text);
        assert_eq!(task.exit_code, Some(0), "client {}:\n{text}", task.slot);
        assert_eq!(task.state, "complete", "{task:?}");
        assert!(!text.contains(FAIL), "client {}:\n{text}", task.slot);
        assert_eq!(echoes(task), 10, "client {}:\n{text}", task.slot);
        let done = format!(
            "action: loop_finished | result: success | client_id: {}",
            task.slot
        );
        assert!(text.contains(&done), "client {}:\n{text}", task.slot);
    }

    let servers = stack.running("server");
    assert_eq!(servers.len(), 3);
    let served: Vec<usize> = servers
        .iter()
        .map(|t| {
            let text = logs(&t.container);
            assert_log_format(&t.container, &text);
            assert!(!text.contains(FAIL), "server task {}:\n{text}", t.id);
            lines_with(&t.container, &["action: receive_message | result: success"]).len()
        })
        .collect();
    assert_eq!(
        served.iter().sum::<usize>(),
        30,
        "echoes per replica: {served:?}"
    );
    assert!(
        served.iter().filter(|&&n| n > 0).count() > 1,
        "one replica served everything: {served:?}"
    );
}

#[test]
fn swarm_rolling_update_of_the_server_under_load_fails_no_exchange() {
    let Some(swarm) = Swarm::join_or_skip() else {
        return;
    };
    let stack = stack_under_load(&swarm, "roll", 2);

    let started = Instant::now();
    let before = echo_counts(&stack);
    docker(&[
        "service",
        "update",
        "--force",
        "--detach=false",
        "--quiet",
        &stack.service("server"),
    ]);
    let rolled_in = started.elapsed();
    eprintln!("rolling update of 2 replicas converged in {rolled_in:?}");
    // The clients kept exchanging during the update, and do after it.
    let during = echo_counts(&stack);
    let gained: usize =
        during.iter().map(|d| d.1).sum::<usize>() - before.iter().map(|b| b.1).sum::<usize>();
    assert!(gained >= 10, "only {gained} echoes during the update");
    wait_more_echoes(&stack, &during, 3);

    let echoed = stop_and_check_clients(&stack, 2);
    assert_eq!(stack.running("server").len(), 2);
    let replaced = check_servers(&stack);
    assert_eq!(replaced, 2, "{:?}", stack.tasks("server"));
    eprintln!("{echoed} echoes, none failed, across the update");
}

#[test]
fn swarm_scaling_the_server_3_to_1_to_3_under_load_fails_no_exchange() {
    let Some(swarm) = Swarm::join_or_skip() else {
        return;
    };
    let stack = stack_under_load(&swarm, "scale", 3);

    // Swarm deletes the tasks it scales away, containers and all: their logs
    // are followed from before, their exit codes come from the event log.
    let server = stack.service("server");
    let before_down = stack.running("server");
    let followers: Vec<(Task, LogFollower)> = before_down
        .iter()
        .map(|t| (t.clone(), LogFollower::start(&t.container)))
        .collect();
    let since = unix_now() - 1;
    for replicas in [1, 3] {
        let before = echo_counts(&stack);
        docker(&[
            "service",
            "scale",
            "--detach=false",
            &format!("{server}={replicas}"),
        ]);
        stack.wait_running("server", replicas, Duration::from_secs(60));
        wait_more_echoes(&stack, &before, 5);
    }

    let echoed = stop_and_check_clients(&stack, 2);
    check_servers(&stack);
    let kept: Vec<String> = stack.running("server").into_iter().map(|t| t.id).collect();
    let exits = stack_exit_codes(stack.name(), since);
    let mut removed = 0;
    for (task, follower) in followers {
        if kept.contains(&task.id) {
            continue;
        }
        removed += 1;
        let text = follower.finish(Duration::from_secs(30));
        assert_log_format(&task.id, &text);
        assert!(!text.contains(FAIL), "server task {}:\n{text}", task.id);
        assert!(
            text.contains("action: shutdown | result: success"),
            "server task {}:\n{text}",
            task.id
        );
        let name = format!("{server}.{}.{}", task.slot, task.id);
        assert_exited_0_once(&exits, &name);
    }
    assert_eq!(removed, 2, "scaled away: {before_down:?}, kept: {kept:?}");
    eprintln!("{echoed} echoes, none failed, across 3 -> 1 -> 3 replicas");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

#[test]
fn swarm_stack_rm_while_clients_run_every_task_exits_0_with_its_shutdown_lines() {
    let Some(swarm) = Swarm::join_or_skip() else {
        return;
    };
    let stack = stack_under_load(&swarm, "rm", 2);

    let tasks: Vec<(String, Task)> = ["server", "client"]
        .iter()
        .flat_map(|s| stack.running(s).into_iter().map(|t| (s.to_string(), t)))
        .collect();
    assert_eq!(tasks.len(), 4);
    let followers: Vec<LogFollower> = tasks
        .iter()
        .map(|(_, t)| LogFollower::start(&t.container))
        .collect();
    let since = unix_now() - 1;
    let started = Instant::now();
    docker(&["stack", "rm", stack.name()]);
    let texts: Vec<String> = followers
        .into_iter()
        .map(|f| f.finish(Duration::from_secs(30)))
        .collect();
    let stopped_in = started.elapsed();
    stack.remove();
    eprintln!("stack rm: every container stopped within {stopped_in:?}");

    let exits = stack_exit_codes(stack.name(), since);
    for ((service, task), text) in tasks.iter().zip(&texts) {
        let what = format!("{service} task {}", task.id);
        assert_log_format(&what, text);
        assert!(!text.contains(FAIL), "{what}:\n{text}");
        assert!(
            text.contains("action: shutdown | result: in_progress")
                && text.contains("action: shutdown | result: success"),
            "{what}:\n{text}"
        );
        if service == "client" {
            assert!(
                text.contains("action: exit | result: success"),
                "{what}:\n{text}"
            );
        }
        let name = format!("{}_{service}.{}.{}", stack.name(), task.slot, task.id);
        assert_exited_0_once(&exits, &name);
    }
}

/// `make swarm-down` for the make test's stack, on drop (even on failure).
struct MakeDown(Vec<String>);

impl Drop for MakeDown {
    fn drop(&mut self) {
        let mut args = vec!["swarm-down"];
        args.extend(self.0.iter().map(String::as_str));
        let _ = make_at(None, &args, COMMAND_TIMEOUT);
    }
}

#[test]
fn swarm_make_targets_deploy_roll_scale_and_take_the_stack_down() {
    // Skips where the engine cannot run a swarm; the probe leaves it as it was.
    drop(match Swarm::join_or_skip() {
        Some(swarm) => swarm,
        None => return,
    });
    let state_before = swarm_state();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let vars = vec![
        "STACK=tp0e2eswarmmake".to_owned(),
        format!("SWARM_DIR={}", dir.path().display()),
    ];
    let with = |target: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![target];
        args.extend(vars.iter().map(String::as_str));
        args.extend(extra);
        let out = make_at(None, &args, COMMAND_TIMEOUT);
        let text = printed(&out);
        assert!(out.status.success(), "make {args:?}:\n{text}");
        text
    };
    let _down = MakeDown(vars.clone());

    // The images are built by `make test-docker` before the tests.
    let up = with(
        "swarm-up",
        &["-o", "docker-image", "SERVERS=2", "CLIENTS=1"],
    );
    assert!(
        up.contains("swarm-up: stack tp0e2eswarmmake deployed: 2 server replica(s) running"),
        "{up}"
    );
    let stack_file =
        std::fs::read_to_string(dir.path().join("docker-stack.yaml")).expect("stack file");
    assert!(
        stack_file.contains("    image: server:swarm-"),
        "{stack_file}"
    );
    let replicas = |service: &str| {
        docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.Mode.Replicated.Replicas}}",
            service,
        ])
        .trim()
        .to_owned()
    };
    assert_eq!(replicas("tp0e2eswarmmake_server"), "2");
    assert_eq!(replicas("tp0e2eswarmmake_client"), "1");

    with("swarm-roll", &[]);
    with("swarm-scale", &["SERVERS=3"]);
    assert_eq!(replicas("tp0e2eswarmmake_server"), "3");
    let running = docker(&[
        "service",
        "ps",
        "-q",
        "-f",
        "desired-state=running",
        "tp0e2eswarmmake_server",
    ]);
    assert_eq!(running.lines().count(), 3);

    let down = with("swarm-down", &[]);
    assert!(
        down.contains("swarm-down: stack tp0e2eswarmmake is gone"),
        "{down}"
    );
    let label = "label=com.docker.stack.namespace=tp0e2eswarmmake";
    assert!(docker(&["ps", "-aq", "-f", label]).trim().is_empty());
    // Left only if swarm-up made it; a swarm the engine was in stays.
    assert_eq!(swarm_state(), state_before, "{down}");
    if state_before == "inactive" {
        assert!(down.contains("left the swarm swarm-up made"), "{down}");
    }
}
