//! Graceful shutdown: waits for SIGTERM or Ctrl-C, then gives the running
//! servers a bounded time to drain their in-flight work.

use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{error, warn};

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Waits for every task of `tasks` (already told to stop) for at most
/// `deadline`, then aborts the stragglers. Returns the first task error, or
/// an error naming the deadline if it passed.
pub async fn drain(
    mut tasks: JoinSet<anyhow::Result<()>>,
    deadline: Duration,
) -> anyhow::Result<()> {
    let mut first_error = None;
    let all_done = async {
        while let Some(joined) = tasks.join_next().await {
            let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(err) = result {
                error!("{err:#}");
                first_error.get_or_insert(err);
            }
        }
    };
    if tokio::time::timeout(deadline, all_done).await.is_err() {
        warn!(
            remaining = tasks.len(),
            "drain deadline of {deadline:?} passed, aborting in-flight work"
        );
        tasks.abort_all();
        return Err(anyhow::anyhow!(
            "in-flight work did not finish within the {deadline:?} drain deadline"
        ));
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::task::JoinSet;

    use super::drain;

    #[tokio::test]
    async fn drain_returns_once_every_task_is_done() {
        let mut tasks = JoinSet::new();
        tasks.spawn(async { Ok(()) });
        tasks.spawn(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        });
        drain(tasks, Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn drain_reports_a_task_error() {
        let mut tasks = JoinSet::new();
        tasks.spawn(async { Err(anyhow::anyhow!("port closed")) });
        let err = drain(tasks, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(err.to_string(), "port closed");
    }

    #[tokio::test]
    async fn drain_gives_up_at_the_deadline() {
        let mut tasks = JoinSet::new();
        tasks.spawn(async {
            std::future::pending::<()>().await;
            Ok(())
        });
        let err = drain(tasks, Duration::from_millis(50)).await.unwrap_err();
        assert!(err.to_string().contains("drain deadline"), "{err}");
    }
}
