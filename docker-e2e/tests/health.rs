//! The server image's health check (`server --probe`, no shell needed):
//! `healthy` soon after start, `unhealthy` once the server stops answering,
//! and nothing of it in the server's log at INFO.

use std::time::Duration;

use docker_e2e::*;

fn health(container: &str) -> String {
    inspect(container, "{{.State.Health.Status}}")
}

#[test]
fn the_server_turns_healthy_and_then_unhealthy_when_it_stops_answering() {
    require_images();
    let name = "tp0e2e-health-server";
    let _ = run("docker", &["rm", "-f", name]);
    let id = docker(&["run", "-d", "--name", name, "server:latest"]);
    let _cleanup = TempContainer(id.trim().to_owned());

    // Start period 5 s, interval 3 s: healthy well within 15 s.
    wait_for("the server to be healthy", Duration::from_secs(15), || {
        health(name) == "healthy"
    });
    // Several probes have run by now; none of them is in the INFO log.
    let text = logs(name);
    assert_log_format(name, &text);
    assert!(!text.contains("127.0.0.2"), "probe lines at INFO:\n{text}");
    assert!(!text.contains("result: fail"), "{text}");

    // A server that no longer answers (stopped, its listener still open in
    // the kernel) is unhealthy after two failed probes.
    docker(&["kill", "-s", "STOP", name]);
    wait_for(
        "the server to be unhealthy",
        Duration::from_secs(20),
        || health(name) == "unhealthy",
    );
    docker(&["kill", "-s", "CONT", name]);
    docker(&["stop", "-t", "1", name]);
    assert_eq!(exit_code(name), 0, "{}", logs(name));
}
