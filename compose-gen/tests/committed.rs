//! The committed `docker-compose-dev.yaml` is exactly what
//! `./generar-compose.sh docker-compose-dev.yaml 1` writes.

use std::fs;
use std::path::Path;
use std::process::Command;

#[test]
fn committed_dev_compose_file_is_the_generators_output_for_one_client() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose-dev.yaml");
    let committed = fs::read_to_string(&committed).expect("read docker-compose-dev.yaml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docker-compose-dev.yaml");
    let run = Command::new(env!("CARGO_BIN_EXE_compose-gen"))
        .arg(&out)
        .arg("1")
        .output()
        .expect("run compose-gen");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        committed,
        fs::read_to_string(&out).unwrap(),
        "docker-compose-dev.yaml is stale: run ./generar-compose.sh docker-compose-dev.yaml 1"
    );
}
