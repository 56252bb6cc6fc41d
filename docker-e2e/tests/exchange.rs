//! Clients and server exchanging messages in containers, configured only by
//! the mounted config files.

use std::time::Duration;

use docker_e2e::*;

#[test]
fn five_clients_each_get_five_echoes_and_exit_0() {
    require_images();
    let project = Project::new("five", 5);
    project.write_client_config(&client_yaml(5, "200ms", "INFO"));
    project.up();

    let server = project.container("server");
    for id in 1..=5 {
        wait_for_exit(
            &project.container(&format!("client{id}")),
            Duration::from_secs(60),
        );
    }

    for id in 1..=5 {
        let client = project.container(&format!("client{id}"));
        let text = logs(&client);
        assert_log_format(&client, &text);
        assert_eq!(exit_code(&client), 0, "{client} logs:\n{text}");
        let config = format!(
            "action: config | result: success | client_id: {id} | server_address: server:12345 \
             | loop_amount: 5 | loop_period: 200ms | log_level: INFO"
        );
        assert!(text.contains(&config), "{client} logs:\n{text}");
        let echoes: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("action: receive_message | result: success"))
            .collect();
        assert_eq!(echoes.len(), 5, "{client} logs:\n{text}");
        for (k, line) in echoes.iter().enumerate() {
            let expected = format!(
                "action: receive_message | result: success | client_id: {id} \
                 | msg: [CLIENT {id}] Message N°{}",
                k + 1
            );
            assert!(line.ends_with(&expected), "{line:?} is not {expected:?}");
        }
        let finished = format!("action: loop_finished | result: success | client_id: {id}");
        assert!(text.lines().any(|l| l.ends_with(&finished)), "{text}");
        assert!(!text.contains("result: fail"), "{client} logs:\n{text}");
    }

    assert_eq!(status(&server), "running", "the server keeps serving");
    let text = logs(&server);
    assert_log_format(&server, &text);
    assert!(!text.contains("result: fail"), "server logs:\n{text}");
    assert!(!text.contains("action: exit"), "server logs:\n{text}");
    for id in 1..=5 {
        for k in 1..=5 {
            let msg = format!("| msg: [CLIENT {id}] Message N°{k}");
            let echoed = text
                .lines()
                .filter(|l| l.contains("action: receive_message | result: success"))
                .filter(|l| l.ends_with(&msg))
                .count();
            assert_eq!(echoed, 1, "server echoes of {msg:?}:\n{text}");
        }
    }
}

#[test]
fn containers_run_unprivileged_with_nothing_published() {
    require_images();
    let project = Project::new("hardened", 1);
    project.up();
    for service in ["server", "client1"] {
        let container = project.container(service);
        assert_eq!(inspect(&container, "{{.Config.User}}"), "65534:65534");
        assert_eq!(
            inspect(&container, "{{.HostConfig.ReadonlyRootfs}}"),
            "true"
        );
        assert_eq!(inspect(&container, "{{.HostConfig.CapDrop}}"), "[ALL]");
        assert_eq!(
            inspect(&container, "{{.HostConfig.SecurityOpt}}"),
            "[no-new-privileges:true]"
        );
        assert_eq!(
            inspect(&container, "{{.HostConfig.DnsOptions}}"),
            "[ndots:0 timeout:1 attempts:2]"
        );
        // What a bare `docker stop` allows before SIGKILL.
        assert_eq!(inspect(&container, "{{.Config.StopTimeout}}"), "2");
        assert_eq!(
            docker(&["port", &container]).trim(),
            "",
            "{container} publishes a port"
        );
    }
}

#[test]
fn config_changes_take_effect_on_the_next_up_without_a_rebuild() {
    require_images();
    let image_ids = || {
        [
            docker(&["image", "inspect", "-f", "{{.Id}}", "server:latest"]),
            docker(&["image", "inspect", "-f", "{{.Id}}", "client:latest"]),
        ]
    };
    let images_before = image_ids();
    let project = Project::new("reconfig", 1);
    let (server, client) = (project.container("server"), project.container("client1"));

    // First run: the repository's committed config files, as copied.
    project.up();
    wait_started(&server);
    wait_started(&client);
    let server_config = "action: config | result: success | port: 12345 | listen_backlog: 5 \
                         | logging_level: INFO";
    let client_config = "action: config | result: success | client_id: 1 \
                         | server_address: server:12345 | loop_amount: 5 | loop_period: 5s \
                         | log_level: INFO";
    assert_logged_once(&server, server_config);
    assert_logged_once(&client, client_config);
    project.stop(1);
    project.down();

    // Second run: new values in the files, same images.
    project.write_server_config(&server_ini(10, "DEBUG"));
    project.write_client_config(&client_yaml(3, "250ms", "DEBUG"));
    project.up();
    wait_for_exit(&client, Duration::from_secs(60));
    let server_config = "action: config | result: success | port: 12345 | listen_backlog: 10 \
                         | logging_level: DEBUG";
    let client_config = "action: config | result: success | client_id: 1 \
                         | server_address: server:12345 | loop_amount: 3 | loop_period: 250ms \
                         | log_level: DEBUG";
    assert_logged_once(&server, server_config);
    assert_logged_once(&client, client_config);
    let echoes = lines_with(&client, &["action: receive_message | result: success"]);
    assert_eq!(echoes.len(), 3, "{}", logs(&client));
    assert_eq!(exit_code(&client), 0, "{}", logs(&client));
    assert_eq!(image_ids(), images_before, "no image was rebuilt");
}
