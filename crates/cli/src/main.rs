//! `paperscout`: the command-line front end. Parses flags (and their environment variables),
//! sets up logging and progress bars, calls into `paperscout_app`, and prints.

mod config;
mod progress;
mod serve_limits;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use paperscout_app::eval::{evaluate, load_qrels, load_queries};
use paperscout_app::{
    peak_rss_mb, Config, Engine, ErrorKind, Format, Fusion, Hit, IngestOptions, Input, ModelSpec,
    PaperId, Precision, SearchMode, DEFAULT_REPO,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::progress::Bars;

// candle's CPU ops allocate a fresh buffer per op, tens of MB each at batch 32 × 256 tokens;
// glibc maps and unmaps every one (page faults, ~40% system time). mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Discover research papers: ingest them, then search by keywords (BM25), by meaning (a
/// sentence encoder) or by both.
#[derive(Parser, Debug)]
#[command(name = "paperscout", version, about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// Where papers and indexes are kept [default: the XDG data dir, ~/.local/share/paperscout]
    #[arg(long, env = "PAPERSCOUT_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Cache for models and evaluation scratch data [default: ~/.cache/paperscout]
    #[arg(long, env = "PAPERSCOUT_CACHE_DIR", global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// A local sentence-transformers model folder (config.json, tokenizer.json, model.safetensors)
    #[arg(long, env = "PAPERSCOUT_MODEL", global = true, value_name = "DIR")]
    model: Option<PathBuf>,
    /// The Hugging Face repo of the model, used when --model is not given
    #[arg(long, env = "PAPERSCOUT_MODEL_REPO", global = true, default_value = DEFAULT_REPO, value_name = "REPO")]
    model_repo: String,
    /// Start a new data dir empty instead of with the bundled demo corpus
    #[arg(long, env = "PAPERSCOUT_NO_DEMO", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    no_demo: bool,
    /// Texts per encoder forward pass
    #[arg(
        long,
        env = "PAPERSCOUT_BATCH_SIZE",
        global = true,
        default_value_t = 32,
        value_name = "N"
    )]
    batch_size: usize,
    /// How the encoder computes: int8 (fastest; its vectors are kept apart from fp32 ones),
    /// fp32 (the same vectors as sentence-transformers), or candle (fp32 through
    /// candle-transformers: the slow reference)
    #[arg(
        long,
        env = "PAPERSCOUT_PRECISION",
        global = true,
        default_value_t = Precision::default(),
        value_name = "P"
    )]
    precision: Precision,
    /// How hybrid search fuses the rankings: convex[:ALPHA] or rrf[:K]
    #[arg(long, env = "PAPERSCOUT_FUSION", global = true, default_value_t = Fusion::DEFAULT, value_name = "F")]
    fusion: Fusion,
    /// The config file (TOML) [default: ~/.config/paperscout/config.toml, if it exists]
    #[arg(long, env = "PAPERSCOUT_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SMTP server for mail, in lettre's URL form: smtp://user:pass@host:587?tls=required,
    /// smtps://user:pass@host (config: smtp.url)
    #[arg(
        long,
        env = "PAPERSCOUT_SMTP_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    smtp_url: Option<String>,
    /// The From of every mail, e.g. "paperscout <digest@example.org>" (config: smtp.from)
    #[arg(
        long,
        env = "PAPERSCOUT_SMTP_FROM",
        global = true,
        value_name = "MAILBOX"
    )]
    smtp_from: Option<String>,
    /// The site's public URL, for links in mail [default: http://ADDR] (config: site.base_url)
    #[arg(long, env = "PAPERSCOUT_BASE_URL", global = true, value_name = "URL")]
    base_url: Option<String>,
    /// arXiv's OAI-PMH endpoint (config: harvest.oai_url)
    #[arg(long, env = "PAPERSCOUT_OAI_URL", global = true, value_name = "URL")]
    oai_url: Option<String>,
    /// Hugging Face's daily papers API (config: harvest.hf_url)
    #[arg(long, env = "PAPERSCOUT_HF_URL", global = true, value_name = "URL")]
    hf_url: Option<String>,
    /// Seconds between two requests to a source [default: 3] (config: harvest.delay_seconds)
    #[arg(
        long,
        env = "PAPERSCOUT_HARVEST_DELAY",
        global = true,
        value_name = "SECONDS"
    )]
    harvest_delay: Option<f64>,
    /// Log more (-v: info, -vv: debug); PAPERSCOUT_LOG takes a tracing filter
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the web site and JSON API (the demo corpus on a new data dir)
    Serve {
        /// Address to listen on
        #[arg(
            long,
            env = "PAPERSCOUT_ADDR",
            default_value = "127.0.0.1:7878",
            value_name = "HOST:PORT"
        )]
        addr: std::net::SocketAddr,
        /// Page and API requests per minute per IP; 0 turns the limit off
        #[arg(
            long,
            env = "PAPERSCOUT_READS_PER_MINUTE",
            default_value_t = 600,
            value_name = "N"
        )]
        reads_per_minute: u32,
        /// Upvotes per minute per IP; 0 turns the limit off
        #[arg(
            long,
            env = "PAPERSCOUT_VOTES_PER_MINUTE",
            default_value_t = 30,
            value_name = "N"
        )]
        votes_per_minute: u32,
        /// Mark cookies Secure (set this when a proxy serves the site over HTTPS)
        #[arg(long, env = "PAPERSCOUT_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new())]
        secure_cookies: bool,
        /// Digest subscription requests per hour per IP (each may send a mail); 0: no limit
        #[arg(
            long,
            env = "PAPERSCOUT_SUBSCRIBES_PER_HOUR",
            default_value_t = 10,
            value_name = "N"
        )]
        subscribes_per_hour: u32,
        /// Harvest these on a schedule: arxiv:SET (arxiv:cs, arxiv:physics:hep-th…) or
        /// hf-daily; repeat or separate with commas (config: harvest.sources)
        #[arg(
            long,
            env = "PAPERSCOUT_HARVEST",
            value_delimiter = ',',
            value_name = "SOURCE"
        )]
        harvest: Vec<String>,
        /// When to harvest, every day, as HH:MM in UTC [default: 01:30,13:30] (config:
        /// harvest.at)
        #[arg(
            long,
            env = "PAPERSCOUT_HARVEST_AT",
            value_delimiter = ',',
            value_name = "HH:MM"
        )]
        harvest_at: Vec<String>,
        #[command(flatten)]
        limits: serve_limits::ServeLimits,
    },
    /// Fetch new papers from a source now (`serve --harvest` does it on a schedule)
    #[command(subcommand)]
    Harvest(HarvestCmd),
    /// The daily digest (`serve` sends it by itself; these are for cron and for checking)
    #[command(subcommand)]
    Digest(DigestCmd),
    /// Add papers from files (updating papers already known); all-or-nothing unless --skip-bad
    Ingest {
        /// Files to read, or BEIR dataset folders (holding corpus.jsonl)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// listing, beir, jsonl, arxiv-api, arxiv-oai, arxiv-snapshot, arxiv-rss, hf-daily,
        /// openalex, semantic-scholar (or s2), bibtex [default: detected from the content]
        #[arg(long, value_name = "F")]
        format: Option<Format>,
        /// Ingest the good records and list the bad ones instead of refusing the whole ingest
        #[arg(long)]
        skip_bad: bool,
        /// Do not encode now; papers are encoded on first semantic search or `reindex`
        #[arg(long)]
        no_encode: bool,
    },
    /// Search papers
    Search {
        /// What to look for (at most 1,000 characters; quotes make phrases in lexical matching)
        query: String,
        /// hybrid (both fused), semantic (by meaning) or lexical (BM25)
        #[arg(long, short, default_value_t = SearchMode::Hybrid)]
        mode: SearchMode,
        /// How many papers to show (1 to 1,000)
        #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// One JSON object per hit
        #[arg(long)]
        json: bool,
    },
    /// Papers nearest in meaning to a paper
    Similar {
        /// A paper id (arxiv:…, doi:…, beir:…, title:…, or a bare arXiv id or DOI)
        id: PaperId,
        /// How many papers to show (1 to 1,000)
        #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        #[arg(long)]
        json: bool,
    },
    /// Rebuild every index from the store (encoding only papers without a current embedding)
    Reindex {
        /// Recompute every embedding, not only missing ones
        #[arg(long)]
        reencode: bool,
    },
    /// Write every paper as JSON lines (readable by `ingest --format jsonl`)
    Export {
        /// Write here instead of standard output (replaced atomically)
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Measure retrieval quality on a BEIR dataset (nDCG@10, Recall@100, MRR@10)
    Eval {
        /// The dataset folder (corpus.jsonl, queries.jsonl)
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
        #[arg(long, value_name = "FILE")]
        qrels: Option<PathBuf>,
        /// Modes to score [default: all three]
        #[arg(long, value_delimiter = ',')]
        mode: Vec<SearchMode>,
        /// Scratch data dir for the corpus [default: in the cache dir, keyed by the corpus]
        #[arg(long, value_name = "DIR")]
        scratch_dir: Option<PathBuf>,
        /// One JSON object per mode
        #[arg(long)]
        json: bool,
    },
    /// Papers per source, and each source's last harvest
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks
    #[command(subcommand)]
    Bench(Bench),
    /// Make sure the model is available (fetching it if needed) and print where it is
    Model,
}

