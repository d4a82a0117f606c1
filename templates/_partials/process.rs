{#- scaffold
when: false
-#}
{#- Helpers of the tests that run the service's real binary (tests/shutdown.rs,
    tests/serve.rs), included by both. -#}
/// A port nobody listens on right now.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Reads `child`'s stderr on a thread; joining it gives the logs once the
/// process has exited.
fn capture_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    })
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// How `child` exited; fails if it still runs at `deadline`.
fn exit_status(child: &mut Child, deadline: Instant) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not exit within its drain deadline"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
