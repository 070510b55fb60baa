//! Flags that more than one command reads: the global ones, and the mail and harvest settings
//! flattened into the commands that send mail or fetch papers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use paperscout_app::{
    Config, DatabaseUrl, DigestConfig, Engine, Fusion, ModelSpec, Precision, VectorChoice,
    DEFAULT_REPO,
};

use crate::config;
use crate::progress::Bars;

/// How long a command's write waits for another process's write transaction (an ingest of
/// millions of papers holds one for minutes).
const BATCH_WRITE_WAIT: Duration = Duration::from_secs(3600);

#[derive(Args, Debug)]
pub struct Global {
    /// Where papers and indexes are kept [default: the XDG data dir, ~/.local/share/paperscout]
    #[arg(long, env = "PAPERSCOUT_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep papers, votes and subscribers in this PostgreSQL database (postgres://user:pass@host/db),
    /// shared by several paperscout processes, instead of SQLite in the data dir; the data dir
    /// then holds this process's indexes only (config: store.url)
    #[arg(
        long,
        env = "PAPERSCOUT_DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// How long a claim on papers to encode lasts: another process takes over the papers of
    /// an encoder that died once its claim is this old
    #[arg(
        long,
        env = "PAPERSCOUT_ENCODE_LEASE_SECS",
        global = true,
        default_value_t = Config::DEFAULT_ENCODE_LEASE.as_secs(),
        value_name = "SECONDS"
    )]
    pub encode_lease: u64,
    /// Cache for models and evaluation scratch data [default: ~/.cache/paperscout]
    #[arg(long, env = "PAPERSCOUT_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// A local sentence-transformers model folder (config.json, tokenizer.json, model.safetensors)
    #[arg(long, env = "PAPERSCOUT_MODEL", global = true, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// The Hugging Face repo of the model, used when --model is not given
    #[arg(long, env = "PAPERSCOUT_MODEL_REPO", global = true, default_value = DEFAULT_REPO, value_name = "REPO")]
    pub model_repo: String,
    /// Start a new data dir empty instead of with the bundled demo corpus
    #[arg(long, env = "PAPERSCOUT_NO_DEMO", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_demo: bool,
    /// Texts per encoder forward pass
    #[arg(
        long,
        env = "PAPERSCOUT_BATCH_SIZE",
        global = true,
        default_value_t = 32,
        value_name = "N"
    )]
    pub batch_size: usize,
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
    pub precision: Precision,
    /// How hybrid search fuses the rankings: convex[:ALPHA] (min-max), zscore[:ALPHA],
    /// dbsf[:ALPHA] or rrf[:K]; ALPHA is the similarity side's weight
    // This doc comment is `--help` text, where the brackets mean "optional"; escaping them for
    // rustdoc would print the backslashes in the help.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, env = "PAPERSCOUT_FUSION", global = true, default_value_t = Fusion::DEFAULT, value_name = "F")]
    pub fusion: Fusion,
    /// How many candidates each side (BM25, similarity) gives hybrid fusion
    #[arg(long, env = "PAPERSCOUT_FUSION_DEPTH", global = true, default_value_t = paperscout_app::FUSION_DEPTH, value_name = "N")]
    pub fusion_depth: usize,
    /// Which vector index serves semantic search: exact (a scan of every vector), ann
    /// (approximate: HNSW over int8 vectors, saved next to the data), or auto (ann from
    /// 50,000 papers on)
    #[arg(long, env = "PAPERSCOUT_VECTOR_INDEX", global = true, default_value_t = VectorChoice::Auto, value_name = "I")]
    pub vector_index: VectorChoice,
    /// How many query embeddings to cache for repeated queries and paging (0: none)
    #[arg(long, env = "PAPERSCOUT_QUERY_CACHE", global = true, default_value_t = Config::DEFAULT_QUERY_CACHE, value_name = "N")]
    pub query_cache: usize,
    /// Searches on the site and API answer only papers that match a word of the query or
    /// reach this cosine similarity to it (0: every paper)
    #[arg(long, env = "PAPERSCOUT_RELEVANCE_FLOOR", global = true, default_value_t = Config::DEFAULT_RELEVANCE_FLOOR, value_name = "COSINE", value_parser = floor)]
    pub relevance_floor: f32,
    /// The config file (TOML) [default: ~/.config/paperscout/config.toml, if it exists]
    #[arg(
        long = "config",
        env = "PAPERSCOUT_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config_file: Option<PathBuf>,
    /// Log more (-v: info, -vv: debug); PAPERSCOUT_LOG takes a tracing filter
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn floor(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{s}` is not a cosine between 0 and 1")),
    }
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "paperscout")
}

impl Global {
    pub fn cache_dir(&self) -> Result<PathBuf> {
        match (&self.cache_dir, dirs()) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(d)) => Ok(d.cache_dir().to_path_buf()),
            (None, None) => bail!("no home directory to put the cache in; pass --cache-dir"),
        }
    }

    /// Which model to use and where to cache it.
    pub fn model_spec(&self) -> Result<ModelSpec> {
        let mut model = ModelSpec::new(self.cache_dir()?);
        model.dir = self.model.clone();
        model.repo = self.model_repo.clone();
        Ok(model)
    }

    /// The engine's settings, on `data_dir` (else --data-dir, else the XDG data dir); `demo`:
    /// whether a new data dir starts with the demo corpus (unless --no-demo).
    pub fn engine_config(&self, data_dir: Option<PathBuf>, demo: bool) -> Result<Config> {
        let data_dir = match (data_dir.or_else(|| self.data_dir.clone()), dirs()) {
            (Some(d), _) => d,
            (None, Some(d)) => d.data_dir().to_path_buf(),
            (None, None) => bail!("no home directory to keep data in; pass --data-dir"),
        };
        let model = self.model_spec()?;
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if !(1..=10_000).contains(&self.fusion_depth) {
            bail!(
                "--fusion-depth {} is out of range: 1 to 10000 candidates per side",
                self.fusion_depth
            );
        }
        if self.encode_lease == 0 {
            bail!("--encode-lease must be at least 1 second");
        }
        Ok(Config {
            database: self.database_url()?,
            encode_lease: Duration::from_secs(self.encode_lease),
            demo: demo && !self.no_demo,
            fusion: self.fusion,
            fusion_depth: self.fusion_depth,
            batch_size: self.batch_size,
            precision: self.precision,
            vector_index: self.vector_index,
            query_cache: self.query_cache,
            relevance_floor: self.relevance_floor,
            ..Config::new(data_dir, model)
        })
    }

    /// The PostgreSQL database to use: --database (or PAPERSCOUT_DATABASE_URL), else the
    /// config file's `store.url`; `None`: SQLite in the data dir.
    pub fn database_url(&self) -> Result<Option<DatabaseUrl>> {
        let (url, from) = match &self.database {
            Some(url) => (url.clone(), "--database"),
            None => match self.read_config_file()?.store.url {
                Some(url) => (url, "store.url in the config file"),
                None => return Ok(None),
            },
        };
        match url.parse() {
            Ok(url) => Ok(Some(url)),
            Err(e) => Err(paperscout_app::Error::Invalid(format!("{from}: {e}")).into()),
        }
    }

    /// The settings in the config file (--config, else the default location; none if absent).
    pub fn read_config_file(&self) -> Result<config::File> {
        config::load(config::locate(self.config_file.as_deref()).as_deref())
    }

    /// The engine for a command. Its writes wait up to [`BATCH_WRITE_WAIT`] for another
    /// process's (a second ingest waits for the first instead of failing).
    pub fn engine(&self) -> Result<Engine> {
        let engine = Engine::open(self.engine_config(None, true)?, Arc::new(Bars::new()))?;
        engine.store().set_busy_timeout(BATCH_WRITE_WAIT)?;
        Ok(engine)
    }
}

/// How mail is sent, and the site's address for links in it.
#[derive(Args, Debug)]
pub struct MailArgs {
    /// SMTP server for mail, in lettre's URL form: smtp://user:pass@host:587?tls=required,
    /// smtps://user:pass@host (config: smtp.url)
    #[arg(
        long,
        env = "PAPERSCOUT_SMTP_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub smtp_url: Option<String>,
    /// The From of every mail, e.g. "paperscout <digest@example.org>" (config: smtp.from)
    #[arg(
        long,
        env = "PAPERSCOUT_SMTP_FROM",
        global = true,
        value_name = "MAILBOX"
    )]
    pub smtp_from: Option<String>,
    /// The site's public URL, for links in mail [default: http://ADDR] (config: site.base_url)
    #[arg(long, env = "PAPERSCOUT_BASE_URL", global = true, value_name = "URL")]
    pub base_url: Option<String>,
}

impl MailArgs {
    /// Digest settings from these flags, their environment variables and the config file;
    /// `default_base` when no base URL is given anywhere.
    pub fn digest_config(&self, g: &Global, default_base: &str) -> Result<DigestConfig> {
        let overrides = config::Overrides {
            smtp_url: self.smtp_url.clone(),
            smtp_from: self.smtp_from.clone(),
            base_url: self.base_url.clone(),
        };
        g.read_config_file()?.digest(&overrides, default_base)
    }
}

/// Where the sources are and how politely to fetch from them.
#[derive(Args, Debug)]
pub struct HarvestArgs {
    /// arXiv's OAI-PMH endpoint (config: harvest.oai_url)
    #[arg(long, env = "PAPERSCOUT_OAI_URL", global = true, value_name = "URL")]
    pub oai_url: Option<String>,
    /// Hugging Face's daily papers API (config: harvest.hf_url)
    #[arg(long, env = "PAPERSCOUT_HF_URL", global = true, value_name = "URL")]
    pub hf_url: Option<String>,
    /// Seconds between two requests to a source [default: 3] (config: harvest.delay_seconds)
    #[arg(
        long,
        env = "PAPERSCOUT_HARVEST_DELAY",
        global = true,
        value_name = "SECONDS"
    )]
    pub harvest_delay: Option<f64>,
}

impl HarvestArgs {
    /// These flags, with `serve`'s sources and times (empty for a harvest run now).
    pub fn overrides(&self, sources: Vec<String>, at: Vec<String>) -> config::HarvestOverrides {
        config::HarvestOverrides {
            sources,
            at,
            delay_seconds: self.harvest_delay,
            oai_url: self.oai_url.clone(),
            hf_url: self.hf_url.clone(),
        }
    }
}