#[derive(Subcommand, Debug)]
enum HarvestCmd {
    /// arXiv records of a set through OAI-PMH, incrementally: from where the last harvest of
    /// the set ended (else yesterday), resuming an interrupted harvest after its last page
    Arxiv {
        /// The set: cs, math, physics, physics:hep-th, q-bio, q-fin, stat, eess, econ
        #[arg(long, default_value = "cs")]
        set: String,
        /// Records changed on or after this day (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        from: Option<chrono::NaiveDate>,
        /// … and on or before this day
        #[arg(long, value_name = "DATE")]
        until: Option<chrono::NaiveDate>,
        /// Do not encode now; papers are encoded on first semantic search or `reindex`
        #[arg(long)]
        no_encode: bool,
        #[arg(long)]
        json: bool,
    },
    /// Hugging Face's daily papers (their upvotes become initial trending votes)
    HfDaily {
        /// The day's list (YYYY-MM-DD) [default: the latest]
        #[arg(long, value_name = "DATE")]
        date: Option<chrono::NaiveDate>,
        #[arg(long)]
        no_encode: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DigestCmd {
    /// Build the digests due now and send what the outbox holds (once per subscriber per
    /// local day, however often this runs)
    Send {
        /// Every active subscriber's digest for their current local day, whatever their hour
        #[arg(long)]
        now: bool,
        /// Show what would be sent; record and send nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Subscribers and the outbox at a glance
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// Digest build and send for many subscribers, against the SMTP server of --smtp-url
    Digest {
        /// The corpus the digests pick from (BEIR folder); its queries become interests
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// How many of the corpus's papers count as new today
        #[arg(long, default_value_t = 500)]
        new: usize,
        /// Scratch data dir for the corpus [default: as for `eval`]; copied, never changed
        #[arg(long, value_name = "DIR")]
        scratch_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// How well cosine-similarity thresholds separate judged-relevant papers (the digest's
    /// match threshold)
    Threshold {
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
        #[arg(long, value_name = "FILE")]
        qrels: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        scratch_dir: Option<PathBuf>,
    },
    /// Write an arXiv metadata snapshot of N records for the ingest benchmark
    /// (bench/snapshot.sh), repeating the fixture's records with new ids and DOIs
    Snapshot {
        /// Snapshot records to repeat
        #[arg(
            long,
            value_name = "FILE",
            default_value = "crates/ingest/tests/data/fixtures/kaggle-arxiv-snapshot/arxiv-metadata-oai-snapshot.json"
        )]
        fixture: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// The file to write
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Encoding throughput on the first N documents (title + " " + text) of a BEIR corpus
    Encode {
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Query latency per mode: each judged query searched alone, end to end (encoding
    /// included); then each query's encoding alone (mode `encode`)
    Query {
        /// The dataset folder (corpus.jsonl, queries.jsonl)
        #[arg(long, value_name = "DIR")]
        beir: PathBuf,
        /// Use the queries judged here [default: every query in queries.jsonl]
        #[arg(long, value_name = "FILE")]
        qrels: Option<PathBuf>,
        /// At most this many queries
        #[arg(long, default_value_t = 300)]
        limit: usize,
        /// Scratch data dir for the corpus [default: as for `eval`]
        #[arg(long, value_name = "DIR")]
        scratch_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    init_tracing(cli.global.verbose.max(u8::from(serving)));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `paperscout search … | head`: the reader left; that is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let mut msg = format!("error: {err}");
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{msg}");
            let kind = err
                .downcast_ref::<paperscout_app::Error>()
                .map(paperscout_app::Error::kind);
            ExitCode::from(match kind {
                Some(ErrorKind::Invalid) => 2,
                Some(ErrorKind::NotFound) => 3,
                // EX_TEMPFAIL: another process holds the store; try again later.
                Some(ErrorKind::Busy) => 75,
                _ => 1,
            })
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("PAPERSCOUT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "paperscout")
}

impl Global {
    fn cache_dir(&self) -> Result<PathBuf> {
        match (&self.cache_dir, dirs()) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(d)) => Ok(d.cache_dir().to_path_buf()),
            (None, None) => bail!("no home directory to put the cache in; pass --cache-dir"),
        }
    }

    fn config(&self, data_dir: Option<PathBuf>, demo: bool) -> Result<Config> {
        let data_dir = match (data_dir.or_else(|| self.data_dir.clone()), dirs()) {
            (Some(d), _) => d,
            (None, Some(d)) => d.data_dir().to_path_buf(),
            (None, None) => bail!("no home directory to keep data in; pass --data-dir"),
        };
        let mut model = ModelSpec::new(self.cache_dir()?);
        model.dir = self.model.clone();
        model.repo = self.model_repo.clone();
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        Ok(Config {
            demo: demo && !self.no_demo,
            fusion: self.fusion,
            batch_size: self.batch_size,
            precision: self.precision,
            ..Config::new(data_dir, model)
        })
    }

    /// Digest settings from flags, environment and config file.
    fn digest_config(&self, default_base: &str) -> Result<paperscout_app::DigestConfig> {
        let path = config::locate(self.config.as_deref());
        let file = config::load(path.as_deref())?;
        file.digest(
            &config::Overrides {
                smtp_url: self.smtp_url.clone(),
                smtp_from: self.smtp_from.clone(),
                base_url: self.base_url.clone(),
            },
            default_base,
        )
    }

    fn harvest_overrides(&self, sources: Vec<String>, at: Vec<String>) -> config::HarvestOverrides {
        config::HarvestOverrides {
            sources,
            at,
            delay_seconds: self.harvest_delay,
            oai_url: self.oai_url.clone(),
            hf_url: self.hf_url.clone(),
        }
    }

    fn config_file(&self) -> Result<config::File> {
        config::load(config::locate(self.config.as_deref()).as_deref())
    }

    /// The engine for a command. Its writes wait up to [`BATCH_WRITE_WAIT`] for another
    /// process's (a second ingest waits for the first instead of failing).
    fn engine(&self) -> Result<Engine> {
        let engine = Engine::open(self.config(None, true)?, Arc::new(Bars::new()))?;
        engine.store().set_busy_timeout(BATCH_WRITE_WAIT)?;
        Ok(engine)
    }
}

fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Serve {
            addr,
            reads_per_minute,
            votes_per_minute,
            secure_cookies,
            subscribes_per_hour,
            harvest,
            harvest_at,
            limits,
        } => {
            let plan = g
                .config_file()?
                .harvest_plan(&g.harvest_overrides(harvest, harvest_at))?;
            serve(
                g,
                addr,
                [reads_per_minute, votes_per_minute, subscribes_per_hour],
                secure_cookies,
                plan,
                &limits,
            )?
        }
        Command::Harvest(cmd) => run_harvest(g, cmd)?,
        Command::Digest(cmd) => digest(g, cmd)?,
        Command::Ingest {
            paths,
            format,
            skip_bad,
            no_encode,
        } => {
            let inputs = paths
                .iter()
                .map(|p| Input::resolve(p, format).map_err(paperscout_app::Error::from))
                .collect::<Result<Vec<_>, _>>()?;
            let engine = g.engine()?;
            let r = engine.ingest(
                &inputs,
                IngestOptions {
                    skip_bad,
                    encode: !no_encode,
                },
            )?;
            for e in &r.skipped {
                eprintln!("skipped {e}");
            }
            if r.skipped_total > r.skipped.len() {
                eprintln!(
                    "… and {} more bad records (only the first {} are listed)",
                    r.skipped_total - r.skipped.len(),
                    r.skipped.len()
                );
            }
            let t = r.timings;
            println!(
                "{} records: {} added, {} updated, {} unchanged, {} skipped; {} encoded \
                 (parse {:.1}s, store {:.1}s, index {:.1}s, encode {:.1}s)",
                r.records,
                r.added,
                r.updated,
                r.unchanged,
                r.skipped_total,
                r.encoded,
                t.parse_s,
                t.store_s,
                t.index_s,
                t.encode_s
            );
        }
        Command::Search {
            query,
            mode,
            limit,
            json,
        } => {
            let engine = g.engine()?;
            let hits = engine.search(&query, mode, limit as usize)?;
            print_hits(&hits, json, Some(mode))?;
        }
        Command::Similar { id, limit, json } => {
            let engine = g.engine()?;
            let hits = engine.similar(&id, limit as usize)?;
            print_hits(&hits, json, None)?;
        }
        Command::Reindex { reencode } => {
            let engine = g.engine()?;
            let (indexed, encoded) = engine.reindex(reencode)?;
            println!("indexed {indexed} papers; encoded {encoded}");
        }
        Command::Export { output } => {
            let engine = g.engine()?;
            match output {
                None => {
                    let stdout = std::io::stdout();
                    let mut out = std::io::BufWriter::new(stdout.lock());
                    engine.export(&mut out)?;
                    out.flush()?;
                }
                Some(path) => {
                    let dir = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    let mut tmp = tempfile::NamedTempFile::new_in(dir)
                        .with_context(|| format!("cannot write in {}", dir.display()))?;
                    let n = {
                        let mut out = std::io::BufWriter::new(&mut tmp);
                        let n = engine.export(&mut out)?;
                        out.flush()?;
                        n
                    };
                    tmp.persist(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("exported {n} papers to {}", path.display());
                }
            }
        }
        Command::Eval {
            beir,
            qrels,
            mode,
            scratch_dir,
            json,
        } => eval(g, &beir, qrels, mode, scratch_dir, json)?,
        Command::Stats { json } => {
            let engine = g.engine()?;
            let counts = engine.store().count_by_source()?;
            let total: usize = counts.iter().map(|c| c.1).sum();
            let runs = paperscout_app::harvest::last_runs(&engine)?;
            let when = |t: i64| {
                chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            };
            if json {
                let by_source: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(s, n)| (s.clone(), (*n).into()))
                    .collect();
                let harvests: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "harvest": r.harvest, "status": r.status.as_str(),
                            "started_at": when(r.started_at), "finished_at": r.finished_at.map(when),
                            "pages": r.pages, "records": r.records, "added": r.added,
                            "updated": r.updated, "message": r.message,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "papers": total, "by_source": by_source, "harvests": harvests, "data_dir": engine.config().data_dir })
                );
            } else {
                println!("{total} papers in {}", engine.config().data_dir.display());
                for (source, n) in counts {
                    println!("  {source:<16} {n}");
                }
                if runs.is_empty() {
                    println!("no harvest has run (paperscout harvest arxiv|hf-daily)");
                }
                for r in runs {
                    println!(
                        "last harvest of {}: {} at {}, {} added, {} updated{}",
                        r.harvest,
                        r.status.as_str(),
                        when(r.started_at),
                        r.added,
                        r.updated,
                        r.message.map(|m| format!(" ({m})")).unwrap_or_default()
                    );
                }
            }
        }
        Command::Bench(Bench::Encode { beir, limit, json }) => bench_encode(g, &beir, limit, json)?,
        Command::Bench(Bench::Snapshot {
            fixture,
            records,
            out,
        }) => bench_snapshot(&fixture, records, &out)?,
        Command::Bench(Bench::Digest {
            beir,
            subscribers,
            new,
            scratch_dir,
            json,
        }) => bench_digest(g, &beir, subscribers, new, scratch_dir, json)?,
        Command::Bench(Bench::Threshold {
            beir,
            qrels,
            scratch_dir,
        }) => bench_threshold(g, &beir, qrels, scratch_dir)?,
        Command::Bench(Bench::Query {
            beir,
            qrels,
            limit,
            scratch_dir,
            json,
        }) => bench_query(g, &beir, qrels, limit, scratch_dir, json)?,
        Command::Model => {
            let mut spec = ModelSpec::new(g.cache_dir()?);
            spec.dir = g.model.clone();
            spec.repo = g.model_repo.clone();
            let m = paperscout_app::resolve_model(&spec)?;
            println!("{} ({})", m.dir.display(), m.how);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonHit<'a> {
    rank: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<SearchMode>,
    #[serde(flatten)]
    hit: &'a Hit,
}

fn print_hits(hits: &[Hit], json: bool, mode: Option<SearchMode>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        for (i, hit) in hits.iter().enumerate() {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&JsonHit {
                    rank: i + 1,
                    mode,
                    hit
                })?
            )?;
        }
        return Ok(());
    }
    if hits.is_empty() {
        writeln!(out, "no papers found")?;
        return Ok(());
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (bold, mark, dim, reset) = if color {
        ("\x1b[1m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    // Text from papers may hold terminal escape sequences; never pass them through.
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
    };
    for (i, hit) in hits.iter().enumerate() {
        writeln!(out, "{:>2}. {bold}{}{reset}", i + 1, clean(&hit.title))?;
        let mut meta = format!("{}  score {:.4}", hit.id, hit.score);
        if let Some(d) = hit.published {
            meta.push_str(&format!("  {d}"));
        }
        if !hit.authors.is_empty() {
            meta.push_str(&format!("  {}", clean(&hit.authors.join(", "))));
        }
        writeln!(out, "    {dim}{meta}{reset}")?;
        let snippet = if color {
            hit.snippet.render(mark, reset, clean)
        } else {
            hit.snippet.render("*", "*", clean)
        };
        if !snippet.is_empty() {
            writeln!(out, "    {snippet}")?;
        }
    }
    Ok(())
}

fn eval(
    g: &Global,
    beir: &Path,
    qrels: Option<PathBuf>,
    modes: Vec<SearchMode>,
    scratch: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let corpus = Input::resolve(beir, Some(Format::Beir)).map_err(paperscout_app::Error::from)?;
    let qrels_path = qrels.unwrap_or_else(|| beir.join("qrels").join("test.tsv"));
    let queries_path = beir.join("queries.jsonl");
    let qrels = load_qrels(&qrels_path)?;
    let queries = load_queries(&queries_path)?;
    let modes = if modes.is_empty() {
        SearchMode::ALL.to_vec()
    } else {
        modes
    };
    let needs_encoder = modes.iter().any(|m| m.needs_encoder());
    let engine = scratch_engine(g, corpus, scratch, needs_encoder)?;
    let metrics = evaluate(&engine, &queries, &qrels, &modes, g.fusion, &Bars::new())?;
    for m in &metrics {
        if json {
            println!("{}", serde_json::to_string(m)?);
        } else {
            println!(
                "{:<8}  nDCG@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}  ({} queries)",
                m.mode.as_str(),
                m.ndcg_10,
                m.recall_100,
                m.mrr_10,
                m.queries
            );
        }
    }
    Ok(())
}

/// An engine over a BEIR corpus in a scratch data dir: by default one per corpus file (path,
/// size, mtime) in the cache dir, so a second run reuses the first one's embeddings.
fn scratch_engine(
    g: &Global,
    corpus: Input,
    scratch: Option<PathBuf>,
    encode: bool,
) -> Result<Engine> {
    let scratch = match scratch {
        Some(d) => d,
        None => {
            let meta = std::fs::metadata(&corpus.path)?;
            let canonical = corpus.path.canonicalize()?;
            let key = format!(
                "{}:{}:{:?}",
                canonical.display(),
                meta.len(),
                meta.modified().ok()
            );
            let digest: String = Sha256::digest(key.as_bytes())[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            g.cache_dir()?.join("eval").join(digest)
        }
    };
    let engine = Engine::open(g.config(Some(scratch), false)?, Arc::new(Bars::new()))?;
    let report = engine.ingest(
        &[corpus],
        IngestOptions {
            skip_bad: false,
            encode,
        },
    )?;
    tracing::info!(
        added = report.added,
        unchanged = report.unchanged,
        encoded = report.encoded,
        "corpus ready"
    );
    Ok(engine)
}

#[derive(Serialize)]
struct QueryBench {
    /// A search mode, or `encode`: the query's encoding alone (what the peer measures).
    mode: &'static str,
    precision: String,
    queries: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

fn bench_query(
    g: &Global,
    beir: &Path,
    qrels: Option<PathBuf>,
    limit: usize,
    scratch: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let corpus = Input::resolve(beir, Some(Format::Beir))?;
    let queries = load_queries(&beir.join("queries.jsonl"))?;
    let mut ids: Vec<&String> = match &qrels {
        Some(path) => {
            let judged = load_qrels(path)?;
            queries.keys().filter(|q| judged.contains_key(*q)).collect()
        }
        None => queries.keys().collect(),
    };
    ids.sort();
    ids.truncate(limit);
    if ids.is_empty() {
        bail!("no queries to run");
    }
    let engine = scratch_engine(g, corpus, scratch, true)?;
    // Warm up: load the model and the vector index outside the measurement.
    engine.search("warm up", SearchMode::Hybrid, 10)?;
    let encoder = engine.encoder()?;
    for mode in [
        Some(SearchMode::Lexical),
        Some(SearchMode::Semantic),
        Some(SearchMode::Hybrid),
        None,
    ] {
        let mut ms: Vec<f64> = Vec::with_capacity(ids.len());
        for q in &ids {
            let start = Instant::now();
            match mode {
                Some(mode) => drop(engine.search(&queries[*q], mode, 10)?),
                None => drop(encoder.embed_owned(vec![queries[*q].clone()])?),
            }
            ms.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
        let r = QueryBench {
            mode: mode.map_or("encode", |m| m.as_str()),
            precision: g.precision.to_string(),
            queries: ms.len(),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        };
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{:<8}  p50 {:.2} ms  p99 {:.2} ms  mean {:.2} ms  ({} queries, one at a time)",
                r.mode, r.p50_ms, r.p99_ms, r.mean_ms, r.queries
            );
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct EncodeBench {
    precision: String,
    docs: usize,
    docs_per_s: f64,
    seconds: f64,
    batch_size: usize,
    threads: usize,
    peak_rss_mb: Option<f64>,
}

fn bench_encode(g: &Global, beir: &Path, limit: usize, json: bool) -> Result<()> {
    let corpus = Input::resolve(beir, Some(Format::Beir))?;
    let texts: Vec<String> = corpus
        .records(None)?
        .take(limit)
        .map(|r| r.map(|p| p.embedding_text()))
        .collect::<Result<_, _>>()?;
    let scratch = tempfile::tempdir()?;
    let engine = Engine::open(
        g.config(Some(scratch.path().into()), false)?,
        Arc::new(paperscout_app::NoProgress),
    )?;
    let encoder = engine.encoder()?;
    let bars = Bars::new();
    use paperscout_app::Progress;
    bars.begin("encoding", texts.len() as u64);
    let start = Instant::now();
    for chunk in texts.chunks(256) {
        encoder.embed_owned(chunk.to_vec())?;
        bars.advance(chunk.len() as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    bars.end();
    let r = EncodeBench {
        precision: g.precision.to_string(),
        docs: texts.len(),
        docs_per_s: texts.len() as f64 / seconds,
        seconds,
        batch_size: g.batch_size,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        peak_rss_mb: peak_rss_mb(),
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} docs in {:.1}s: {:.1} docs/s ({}, batch {}, {} threads, peak RSS {:.0} MiB)",
            r.docs,
            r.seconds,
            r.docs_per_s,
            r.precision,
            r.batch_size,
            r.threads,
            r.peak_rss_mb.unwrap_or(0.0)
        );
    }
    Ok(())
}

/// The server's signing secret: PAPERSCOUT_SECRET (any string of 32+ bytes), else the one kept
/// in the data dir.
fn server_secret(data_dir: &std::path::Path) -> Result<Vec<u8>> {
    match std::env::var("PAPERSCOUT_SECRET") {
        Ok(s) if s.len() >= paperscout_server::secret::MIN_SECRET_BYTES => Ok(s.into_bytes()),
        Ok(_) => bail!(
            "PAPERSCOUT_SECRET must be at least {} bytes long",
            paperscout_server::secret::MIN_SECRET_BYTES
        ),
        Err(_) => {
            let path = data_dir.join("secret");
            paperscout_server::secret::load_or_create(&path).with_context(|| {
                format!("cannot read or create the server secret {}", path.display())
            })
        }
    }
}

/// How long a command's write waits for another process's write transaction (an ingest of
/// millions of papers holds one for minutes).
const BATCH_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);
/// After the server stops, how long background work may take to reach its next step.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn serve(
    g: &Global,
    addr: std::net::SocketAddr,
    [reads_per_minute, votes_per_minute, subscribes_per_hour]: [u32; 3],
    secure_cookies: bool,
    harvest: Option<paperscout_app::HarvestPlan>,
    limits: &serve_limits::ServeLimits,
) -> Result<()> {
    let digest = g.digest_config(&format!("http://{addr}"))?;
    let engine = Arc::new(g.engine()?);
    let mut options = paperscout_server::Options::new(server_secret(&engine.config().data_dir)?);
    options.reads_per_minute = reads_per_minute;
    options.votes_per_minute = votes_per_minute;
    options.secure_cookies = secure_cookies;
    options.subscribes_per_hour = subscribes_per_hour;
    limits.apply(&mut options);
    match &digest.smtp {
        Some(url) => tracing::info!(smtp = %url, base_url = %digest.base_url, "daily digest on"),
        None => tracing::info!("no SMTP server configured (PAPERSCOUT_SMTP_URL): daily digest off"),
    }
    options.digest = digest;
    options.harvest = harvest;
    let papers = engine.store().count()?;
    let state = paperscout_server::AppState::new(engine, &options).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let metrics_addr = limits.metrics_addr;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (is another server running there? pick another with --addr)"))?;
        if let Some(maddr) = metrics_addr {
            let metrics = tokio::net::TcpListener::bind(maddr)
                .await
                .with_context(|| format!("cannot listen on {maddr} for /metrics (--metrics-addr)"))?;
            tracing::info!("serving /metrics at http://{}/metrics only", metrics.local_addr()?);
            let state = state.clone();
            tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(e) = paperscout_server::serve_metrics(state, metrics, forever).await {
                    tracing::error!(error = %e, "the /metrics listener failed");
                }
            });
        }
        let local = listener.local_addr()?;
        tracing::info!(papers, "serving http://{local}/ (Ctrl-C stops)");
        eprintln!("paperscout: serving {papers} papers at http://{local}/");
        paperscout_server::serve(state, listener, paperscout_server::shutdown_signal()).await?;
        Ok(())
    });
    // Work still on the blocking pool (a digest run, say) gets a moment to finish; the process
    // exits regardless, and every write it did not commit rolls back.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

