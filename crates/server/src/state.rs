//! What every handler shares: the engine, the digests, and the parts the layers own (limits,
//! voter keys, metrics), behind accessors. Imports `error`, `limit`, `metrics` and `voter`
//! for their types; none of them imports this module (their middleware takes its own part of
//! the state through [`FromRef`]).

use std::sync::Arc;

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use chrono::Utc;
use paperscout_app::{Digests, Engine, HarvestPlan, PaperId, VoteState};

use crate::conn::ConnectionLimits;
use crate::error::ApiError;
use crate::limit::{ClientIp, Limits};
use crate::metrics::Metrics;
use crate::voter::{Visitor, Voters};
use crate::{secret, Options};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    engine: Arc<Engine>,
    digests: Arc<Digests>,
    /// Wakes the mail scheduler (a subscription request queued a confirmation).
    mail_wakeup: Arc<tokio::sync::Notify>,
    harvest: Option<Arc<HarvestPlan>>,
    voters: Arc<Voters>,
    metrics: Arc<Metrics>,
    limits: Arc<Limits>,
    connections: ConnectionLimits,
    metrics_elsewhere: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>, options: &Options) -> Result<AppState, String> {
        let keys = secret::derive(&options.secret)?;
        let digests = Digests::new(engine.clone(), options.digest.clone(), &options.secret)
            .map_err(|e| e.to_string())?;
        engine
            .store()
            .set_busy_timeout(options.write_wait)
            .map_err(|e| e.to_string())?;
        Ok(AppState(Arc::new(Inner {
            engine,
            digests: Arc::new(digests),
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
            harvest: options.harvest.clone().map(Arc::new),
            voters: Arc::new(Voters::new(
                Key::from(&keys.cookie),
                keys.csrf.to_vec(),
                options.secure_cookies,
            )),
            metrics: Arc::new(Metrics::new()),
            limits: Arc::new(Limits::new(
                options.reads_per_minute,
                options.votes_per_minute,
                options.subscribes_per_hour,
                options.encoder,
            )),
            connections: options.connections,
            metrics_elsewhere: options.metrics_elsewhere,
        })))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    pub fn digests(&self) -> &Arc<Digests> {
        &self.0.digests
    }

    pub(crate) fn mail_wakeup(&self) -> &Arc<tokio::sync::Notify> {
        &self.0.mail_wakeup
    }

    /// The scheduled harvests, if any are configured.
    pub(crate) fn harvest_plan(&self) -> Option<&Arc<HarvestPlan>> {
        self.0.harvest.as_ref()
    }

    pub(crate) fn voters(&self) -> &Arc<Voters> {
        &self.0.voters
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    pub(crate) fn limits(&self) -> &Arc<Limits> {
        &self.0.limits
    }

    pub(crate) fn connections(&self) -> ConnectionLimits {
        self.0.connections
    }

    pub(crate) fn metrics_elsewhere(&self) -> bool {
        self.0.metrics_elsewhere
    }

    /// Runs engine work on the blocking pool (it encodes, reads SQLite and searches indexes).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> paperscout_app::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        on_blocking_pool(self.0.engine.clone(), f).await
    }

    /// Runs digest work (subscriptions, rendering, the outbox) on the blocking pool.
    pub(crate) async fn blocking_digests<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Digests) -> paperscout_app::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        on_blocking_pool(self.0.digests.clone(), f).await
    }

    /// Casts or takes back `visitor`'s vote, rate-limited per IP: the one way the page and
    /// the API vote.
    pub(crate) async fn vote(
        &self,
        ip: ClientIp,
        visitor: &Visitor,
        id: PaperId,
        up: bool,
    ) -> Result<VoteState, ApiError> {
        if visitor.is_new {
            // Every request without the cookie would otherwise be a new voter: one client could
            // vote any number of times. The cookie comes with any page or API answer.
            return Err(ApiError::forbidden(
                "voting needs the cookie this site sets on your first visit: GET any page or API route first, then vote sending the cookie it set",
            ));
        }
        self.limits().check_vote(ip)?;
        let voter = visitor.id.clone();
        let result = self
            .blocking(move |e| {
                if up {
                    e.upvote(&id, &voter, Utc::now())
                } else {
                    e.unvote(&id, &voter)
                }
            })
            .await?;
        if up {
            self.metrics().votes.inc();
        }
        Ok(result)
    }
}

async fn on_blocking_pool<S: Send + Sync + 'static, T: Send + 'static>(
    subject: Arc<S>,
    f: impl FnOnce(&S) -> paperscout_app::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(move || f(&subject)).await??)
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.0.voters.cookie_key().clone()
    }
}

impl FromRef<AppState> for Arc<Voters> {
    fn from_ref(state: &AppState) -> Arc<Voters> {
        state.0.voters.clone()
    }
}

impl FromRef<AppState> for Arc<Limits> {
    fn from_ref(state: &AppState) -> Arc<Limits> {
        state.0.limits.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Arc<Metrics> {
        state.0.metrics.clone()
    }
}
