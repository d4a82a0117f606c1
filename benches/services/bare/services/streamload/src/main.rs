//! Load generator for `stream.sh`: opens STREAMS concurrent
//! `PaymentsService/BalanceTicks` calls on one HTTP/2 connection (as a
//! tonic client does), reads items for WARM seconds untimed, then counts
//! the items of the next SECONDS, checks each one, and prints
//! `items=<n> seconds=<s> per_second=<r> errors=<e>`. The same client reads
//! both servers, so the ratio compares servers only.
//!
//! Usage: streamload URL STREAMS SECONDS WARM
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contract::payments::{BalanceTicksRequest, payments_service_client::PaymentsServiceClient};
use tonic::transport::Channel;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, streams, seconds, warm] = args.as_slice() else {
        eprintln!("usage: streamload URL STREAMS SECONDS WARM");
        std::process::exit(2);
    };
    let streams: usize = streams.parse().expect("STREAMS is a number");
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    let warm: f64 = warm.parse().expect("WARM is a number");
    let channel = Channel::from_shared(url.clone())
        .expect("URL is a URI")
        .connect()
        .await
        .expect("the server accepts a connection");
    let client = PaymentsServiceClient::new(channel);
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let items = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for n in 0..streams {
        let mut client = client.clone();
        let (counting, stop, items, errors) =
            (counting.clone(), stop.clone(), items.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let balance_id = format!("acct-{n}");
            let request = BalanceTicksRequest { balance_id: balance_id.clone() };
            let mut stream = match client.balance_ticks(request).await {
                Ok(response) => response.into_inner(),
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            while !stop.load(Ordering::Relaxed) {
                match stream.message().await {
                    Ok(Some(item)) if item.balance_id == balance_id => {
                        if counting.load(Ordering::Relaxed) {
                            items.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // A wrong item, an error or an early end all void the run.
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(warm)).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    counting.store(false, Ordering::Relaxed);
    let took = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let counted = items.load(Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    println!(
        "items={counted} seconds={took:.3} per_second={:.0} errors={}",
        counted as f64 / took,
        errors.load(Ordering::Relaxed)
    );
}
