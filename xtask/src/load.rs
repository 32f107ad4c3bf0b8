//! `cargo xtask grpc-load`: a closed-loop load generator for the gRPC `query` method (what wrk is
//! for HTTP): `connections` clients, each on its own HTTP/2 connection, send the same query back
//! to back for a while; the report gives requests per second and latency percentiles.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dozer_runtime::proto::common::common_grpc_service_client::CommonGrpcServiceClient;
use dozer_runtime::proto::common::QueryRequest;

pub struct Report {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sorted latencies of the successful requests.
    pub latencies: Vec<Duration>,
}

impl Report {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p / 100.0).round() as usize;
        self.latencies[i]
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the load against `addr` (e.g. `http://127.0.0.1:50051`).
pub fn grpc_query(
    addr: &str,
    endpoint: &str,
    query: Option<&str>,
    connections: usize,
    duration: Duration,
) -> Result<Report> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut clients = vec![];
        for _ in 0..connections.max(1) {
            clients.push(
                CommonGrpcServiceClient::connect(addr.to_string())
                    .await
                    .with_context(|| format!("connecting to {addr}"))?,
            );
        }
        let started = Instant::now();
        let until = started + duration;
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                let request = QueryRequest {
                    endpoint: endpoint.to_string(),
                    query: query.map(str::to_string),
                };
                tokio::spawn(async move {
                    let (mut latencies, mut errors) = (vec![], 0);
                    while Instant::now() < until {
                        let sent = Instant::now();
                        match client.query(request.clone()).await {
                            Ok(_) => latencies.push(sent.elapsed()),
                            Err(_) => errors += 1,
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let (mut latencies, mut errors) = (vec![], 0);
        for t in tasks {
            let (l, e) = t.await?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed();
        latencies.sort();
        Ok(Report {
            requests: latencies.len() + errors,
            errors,
            elapsed,
            latencies,
        })
    })
}
