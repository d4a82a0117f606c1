{#- scaffold
when: false
-#}
{#- Helpers of the tests that run the service's real binary (tests/shutdown.rs,
    tests/serve.rs), included by both. -#}
/// A port nobody listens on right now, and not one this process was given
/// before: the ports of one test (its REST and metrics listeners) differ even
/// when the system hands out a port it just took back.
fn free_port() -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&addr.port()) {
            given.push(addr.port());
            return addr;
        }
    }
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
