//! The Rust example (examples/rust/echo_server.rs, built by `cargo test`
//! with the other examples) keeps the echo-server contract: `listening on
//! HOST:PORT`, every byte echoed (beyond the send queue's high-water mark
//! too), exit 0 on SIGTERM with a connection still open.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// target/<profile>/examples/echo_server, next to this test's deps directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

#[test]
fn rust_echo_server_echoes_everything_and_exits_0_on_sigterm() {
    let mut child = Command::new(example("echo_server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("examples/rust/echo_server is built by cargo test");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let port: u16 = line.trim().strip_prefix("listening on 127.0.0.1:").and_then(|p| p.parse().ok()).expect(&line);

    // 3 MiB: more than the send queue's high-water mark, so the server must
    // hold refused bytes and pause; written by a thread while this one reads.
    let payload: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let sent = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&sent));
    let mut echoed = vec![0; payload.len()];
    stream.read_exact(&mut echoed).expect("every byte echoed");
    sender.join().expect("sender thread").expect("send");
    assert!(echoed == payload, "the echo differs from what was sent");

    // SIGTERM with the connection open: it is closed, then the server exits 0.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "echo_server did not exit within 60 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "echo_server exited with {status}");
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).expect("the server closed the connection"), 0);
}
