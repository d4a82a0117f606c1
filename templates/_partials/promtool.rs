{#- scaffold
when: false
-#}
{#- Prometheus' own check of a /metrics answer, included by the tests that
    scrape one (tests/rest.rs, tests/serve.rs). -#}
/// Runs `promtool check metrics` (Prometheus' linter of the text format:
/// help texts, names, units, counters' `_total`) on `text` when `PROMTOOL`
/// names the binary, as commsadvise's CI does; skipped otherwise.
fn promtool_accepts(text: &str) {
    let Some(promtool) = std::env::var_os("PROMTOOL") else {
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, text.as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool: {said}\n{text}");
}
