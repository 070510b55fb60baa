//! Work that runs beside the requests, never inside one: the upkeep thread (index catch-up,
//! model loading, encoding backlogs), the digest and harvest schedulers, and the pruning of
//! idle rate-limit state. Imports only `state`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use paperscout_app::harvest::{harvest, last_runs};
use paperscout_app::{error_chain, Digests, Engine, HarvestPlan};

use crate::state::AppState;

/// A scheduler's hold on its role cluster-wide (a session advisory lock on PostgreSQL; see `Store::lead`): held
/// across ticks, checked before each run, taken (again) when free.
#[derive(Debug)]
struct Role {
    name: &'static str,
    held: Mutex<Option<paperscout_app::Leader>>,
}

impl Role {
    fn new(name: &'static str) -> Arc<Role> {
        Arc::new(Role {
            name,
            held: Mutex::new(None),
        })
    }

    /// Whether this process may run the role's work now (blocking: call off the runtime).
    fn hold(&self, engine: &Engine) -> paperscout_app::Result<bool> {
        use paperscout_app::sync::MutexExt;
        let mut held = self.held.lock_unpoisoned();
        if let Some(leader) = held.as_mut() {
            if leader.still_held() {
                return Ok(true);
            }
            tracing::warn!(
                role = self.name,
                "lost the {} role (its database connection broke)",
                self.name
            );
            *held = None;
        }
        *held = engine.store().lead(self.name)?;
        if held.is_some() && engine.store().is_shared() {
            tracing::info!(
                role = self.name,
                "this process runs the {} scheduler",
                self.name
            );
        }
        Ok(held.is_some())
    }
}

/// How often the digest and harvest schedulers look for due work: a minute, unless
/// `PAPERSCOUT_SCHEDULER_TICK_SECS` says otherwise (with several replicas it is also how soon
/// another takes a scheduler over after the one running it died).
fn scheduler_tick() -> Duration {
    std::env::var("PAPERSCOUT_SCHEDULER_TICK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60))
}

/// Starts everything but the upkeep thread (see [`spawn_upkeep`]), as tasks on the runtime.
pub(crate) fn spawn_schedulers(state: &AppState) {
    spawn_digest_scheduler(state);
    spawn_harvest_scheduler(state);
    let limits = state.limits().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.forget_idle();
        }
    });
}

/// Runs the digest scheduler until the server stops: every minute, builds the digests that
/// have come due and sends what the outbox holds; a subscription request wakes it at once so
/// the confirmation goes out without waiting.
pub(crate) fn spawn_digest_scheduler(state: &AppState) {
    let digests = state.digests().clone();
    if !digests.can_send() {
        // (`serve` says so at start, with the variable to set.)
        tracing::debug!("no SMTP server configured: daily digests are off");
        return;
    }
    let wakeup = state.mail_wakeup().clone();
    let engine = state.engine().clone();
    let role = Role::new("digest");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(scheduler_tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let full = tokio::select! {
                _ = tick.tick() => true,
                _ = wakeup.notified() => false,
            };
            let d: Arc<Digests> = digests.clone();
            let (engine, role) = (engine.clone(), role.clone());
            let result = tokio::task::spawn_blocking(move || {
                if full {
                    // Building the day's digests runs on one process of the cluster at a
                    // time; every claim and every send is also guarded in the store (a
                    // digest day is claimed once, a mail is leased before it is sent), so a
                    // former holder that has not noticed yet cannot send twice either.
                    if !role.hold(&engine)? {
                        return Ok(Default::default());
                    }
                    d.run(Utc::now(), false).map(|r| r.delivery)
                } else {
                    // A confirmation mail just queued here: any process may send it (the
                    // lease on the mail keeps it to one).
                    d.deliver(Utc::now())
                }
            })
            .await;
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %error_chain(&e), "digest run failed; retrying in a minute")
                }
                Err(e) => tracing::error!(error = %e, "digest run panicked; retrying in a minute"),
            }
        }
    });
}