fn run_harvest(g: &Global, cmd: HarvestCmd) -> Result<()> {
    let config = g
        .config_file()?
        .harvest_config(&g.harvest_overrides(Vec::new(), Vec::new()))?;
    let (spec, encode, json) = match cmd {
        HarvestCmd::Arxiv {
            set,
            from,
            until,
            no_encode,
            json,
        } => {
            paperscout_app::harvest::validate_set(&set)?;
            if let (Some(f), Some(u)) = (from, until) {
                if f > u {
                    return Err(paperscout_app::Error::Invalid(format!(
                        "--from {f} is after --until {u}"
                    ))
                    .into());
                }
            }
            (
                paperscout_app::HarvestSpec::Arxiv { set, from, until },
                !no_encode,
                json,
            )
        }
        HarvestCmd::HfDaily {
            date,
            no_encode,
            json,
        } => (
            paperscout_app::HarvestSpec::HfDaily { date },
            !no_encode,
            json,
        ),
    };
    let engine = g.engine()?;
    let r = paperscout_app::harvest::harvest(&engine, &config, &spec, encode, chrono::Utc::now())?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{}: {} — {} pages, {} records: {} added, {} updated, {} bad records skipped, {} requests retried",
            r.harvest, r.status, r.pages, r.records, r.added, r.updated, r.skipped, r.retries
        );
        if let Some(m) = &r.message {
            println!("  {m}");
        }
    }
    if r.status == "failed" {
        bail!(
            "the harvest of {} failed (its papers so far are kept; the next run resumes)",
            r.harvest
        );
    }
    Ok(())
}

