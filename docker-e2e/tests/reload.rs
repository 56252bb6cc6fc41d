//! SIGHUP in a container: the mounted `server/config.ini`, rewritten in
//! place, is read again by the running server (`docker kill -s HUP`), while
//! a client's exchanges go on; the server still stops with exit 0.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use docker_e2e::*;

const ECHOED: &str = "action: receive_message | result: success";

#[test]
fn sighup_applies_the_rewritten_mounted_config_and_exchanges_go_on() {
    require_images();
    let project = Project::new("reload", 1);
    // 50 messages 200 ms apart: the client runs across the reload.
    project.write_client_config(&client_yaml(50, "200ms", "INFO"));
    project.up();
    let server = project.container("server");
    let client = project.container("client1");
    wait_for_lines(&client, &[ECHOED], 2, Duration::from_secs(60));

    // A bind-mounted file is seen through its inode: rewrite it in place
    // (truncate and write), never by renaming a new file over it.
    let ini = project
        .compose_file()
        .with_file_name("server")
        .join("config.ini");
    let inode = std::fs::metadata(&ini).expect("config.ini").ino();
    project.write_server_config(&server_ini(5, "DEBUG"));
    assert_eq!(std::fs::metadata(&ini).unwrap().ino(), inode, "same file");
    docker(&["kill", "-s", "HUP", &server]);
    let reload = "action: reload | result: success | changed: logging_level=DEBUG";
    wait_for_lines(&server, &[reload], 1, Duration::from_secs(30));

    // What the server logs now includes DEBUG lines (each closed
    // connection), and the client's exchanges go on after the reload.
    let after_reload = |parts: &[&str]| {
        let text = logs(&server);
        let mut lines = text.lines().skip_while(|l| !l.contains(reload)).skip(1);
        lines.any(|l| parts.iter().all(|p| l.contains(p)))
    };
    wait_for(
        "a DEBUG close_connection line after the reload",
        Duration::from_secs(30),
        || after_reload(&["DEBUG", "action: close_connection"]),
    );
    wait_for("an echo after the reload", Duration::from_secs(30), || {
        after_reload(&[ECHOED, "msg: [CLIENT 1]"])
    });

    wait_for_exit(&client, Duration::from_secs(60));
    let client_text = logs(&client);
    assert_eq!(exit_code(&client), 0, "{client_text}");
    assert_eq!(
        client_text.lines().filter(|l| l.contains(ECHOED)).count(),
        50,
        "{client_text}"
    );
    project.stop(1);
    let text = logs(&server);
    assert_log_format(&server, &text);
    assert_eq!(exit_code(&server), 0, "{text}");
    assert!(!text.contains("result: fail"), "{text}");
    assert_logged_once(&server, "action: shutdown | result: success");
}
