//! How each service runs in a container: the value of every variable it
//! reads, in `docker-compose.yml` and in its Kubernetes `ConfigMap`, where
//! its peers are reached by service name. Derived here, once, from the
//! service's environment table (the one its `--help` prints, handed over as
//! [`Facts`]), so that the deployment files and the binary never disagree on
//! which variables exist.

use serde::Serialize;

/// The broker of `docker-compose.yml`, as the other containers reach it
/// (its listener for the host is `localhost:9092`).
pub const COMPOSE_KAFKA: &str = "kafka:19092";

/// The bootstrap list a Kubernetes deployment starts from: the usual name of
/// a Kafka `Service` in the same namespace; the team sets its own.
pub const KUBERNETES_KAFKA: &str = "kafka:9092";

/// The replication of the topics a service creates on a production cluster:
/// three copies survive the loss of one broker while another is down for
/// maintenance (Kafka's documentation, "Replication").
pub const KUBERNETES_REPLICATION: &str = "3";

/// How long a service may drain after SIGTERM (its `DRAIN_TIMEOUT`).
pub const DRAIN_SECONDS: u64 = 10;

/// How long a pod waits after Kubernetes decides to stop it, before SIGTERM:
/// the time for its endpoints to be removed from every node's proxy, so no
/// new request arrives once it stops accepting.
pub const PRE_STOP_SECONDS: u64 = 5;

/// `METRICS_ADDR`'s port in a container: `OpenTelemetry`'s Prometheus
/// exporter's, free of the API's ports.
pub const METRICS_PORT: u16 = 9464;

/// A service's place in the deployment files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deployment {
    /// `HTTP_ADDR`'s port in a container.
    pub http_port: u16,
    /// `GRPC_ADDR`'s port, when it serves gRPC.
    pub grpc_port: Option<u16>,
    /// `METRICS_ADDR`'s port, [`METRICS_PORT`].
    pub metrics_port: u16,
    /// [`DRAIN_SECONDS`] and [`PRE_STOP_SECONDS`], and the pod's grace
    /// period, which must hold both and the exit.
    pub drain_secs: u64,
    pub pre_stop_secs: u64,
    pub grace_secs: u64,
    /// Every variable it reads, in `--help` order, with its value in each
    /// deployment.
    pub vars: Vec<DeployedVar>,
    /// Its database: a `PostgreSQL` container of its own in compose (one
    /// database per service), a `Secret` in Kubernetes.
    pub database: Option<Database>,
    /// The host's ports compose publishes its HTTP and gRPC ports on, for a
    /// service serving REST or gRPC; numbered by the caller, which sees
    /// every service (`context::publish_ports`).
    pub host_http_port: Option<u16>,
    pub host_grpc_port: Option<u16>,
}

/// One environment variable of a deployed service.
#[derive(Debug, Clone, Serialize)]
pub struct DeployedVar {
    pub name: String,
    pub purpose: String,
    /// Its value in `docker-compose.yml`; `None` leaves the binary's default.
    pub compose: Option<String>,
    /// Its value in the Kubernetes `ConfigMap`; `None` leaves the default
    /// (or, for `DATABASE_URL`, takes it from the `Secret`).
    pub kubernetes: Option<String>,
    /// Why it is left to the default, for a comment beside it.
    pub left: Option<String>,
}

/// The database of a service with a store.
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    /// The compose service of its `PostgreSQL`: `orders-db`.
    pub host: String,
    /// Database, user and password of that container (local use only).
    pub name: String,
    /// The Kubernetes `Secret` holding `DATABASE_URL` under the key `url`.
    pub secret: String,
}

/// What the deployment files need to know of a service.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// `order-history`, and `order_history` (its database's name).
    pub name: &'a str,
    pub ident: &'a str,
    /// It has a database (`DATABASE_URL`).
    pub store: bool,
    pub serves_grpc: bool,
    /// Where every container listens for HTTP (its REST API, or `/livez` and
    /// `/readyz` alone) and for gRPC: the documented defaults. Each container
    /// has its own network, so the same ports for all.
    pub http_port: u16,
    pub grpc_port: u16,
    /// Every variable it reads, in `--help` order: name, purpose, default.
    pub env: Vec<(&'a str, &'a str, &'a str)>,
    /// The services it calls: the variable holding the URL, the service, and
    /// whether over gRPC.
    pub peers: Vec<(&'a str, &'a str, bool)>,
}