fn digest(g: &Global, cmd: DigestCmd) -> Result<()> {
    let config = g.digest_config("http://127.0.0.1:7878")?;
    let engine = Arc::new(g.engine()?);
    let secret = server_secret(&engine.config().data_dir)?;
    let digests = paperscout_app::Digests::new(engine.clone(), config, &secret)?;
    let now = chrono::Utc::now();
    match cmd {
        DigestCmd::Send {
            now: force,
            dry_run: true,
        } => {
            let planned = digests.dry_run(now, force)?;
            if planned.is_empty() {
                println!("no digest is due");
            }
            for p in planned {
                println!(
                    "{} ({}): {}  [{} trending, {} matching, {} new papers looked at]",
                    p.email,
                    p.local_date,
                    p.subject,
                    p.digest.trending.len(),
                    p.digest.matches.len(),
                    p.digest.new_papers
                );
            }
        }
        DigestCmd::Send {
            now: force,
            dry_run: false,
        } => {
            let r = digests.run(now, force)?;
            let d = r.delivery;
            println!(
                "{} due: {} queued, {} with nothing new (not sent); mail: {} sent, {} to retry, {} failed, {} cancelled",
                r.due, r.queued, r.skipped_empty, d.sent, d.retrying, d.failed, d.cancelled
            );
            if d.failed > 0 || d.retrying > 0 {
                eprintln!("some mail could not be sent; the log says why (-v)");
            }
        }
        DigestCmd::Status { json } => {
            let o = engine.store().outbox_stats()?;
            let active = engine.store().active_subscribers()?.len();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "active_subscribers": active,
                        "outbox": {"pending": o.pending, "sent": o.sent, "failed": o.failed, "skipped": o.skipped},
                        "smtp": digests.config().smtp.as_ref().map(|u| u.to_string()),
                    })
                );
            } else {
                println!("{active} active subscribers");
                println!(
                    "outbox: {} waiting, {} sent, {} failed, {} days with nothing new",
                    o.pending, o.sent, o.failed, o.skipped
                );
                match &digests.config().smtp {
                    Some(u) => println!("smtp: {u}"),
                    None => println!("smtp: not configured (PAPERSCOUT_SMTP_URL)"),
                }
            }
        }
    }
    Ok(())
}

