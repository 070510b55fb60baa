//! `serve`'s limits: request rates per client, connections, the encoder, and where `/metrics`
//! is served.

use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::Args;

/// A limit that cannot be turned off: a whole number from 1 to `max`.
fn one_to(max: u64) -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::new().range(1..=max)
}

/// How often one client address may act; 0 turns a limit off.
#[derive(Debug, Clone, Args)]
pub(crate) struct RateLimits {
    /// Page and API requests per minute per IP; 0 turns the limit off
    #[arg(
        long,
        env = "PAPERSCOUT_READS_PER_MINUTE",
        default_value_t = 600,
        value_name = "N"
    )]
    pub reads_per_minute: u32,
    /// Upvotes per minute per IP; 0 turns the limit off
    #[arg(
        long,
        env = "PAPERSCOUT_VOTES_PER_MINUTE",
        default_value_t = 30,
        value_name = "N"
    )]
    pub votes_per_minute: u32,
    /// Digest subscription requests per hour per IP (each may send a mail); 0: no limit
    #[arg(
        long,
        env = "PAPERSCOUT_SUBSCRIBES_PER_HOUR",
        default_value_t = 10,
        value_name = "N"
    )]
    pub subscribes_per_hour: u32,
}

impl RateLimits {
    pub(crate) fn apply(&self, options: &mut paperscout_server::Options) {
        options.reads_per_minute = self.reads_per_minute;
        options.votes_per_minute = self.votes_per_minute;
        options.subscribes_per_hour = self.subscribes_per_hour;
    }
}

/// Limits that keep one client (or many) from taking the server down.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeLimits {
    /// Seconds a client has to send a request's headers (slow clients are cut off); also the
    /// longest a keep-alive connection may wait for its next request
    #[arg(long, env = "PAPERSCOUT_HEADER_TIMEOUT", default_value_t = 10, value_name = "S",
          value_parser = one_to(3600))]
    pub header_timeout: u64,
    /// Seconds an idle keep-alive connection stays open (at most --header-timeout)
    #[arg(long, env = "PAPERSCOUT_IDLE_TIMEOUT", default_value_t = 10, value_name = "S",
          value_parser = one_to(3600))]
    pub idle_timeout: u64,
    /// Open connections in all; more are closed when accepted
    #[arg(long, env = "PAPERSCOUT_MAX_CONNECTIONS", default_value_t = 1024, value_name = "N",
          value_parser = one_to(1_000_000))]
    pub max_connections: u64,
    /// Open connections per client address (IPv6: per /64)
    #[arg(long, env = "PAPERSCOUT_MAX_CONNECTIONS_PER_IP", default_value_t = 64, value_name = "N",
          value_parser = one_to(1_000_000))]
    pub max_connections_per_ip: u64,
    /// Semantic and hybrid searches running or waiting for the encoder, from everyone; more
    /// are answered 503 with Retry-After
    #[arg(long, env = "PAPERSCOUT_ENCODER_QUEUE", default_value_t = 32, value_name = "N",
          value_parser = one_to(100_000))]
    pub encoder_queue: u64,
    /// Semantic and hybrid searches running or waiting per client address; more are answered 429
    #[arg(long, env = "PAPERSCOUT_ENCODER_PER_IP", default_value_t = 4, value_name = "N",
          value_parser = one_to(100_000))]
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