/// Runs the harvest scheduler until the server stops: every minute, runs the harvests whose
/// scheduled time has come (one after another, on the blocking pool).
pub(crate) fn spawn_harvest_scheduler(state: &AppState) {
    let Some(plan) = state.harvest_plan().cloned() else {
        return;
    };
    let names: Vec<String> = plan.schedule.harvests.iter().map(|h| h.name()).collect();
    tracing::info!(harvests = ?names, at = ?plan.schedule.at, "scheduled harvests on (times in UTC)");
    let engine = state.engine().clone();
    let role = Role::new("harvest");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(scheduler_tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (engine, role) = (engine.clone(), role.clone());
            let plan: Arc<HarvestPlan> = plan.clone();
            let result = tokio::task::spawn_blocking(move || -> paperscout_app::Result<()> {
                // One process of the cluster schedules harvests (each run is also recorded
                // in the store, so no harvest runs twice at once whoever starts it).
                if !role.hold(&engine)? {
                    return Ok(());
                }
                let due = plan.schedule.due(&last_runs(&engine)?, Utc::now());
                for spec in due {
                    // A failing source is recorded (and shown); the others still run.
                    match harvest(&engine, &plan.config, &spec, false, Utc::now()) {
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(harvest = %spec.name(), error = %error_chain(&e), "harvest not run")
                        }
                    }
                }
                // The server's upkeep thread encodes the new papers; searches meanwhile use
                // the vectors encoded so far.
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %error_chain(&e), "harvest scheduler failed; retrying in a minute")
                }
                Err(e) => {
                    tracing::error!(error = %e, "harvest scheduler panicked; retrying in a minute")
                }
            }
        }
    });
}

/// How often the upkeep thread looks for work when there was none.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the thread that does the engine's background work (see [`serve`]) until
/// [`Engine::stop`]. Requests from then on never wait for it.
pub(crate) fn spawn_upkeep(engine: Arc<Engine>) -> std::io::Result<std::thread::JoinHandle<()>> {
    engine.set_background(true);
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("paperscout-upkeep".into())
        .spawn(move || {
            let _span = span.enter();
            // Catching up with other processes' writes runs beside the encoding (which may
            // load the model for seconds, or encode a backlog), so what another replica or an
            // ingest wrote is searchable here within a second either way.
            std::thread::scope(|scope| {
                let spawned = std::thread::Builder::new()
                    .name("paperscout-catch-up".into())
                    .spawn_scoped(scope, || catch_up_loop(&engine));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start the catch-up thread; the upkeep catches up alone");
                }
                upkeep_loop(&engine);
            });
        })
}

/// Brings the indexes up to other processes' writes, woken by each (PostgreSQL) or every
/// interval, until the engine stops.
fn catch_up_loop(engine: &Engine) {
    let mut failing = false;
    while !engine.is_stopping() {
        match engine.catch_up() {
            Ok(()) => failing = false,
            Err(e) if e.kind() == paperscout_app::ErrorKind::Busy => {}
            Err(e) => {
                if !failing {
                    tracing::error!(error = %error_chain(&e), "catching up with the store failed; retrying");
                }
                failing = true;
            }
        }
        if engine.store().is_shared() {
            // Another process's write wakes this one at once (LISTEN/NOTIFY); the interval
            // covers a notification lost to a reconnect.
            engine.wait_for_change(UPKEEP_INTERVAL);
        } else {
            sleep_unless_stopping(engine, UPKEEP_INTERVAL);
        }
    }
}

/// Loads the model and the vector index, and encodes what lacks an embedding (sharing the
/// work with other processes), until the engine stops.
fn upkeep_loop(engine: &Engine) {
    let mut failing = false;
    let mut announced = false;
    while !engine.is_stopping() {
        match engine.upkeep() {
            Ok(0) => {
                // Said once, when the model is loaded and every paper encoded: from here on
                // semantic and hybrid search cover the whole corpus.
                if !announced {
                    if let Some((kind, n, _)) = engine.vector_index() {
                        tracing::info!(index = kind, "semantic search ready ({n} papers)");
                        announced = true;
                    }
                }
            }
            Ok(n) => {
                tracing::info!(papers = n, "encoded papers that lacked embeddings");
                // More may be waiting: the next round right away.
                failing = false;
                continue;
            }
            Err(e) if e.kind() == paperscout_app::ErrorKind::Busy => {}
            Err(e) => {
                if !failing {
                    tracing::error!(
                        error = %error_chain(&e),
                        "background upkeep failed (semantic and hybrid search may be unavailable); retrying every minute"
                    );
                }
                failing = true;
                sleep_unless_stopping(engine, Duration::from_secs(60));
                continue;
            }
        }
        failing = false;
        sleep_unless_stopping(engine, UPKEEP_INTERVAL);
    }
    // Shutting down: keep the approximate vector index's changes for the next start.
    if let Err(e) = engine.save_vectors_if_changed() {
        tracing::warn!(error = %error_chain(&e), "could not save the vector index");
    }
}

fn sleep_unless_stopping(engine: &Engine, total: Duration) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < total && !engine.is_stopping() {
        std::thread::sleep(step);
        slept += step;
    }
}