fn bench_threshold(
    g: &Global,
    beir: &Path,
    qrels: Option<PathBuf>,
    scratch: Option<PathBuf>,
) -> Result<()> {
    let corpus = Input::resolve(beir, Some(Format::Beir))?;
    let qrels = load_qrels(&qrels.unwrap_or_else(|| beir.join("qrels").join("test.tsv")))?;
    let queries = load_queries(&beir.join("queries.jsonl"))?;
    let engine = scratch_engine(g, corpus, scratch, true)?;
    let thresholds: Vec<f32> = (4..=14).map(|i| i as f32 * 0.05).collect();
    let rows = paperscout_app::eval::similarity_thresholds(
        &engine,
        &queries,
        &qrels,
        &thresholds,
        &Bars::new(),
    )?;
    println!("threshold  recall(relevant)  above/query  precision(lower bound)");
    for r in &rows {
        println!(
            "{:>9.2}  {:>16.3}  {:>11.1}  {:>22.3}",
            r.threshold, r.recall, r.above_per_query, r.precision_lower_bound
        );
    }
    if let Some(r) = rows.first() {
        println!(
            "({} judged queries, {} papers)",
            r.queries,
            engine.store().count()?
        );
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct DigestBench {
    subscribers: usize,
    new_papers: usize,
    distinct_interests: usize,
    queued: usize,
    sent: usize,
    build_s: f64,
    deliver_s: f64,
    total_s: f64,
    mails_per_s: f64,
    rss_before_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
}

/// Writes a snapshot of `records` lines cycling through `fixture`'s records, each with a new
/// arXiv id (and its DOI made unique), so that every line is a distinct paper.
fn write_snapshot(fixture: &Path, records: usize, out: &Path) -> Result<()> {
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(fixture)
        .with_context(|| format!("cannot read {}", fixture.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not JSON lines", fixture.display()))?;
    if lines.is_empty() {
        bail!("{} holds no records", fixture.display());
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..records {
        let mut record = lines[i % lines.len()].clone();
        // YYMM.NNNNN: 100,000 ids per month from January 2010.
        let month = 1001 + i / 100_000;
        if month > 9912 {
            bail!("at most {} records", (9912 - 1001) * 100_000);
        }
        record["id"] = format!("{month:04}.{:05}", i % 100_000).into();
        if let Some(dois) = record["doi"].as_str() {
            let unique: Vec<String> = dois
                .split_whitespace()
                .map(|d| format!("{d}.r{i}"))
                .collect();
            record["doi"] = unique.join(" ").into();
        }
        serde_json::to_writer(&mut w, &record)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

fn bench_snapshot(fixture: &Path, records: usize, out: &Path) -> Result<()> {
    let t = Instant::now();
    write_snapshot(fixture, records, out)?;
    let bytes = std::fs::metadata(out)?.len();
    println!(
        "{}: {records} records, {:.1} MiB, written in {:.1} s",
        out.display(),
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench_digest(
    g: &Global,
    beir: &Path,
    subscribers: usize,
    new: usize,
    scratch: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let config = g.digest_config("https://papers.example.org")?;
    if config.smtp.is_none() {
        bail!("bench digest sends real mail: give --smtp-url (e.g. the `mailsink` server)");
    }
    let corpus = Input::resolve(beir, Some(Format::Beir))?;
    let source_dir = scratch_engine(g, corpus, scratch, true)?
        .config()
        .data_dir
        .clone();
    // Work on a copy: subscribers and the outbox start empty on every run.
    let work = tempfile::tempdir()?;
    copy_dir(&source_dir, work.path())?;
    let engine = Arc::new(Engine::open(
        g.config(Some(work.path().to_path_buf()), false)?,
        Arc::new(Bars::new()),
    )?);
    engine.ensure_embeddings()?;
    let digests = paperscout_app::Digests::new(engine.clone(), config, &[7u8; 64])?;
    let now = chrono::Utc::now();
    let max_key = engine.store().max_paper_key()?;
    let since = (max_key - new as i64).max(0);
    // Interests: the dataset's queries short enough to be one (as a subscriber would type them).
    let mut pool: Vec<String> = load_queries(&beir.join("queries.jsonl"))?
        .into_values()
        .filter(|q| q.chars().count() <= 100 && !q.contains(','))
        .collect();
    pool.sort();
    pool.truncate(1000);
    if pool.is_empty() {
        bail!("no queries to use as interests");
    }
    // Some trending: votes on a few of today's papers.
    for (i, key) in (since + 1..=max_key).step_by(25).take(20).enumerate() {
        if let Some(p) = engine.store().get_by_key(key)? {
            for v in 0..=(i % 4) {
                engine.upvote(&p.paper.id, &format!("voter-{v}"), now)?;
            }
        }
    }
    const ZONES: [&str; 6] = [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "America/Los_Angeles",
    ];
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut used = std::collections::HashSet::new();
    for i in 0..subscribers {
        let topics: Vec<&str> = (0..=(next() % 3))
            .map(|_| pool[(next() % pool.len() as u64) as usize].as_str())
            .collect();
        for t in &topics {
            used.insert(t.to_lowercase());
        }
        digests.import(
            &paperscout_app::SubscriptionRequest {
                email: format!("reader{i}@example.org"),
                interests: topics.join(", "),
                categories: Vec::new(),
                hour: Some((next() % 24) as u8),
                timezone: Some(ZONES[i % ZONES.len()].to_string()),
            },
            since,
            now,
        )?;
    }
    let rss_before = paperscout_app::rss_mb();
    // Reset the peak so it measures the run alone (Linux: clear_refs 5 resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let report = digests.run(now, true)?;
    let total = started.elapsed().as_secs_f64();
    let r = DigestBench {
        subscribers,
        new_papers: new,
        distinct_interests: used.len(),
        queued: report.queued,
        sent: report.delivery.sent,
        build_s: report.build_s,
        deliver_s: report.deliver_s,
        total_s: total,
        mails_per_s: report.delivery.sent as f64 / total,
        rss_before_mb: rss_before,
        peak_rss_mb: peak_rss_mb(),
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} subscribers ({} distinct interests, {} new papers): {} digests queued, {} sent\n\
             build {:.1} s + send {:.1} s = {:.1} s, {:.0} mails/s; RSS {:.0} MiB before, peak {:.0} MiB during the run",
            r.subscribers, r.distinct_interests, r.new_papers, r.queued, r.sent,
            r.build_s, r.deliver_s, r.total_s, r.mails_per_s,
            r.rss_before_mb.unwrap_or(f64::NAN), r.peak_rss_mb.unwrap_or(f64::NAN)
        );
    }
    if report.delivery.failed > 0 || report.delivery.retrying > 0 {
        bail!(
            "{} mails failed and {} wait to retry",
            report.delivery.failed,
            report.delivery.retrying
        );
    }
    Ok(())
}