/// Where the service of `facts` listens and what it reads, in a container
/// (its host ports are left unset).
pub fn deployment(facts: &Facts<'_>) -> Deployment {
    let database = facts.store.then(|| Database {
        host: format!("{}-db", facts.name),
        name: facts.ident.to_owned(),
        secret: format!("{}-database", facts.name),
    });
    let vars = facts
        .env
        .iter()
        .map(|&(name, purpose, default)| {
            let (compose, kubernetes, left) = values(facts, name, default, database.as_ref());
            DeployedVar {
                name: name.to_owned(),
                purpose: purpose.to_owned(),
                compose,
                kubernetes,
                left,
            }
        })
        .collect();
    Deployment {
        http_port: facts.http_port,
        grpc_port: facts.serves_grpc.then_some(facts.grpc_port),
        metrics_port: METRICS_PORT,
        drain_secs: DRAIN_SECONDS,
        pre_stop_secs: PRE_STOP_SECONDS,
        grace_secs: PRE_STOP_SECONDS + DRAIN_SECONDS + 5,
        vars,
        database,
        host_http_port: None,
        host_grpc_port: None,
    }
}

/// `(compose, kubernetes, why left)` for the variable `name` (default
/// `default`) of the service of `facts`.
fn values(
    facts: &Facts<'_>,
    name: &str,
    default: &str,
    database: Option<&Database>,
) -> (Option<String>, Option<String>, Option<String>) {
    let both = |value: String| (Some(value.clone()), Some(value), None);
    if let Some(&(_, service, grpc)) = facts.peers.iter().find(|(var, ..)| *var == name) {
        let port = if grpc {
            facts.grpc_port
        } else {
            facts.http_port
        };
        return both(format!("http://{service}:{port}"));
    }
    match name {
        "HTTP_ADDR" => both(format!("0.0.0.0:{}", facts.http_port)),
        "GRPC_ADDR" => both(format!("0.0.0.0:{}", facts.grpc_port)),
        // A port of its own, which the Service does not expose: scraped
        // from inside the cluster, never by the API's callers.
        "METRICS_ADDR" => both(format!("0.0.0.0:{METRICS_PORT}")),
        // JSON lines for the cluster's log pipeline; text for `docker
        // compose logs`.
        "LOG_FORMAT" => (Some("text".to_owned()), Some("json".to_owned()), None),
        "KAFKA_BROKERS" => (
            Some(COMPOSE_KAFKA.to_owned()),
            Some(KUBERNETES_KAFKA.to_owned()),
            None,
        ),
        "KAFKA_REPLICATION" => (
            Some("1".to_owned()),
            Some(KUBERNETES_REPLICATION.to_owned()),
            None,
        ),
        "DATABASE_URL" => {
            let compose = database.map(|db| {
                let n = &db.name;
                format!("postgres://{n}:{n}@{}:5432/{n}", db.host)
            });
            (compose, None, None)
        }
        // The collector is the platform's: a sidecar, an agent on the node.
        "OTEL_EXPORTER_OTLP_ENDPOINT" => (
            None,
            None,
            Some("unset: no traces; set an OTLP/gRPC collector, http://host:4317".to_owned()),
        ),
        // The web app's origins are the team's to name.
        "CORS_ALLOWED_ORIGINS" => (
            None,
            None,
            Some("unset: set the origins of the web app that calls it".to_owned()),
        ),
        // Certificates are the platform's (cert-manager, a mesh's CA), mounted
        // from a Secret: only their paths belong here.
        "TLS_CERT"
        | "TLS_KEY"
        | "TLS_CLIENT_CA"
        | "TLS_CA"
        | "KAFKA_SSL_CA_LOCATION"
        | "KAFKA_SSL_CERTIFICATE_LOCATION"
        | "KAFKA_SSL_KEY_LOCATION" => (
            None,
            None,
            Some(format!(
                "{default}; set the path of a PEM file mounted from a Secret"
            )),
        ),
        // Passwords come from a Secret (`valueFrom.secretKeyRef`), never
        // from this file.
        "KAFKA_SASL_PASSWORD" | "KAFKA_SSL_KEY_PASSWORD" => (
            None,
            None,
            Some(format!("{default}; from a Secret, never written here")),
        ),
        // The cluster's security is the platform's to say.
        "KAFKA_SECURITY_PROTOCOL"
        | "KAFKA_SASL_MECHANISM"
        | "KAFKA_SASL_USERNAME"
        | "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM" => (
            None,
            None,
            Some(format!("{default}; as the managed cluster requires")),
        ),
        // Unset, each replica takes its own host name: unique per container
        // and per pod, as a transactional id must be.
        "KAFKA_TRANSACTIONAL_ID" => (
            None,
            None,
            Some("unset: each replica uses its host name".to_owned()),
        ),
        _ => both(default.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            name: "order-history",
            ident: "order_history",
            store: true,
            serves_grpc: false,
            http_port: 5000,
            grpc_port: 50051,
            env: vec![
                ("HTTP_ADDR", "probes", "0.0.0.0:0"),
                ("DATABASE_URL", "outbox", "sqlite://data/order-history.db"),
                ("KAFKA_BROKERS", "brokers", "localhost:9092"),
                ("KAFKA_REPLICATION", "replicas", "1"),
                ("KAFKA_TRANSACTIONAL_ID", "id", "order-history-<host name>"),
                ("ORDERS_GRPC_URL", "orders", "http://localhost:50051"),
                ("LEDGER_HTTP_URL", "ledger", "http://localhost:5000"),
                ("CORS_ALLOWED_ORIGINS", "origins", "unset: none"),
                ("METRICS_ADDR", "/metrics", "unset: on HTTP_ADDR"),
                ("LOG_FORMAT", "log lines", "text"),
                ("RUST_LOG", "log filter", "info"),
            ],
            peers: vec![
                ("ORDERS_GRPC_URL", "orders", true),
                ("LEDGER_HTTP_URL", "ledger", false),
            ],
        }
    }

    fn var<'a>(d: &'a Deployment, name: &str) -> (Option<&'a str>, Option<&'a str>) {
        let v = d.vars.iter().find(|v| v.name == name).unwrap();
        (v.compose.as_deref(), v.kubernetes.as_deref())
    }

    #[test]
    fn every_variable_keeps_its_place_with_a_value_for_containers() {
        let d = deployment(&facts());
        let names: Vec<&str> = d.vars.iter().map(|v| v.name.as_str()).collect();
        let help: Vec<&str> = facts().env.iter().map(|v| v.0).collect();
        assert_eq!(names, help);
        // A service without REST still listens on a fixed port for its probes.
        let http = Some("0.0.0.0:5000");
        assert_eq!(var(&d, "HTTP_ADDR"), (http, http));
        // Peers by service name, on the containers' ports.
        let orders = Some("http://orders:50051");
        assert_eq!(var(&d, "ORDERS_GRPC_URL"), (orders, orders));
        let ledger = Some("http://ledger:5000");
        assert_eq!(var(&d, "LEDGER_HTTP_URL"), (ledger, ledger));
        assert_eq!(
            var(&d, "KAFKA_BROKERS"),
            (Some(COMPOSE_KAFKA), Some(KUBERNETES_KAFKA))
        );
        assert_eq!(
            var(&d, "KAFKA_REPLICATION"),
            (Some("1"), Some(KUBERNETES_REPLICATION))
        );
        assert_eq!(var(&d, "RUST_LOG"), (Some("info"), Some("info")));
        // /metrics on a port of its own; JSON logs for the cluster's
        // pipeline; the web app's origins are the team's to name.
        let metrics = Some("0.0.0.0:9464");
        assert_eq!(var(&d, "METRICS_ADDR"), (metrics, metrics));
        assert_eq!(d.metrics_port, METRICS_PORT);
        assert_eq!(var(&d, "LOG_FORMAT"), (Some("text"), Some("json")));
        assert_eq!(var(&d, "CORS_ALLOWED_ORIGINS"), (None, None));
        let cors = d.vars.iter().find(|v| v.name == "CORS_ALLOWED_ORIGINS");
        assert!(cors.unwrap().left.is_some());
        assert_eq!(d.grpc_port, None);
        assert!(d.grace_secs > d.pre_stop_secs + d.drain_secs);
    }

    #[test]
    fn a_service_with_a_store_gets_a_database_of_its_own() {
        let d = deployment(&facts());
        let db = d.database.as_ref().unwrap();
        assert_eq!(
            (db.host.as_str(), db.secret.as_str()),
            ("order-history-db", "order-history-database")
        );
        // From the Secret in Kubernetes, never from the ConfigMap.
        let url = "postgres://order_history:order_history@order-history-db:5432/order_history";
        assert_eq!(var(&d, "DATABASE_URL"), (Some(url), None));
        let none = deployment(&Facts {
            store: false,
            ..facts()
        });
        assert!(none.database.is_none());
    }

    #[test]
    fn a_transactional_id_is_left_to_each_replicas_host_name() {
        let d = deployment(&facts());
        assert_eq!(var(&d, "KAFKA_TRANSACTIONAL_ID"), (None, None));
        let left = d.vars.iter().find(|v| v.name == "KAFKA_TRANSACTIONAL_ID");
        assert!(left.unwrap().left.is_some());
    }
}
