//! `serve`'s limits on connections, on the encoder, and where `/metrics` is served.

use std::time::Duration;

use clap::Args;

/// Limits that keep one client (or many) from taking the server down.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeLimits {
    /// Seconds a client has to send a request's headers (slow clients are cut off); also the
    /// longest a keep-alive connection may wait for its next request
    #[arg(long, env = "PAPERSCOUT_HEADER_TIMEOUT", default_value_t = 10, value_name = "S",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds an idle keep-alive connection stays open (at most --header-timeout)
    #[arg(long, env = "PAPERSCOUT_IDLE_TIMEOUT", default_value_t = 10, value_name = "S",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Open connections in all; more are closed when accepted
    #[arg(long, env = "PAPERSCOUT_MAX_CONNECTIONS", default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Open connections per client address (IPv6: per /64)
    #[arg(long, env = "PAPERSCOUT_MAX_CONNECTIONS_PER_IP", default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_ip: u64,
    /// Semantic and hybrid searches running or waiting for the encoder, from everyone; more
    /// are answered 503 with Retry-After
    #[arg(long, env = "PAPERSCOUT_ENCODER_QUEUE", default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub encoder_queue: u64,
    /// Semantic and hybrid searches running or waiting per client address; more are answered 429
    #[arg(long, env = "PAPERSCOUT_ENCODER_PER_IP", default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub encoder_per_ip: u64,
    /// Encoder cost units per minute per client address (a query costs one unit per started
    /// 100 characters); 0 turns the limit off
    #[arg(
        long,
        env = "PAPERSCOUT_ENCODER_UNITS_PER_MINUTE",
        default_value_t = 300,
        value_name = "N"
    )]
    pub encoder_units_per_minute: u32,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9187), not on the site
    #[arg(long, env = "PAPERSCOUT_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl ServeLimits {
    pub(crate) fn apply(&self, options: &mut paperscout_server::Options) {
        options.connections = paperscout_server::ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: self.max_connections as usize,
            max_per_ip: self.max_connections_per_ip as usize,
            ..Default::default()
        };
        options.encoder = paperscout_server::EncoderLimits {
            queue: self.encoder_queue as usize,
            per_ip: self.encoder_per_ip as usize,
            units_per_minute: self.encoder_units_per_minute,
        };
        options.metrics_elsewhere = self.metrics_addr.is_some();
    }
}
