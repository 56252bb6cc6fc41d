//! `SIGTERM` from Docker: every container closes its sockets, logs it and
//! exits 0 within the one second `make docker-compose-down` allows.

use std::process::Command;
use std::time::Duration;

use docker_e2e::*;

/// Long enough that the clients are mid-loop whenever they are stopped.
fn long_running_clients(project: &Project, clients: u32) {
    project.write_client_config(&client_yaml(500, "150ms", "INFO"));
    project.up();
    for id in 1..=clients {
        wait_for_lines(
            &project.container(&format!("client{id}")),
            &["action: receive_message | result: success"],
            1,
            Duration::from_secs(60),
        );
    }
}

fn assert_clean_exit(container: &str) {
    let text = logs(container);
    assert_eq!(status(container), "exited", "{container}:\n{text}");
    assert_eq!(
        exit_code(container),
        0,
        "{container} (137 = killed when the grace ran out):\n{text}"
    );
    assert_log_format(container, &text);
    let shutdown: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("action: shutdown | result: "))
        .collect();
    assert_eq!(shutdown.len(), 2, "{container}:\n{text}");
    assert!(shutdown[0].contains("action: shutdown | result: in_progress"));
    assert!(shutdown[1].contains("action: shutdown | result: success"));
    assert!(!text.contains("result: fail"), "{container}:\n{text}");
}

fn assert_client_exit_line(container: &str, id: u32) {
    let exit = format!("action: exit | result: success | client_id: {id}");
    assert_eq!(
        lines_with(container, &[&exit]).len(),
        1,
        "{}",
        logs(container)
    );
}

#[test]
fn compose_stop_with_one_second_grace_exits_everyone_0() {
    require_images();
    let project = Project::new("stopall", 3);
    long_running_clients(&project, 3);
    project.stop(1);
    // Inspected before `down` removes the containers.
    assert_clean_exit(&project.container("server"));
    for id in 1..=3 {
        let client = project.container(&format!("client{id}"));
        assert_clean_exit(&client);
        assert_client_exit_line(&client, id);
        let sent = lines_with(&client, &["action: receive_message | result: success"]).len();
        assert!(
            sent < 500,
            "{client} finished before the stop: {sent} echoes"
        );
    }
    project.down();
}

#[test]
fn docker_stop_of_the_server_alone() {
    require_images();
    let project = Project::new("stopserver", 2);
    long_running_clients(&project, 2);
    let server = project.container("server");
    docker(&["stop", "-t", "1", &server]);
    assert_clean_exit(&server);
}

#[test]
fn docker_stop_of_one_client_alone() {
    require_images();
    let project = Project::new("stopclient", 2);
    long_running_clients(&project, 2);
    let client1 = project.container("client1");
    docker(&["stop", "-t", "1", &client1]);
    assert_clean_exit(&client1);
    assert_client_exit_line(&client1, 1);
    assert_eq!(status(&project.container("client2")), "running");
    assert_eq!(status(&project.container("server")), "running");
    let server_logs = logs(&project.container("server"));
    assert!(!server_logs.contains("action: shutdown"), "{server_logs}");
}

#[test]
fn stop_with_no_clients() {
    require_images();
    let project = Project::new("stopalone", 0);
    project.up();
    let server = project.container("server");
    wait_started(&server);
    project.stop(1);
    assert_clean_exit(&server);
}

#[test]
fn make_docker_compose_down_removes_everything() {
    require_images();
    let project = Project::new("makedown", 1);
    long_running_clients(&project, 1);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(repo_root())
        .arg("docker-compose-down")
        .arg(format!("PROJECT={}", project.name()))
        .arg(format!("COMPOSE_YAML={}", project.compose_file().display()));
    let out = run_command(make);
    assert!(out.status.success(), "{out:?}");
    for service in ["server", "client1"] {
        let name = project.container(service);
        let gone = run("docker", &["inspect", &name]);
        assert!(!gone.status.success(), "{name} is still there");
    }
    let network = run("docker", &["network", "inspect", &project.network()]);
    assert!(
        !network.status.success(),
        "{} is still there",
        project.network()
    );
}

/// `docker stop -t 1` issued the moment the container has started: the
/// program may still be in its first instructions, and must catch SIGTERM
/// there too (as PID 1 an uncaught SIGTERM is ignored, and the stop would end
/// in SIGKILL, 137).
#[test]
fn docker_stop_right_after_start_exits_0() {
    require_images();
    for image in ["server:latest", "client:latest"] {
        for round in 0..5 {
            let name = format!(
                "tp0e2e-earlystop-{}-{round}",
                image.trim_end_matches(":latest")
            );
            let _ = run("docker", &["rm", "-f", &name]);
            let id = docker(&["run", "-d", "--name", &name, image]);
            let _cleanup = TempContainer(id.trim().to_owned());
            docker(&["stop", "-t", "1", &name]);
            let code = exit_code(&name);
            assert_eq!(
                code,
                0,
                "{name}: exit {code} (137 = SIGKILL after the grace):\n{}",
                logs(&name)
            );
        }
    }
}
