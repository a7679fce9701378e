//! `ringgroup-bench ipc` end to end, with real child processes: every case passes at a tiny
//! size, and fails (exit status 1, the child's complaint on stderr) when the producer (pinger,
//! requester) sends a wrong message, for ringgroup and for iceoryx2 alike (`reply`: ringgroup
//! only). The fault is planted through `RINGGROUP_BENCH_IPC_FAULT`, which makes every producer
//! send its message 5 as 99.

use std::process::{Command, Output};

fn ipc(case: &str, system: &str, fault: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringgroup-bench"));
    command.args([
        "ipc",
        "--cases",
        case,
        "--systems",
        system,
        "--consumers",
        "2",
        "--messages",
        "2000",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--capacity",
        "64",
        "--json",
        "--quiet",
        "--no-save",
    ]);
    if fault {
        command.env("RINGGROUP_BENCH_IPC_FAULT", "1");
    }
    command.output().expect("the harness runs")
}

#[test]
fn every_case_passes_and_a_wrong_message_in_a_child_fails_it() {
    for system in ["ringgroup", "iceoryx2"] {
        for case in ["throughput", "ping-pong", "fanout", "reply"] {
            if case == "reply" && system == "iceoryx2" {
                continue;
            }
            let good = ipc(case, system, false);
            let stderr = String::from_utf8_lossy(&good.stderr);
            assert!(good.status.success(), "{case} {system}: {stderr}");
            let stdout = String::from_utf8_lossy(&good.stdout);
            assert!(
                stdout.contains(&format!("\"scenario\":\"ipc/{case}\"")),
                "{case} {system}: {stdout}"
            );
            if matches!(case, "ping-pong" | "reply") && system == "ringgroup" {
                assert!(
                    stdout.contains("\"p50_over_in_process\""),
                    "{case}: {stdout}"
                );
            }
            let bad = ipc(case, system, true);
            let stderr = String::from_utf8_lossy(&bad.stderr);
            assert_eq!(bad.status.code(), Some(1), "{case} {system}: {stderr}");
            assert!(
                stderr.contains("received 99 where 5 was expected"),
                "{case} {system}: {stderr}"
            );
        }
    }
}

#[test]
fn reply_is_skipped_for_iceoryx2_and_fails_when_nothing_runs() {
    let only = ipc("reply", "iceoryx2", false);
    let stderr = String::from_utf8_lossy(&only.stderr);
    assert_eq!(only.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("none of --systems runs any of --cases"),
        "{stderr}"
    );
}
