//! The daily digest's pages and API: subscribe (form and JSON), confirm, manage, preview and
//! unsubscribe (including RFC 8058 one-click POSTs from mail providers), and the scheduler
//! that builds and sends digests inside `serve`.
//!
//! Every answer to a subscription request is the same whether the address is known or not;
//! links name subscribers only through signed tokens; GET never changes anything (mail
//! scanners follow links), so confirming and unsubscribing from a page take a button press.

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use chrono::Utc;
use maud::{html, Markup};
use paperscout_app::digest::MAX_INTERESTS_CHARS;
use paperscout_app::SubscriptionRequest;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorBody};
use crate::limit::ClientIp;
use crate::respond::{error_page, layout, mail_off_notice, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

/// The preview is a mail's HTML: inline styles, and nothing else allowed.
const PREVIEW_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                           form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const TIMEZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Sydney",
];

fn page(title: &str, body: Markup) -> Markup {
    layout(title, Nav::Subscribe, "", None, body)
}

/// The subscription form, with `values` when re-shown after an error.
fn form_body(
    state: &AppState,
    visitor: &Visitor,
    values: &SubscribeForm,
    message: Option<Markup>,
) -> Markup {
    let can_send = state.digests().can_send();
    html! {
        h1 { "Trending papers in your inbox, once a day" }
        p { "Each morning (your hour, your time zone): the day's trending papers, and the new papers that match your interests. Confirm by mail first; every mail has a one-click unsubscribe link." }
        @if !can_send {
            (mail_off_notice("subscribing"))
        }
        @if let Some(m) = message { (m) }
        form.subscribe method="post" action="/subscribe" {
            input type="hidden" name="csrf" value=(state.voters().csrf_token(visitor));
            // Without mail nothing can be sent: the whole form is shown, but inert.
            fieldset disabled[!can_send] {
                label { "Email" input type="email" name="email" required autocomplete="email" maxlength="254" value=(values.email); }
                (preference_fields(values))
                button type="submit" { "Subscribe" }
            }
        }
    }
}

fn preference_fields(values: &SubscribeForm) -> Markup {
    let hour: u8 = values
        .hour
        .trim()
        .parse()
        .unwrap_or(paperscout_app::digest::DEFAULT_HOUR);
    let tz = if values.timezone.trim().is_empty() {
        "UTC"
    } else {
        values.timezone.trim()
    };
    html! {
        label { "Interests (optional, separated by commas)"
            textarea name="interests" rows="2" maxlength=(MAX_INTERESTS_CHARS) placeholder="sparse retrieval, cross-encoders" { (values.interests) }
        }
        label { "Categories (optional)" input type="text" name="categories" maxlength="200" placeholder="cs.IR cs.CL" value=(values.categories); }
        div.row {
            label { "Hour" select name="hour" {
                @for h in 0..24u8 { option value=(h) selected[h == hour] { (format!("{h:02}:00")) } }
            } }
            label { "Time zone" input type="text" name="timezone" value=(tz) maxlength="64" list="timezones" placeholder="Europe/Paris" data-default=[values.timezone.trim().is_empty().then_some("UTC")]; }
            datalist id="timezones" { @for z in TIMEZONES { option value=(z) {} } }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct SubscribeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    interests: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    hour: String,
    #[serde(default)]
    timezone: String,
}

impl SubscribeForm {
    fn request(&self) -> Result<SubscriptionRequest, ApiError> {
        let hour = match self.hour.trim() {
            "" => None,
            h => Some(h.parse::<u8>().map_err(|_| {
                ApiError::invalid(format!("the delivery hour must be 0 to 23, not {h:?}"))
            })?),
        };
        Ok(SubscriptionRequest {
            email: self.email.clone(),
            interests: self.interests.clone(),
            categories: vec![self.categories.clone()],
            hour,
            timezone: Some(self.timezone.clone()),
        })
    }
}

/// `GET /subscribe`.
pub(crate) async fn subscribe_form(State(state): State<AppState>, visitor: Visitor) -> Response {
    let body = form_body(&state, &visitor, &SubscribeForm::default(), None);
    (visitor.jar.clone(), page("Daily digest", body)).into_response()
}

const CHECK_INBOX: &str = "If this address can receive mail, a message is on its way to it. To start the digest, open the confirmation link inside (it works for 7 days). Nothing is sent before that.";

/// `POST /subscribe`: the same answer whether the address is known or not.
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_page(e.into()),
    };
    if !state.voters().csrf_ok(&visitor, &form.csrf) {
        // Shown again with what was typed, and a fresh token: pressing the button again works.
        return form_again(
            &state,
            &visitor,
            &form,
            ApiError::forbidden(
                "This form had expired or did not come from this site. Check the fields and press Subscribe again.",
            ),
        );
    }
    let result = async {
        state.limits().check_subscribe(ip)?;
        let request = form.request()?;
        state
            .blocking_digests(move |d| d.subscribe(&request, Utc::now()))
            .await
    }
    .await;
    match result {
        Ok(()) => {
            state.mail_wakeup().notify_one();
            let body = html! {
                h1 { "Check your inbox" }
                p.result role="status" { (CHECK_INBOX) }
                p { a href="/" { "Back to trending papers" } }
            };
            (visitor.jar.clone(), page("Check your inbox", body)).into_response()
        }
        // Every refusal (a bad field, the rate limit, no mail configured, a busy store) is
        // said on the form itself, with what was typed kept.
        Err(e) => form_again(&state, &visitor, &form, e),
    }
}

/// The form again, with `values` and why it was refused.
fn form_again(
    state: &AppState,
    visitor: &Visitor,
    values: &SubscribeForm,
    e: ApiError,
) -> Response {
    let message = html! { p.error role="alert" { (e.message) } };
    let body = form_body(state, visitor, values, Some(message));
    let mut response = (e.status, visitor.jar.clone(), page("Daily digest", body)).into_response();
    if let Some(s) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}

/// A subscription request (`POST /api/subscriptions`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionBody {
    /// Where the digest goes.
    #[schema(format = "email", max_length = 254, example = "ada@example.org")]
    email: String,
    /// Free text, separating interests with commas ("sparse retrieval, cross-encoders"), or a
    /// list of interests (`["sparse retrieval", "cross-encoders"]`).
    #[serde(default, deserialize_with = "text_or_list")]
    #[schema(value_type = InterestsDoc)]
    interests: String,
    /// Categories such as cs.IR.
    #[serde(default)]
    #[schema(max_items = 20)]
    categories: Vec<String>,
    /// Local delivery hour, 0 to 23 (default 8).
    #[schema(minimum = 0, maximum = 23)]
    hour: Option<u8>,
    /// IANA time zone (default UTC).
    #[schema(max_length = 64, example = "Europe/Paris")]
    timezone: Option<String>,
}

/// What `interests` may be, for the OpenAPI document (`oneOf`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum InterestsDoc {
    /// Interests separated by commas (at most 500 characters).
    Text(String),
    /// One interest per item (no commas inside an item).
    List(Vec<String>),
}

/// Interests as one text or as a list of texts (joined with commas, which the digest splits
/// at); anything else is refused in plain words.
fn text_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Interests {
        Text(String),
        List(Vec<String>),
    }
    match Interests::deserialize(d) {
        Ok(Interests::Text(t)) => Ok(t),
        Ok(Interests::List(items)) => {
            if let Some(bad) = items.iter().find(|i| i.contains(',')) {
                return Err(serde::de::Error::custom(format!(
                    "`interests`: an interest in a list cannot hold a comma ({bad:?}); make it two"
                )));
            }
            Ok(items.join(", "))
        }
        Err(_) => Err(serde::de::Error::custom(
            "`interests` must be a text (\"sparse retrieval, cross-encoders\") or a list of texts",
        )),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SubscriptionAccepted {
    /// Always "pending": the subscription starts once the link mailed to the address is opened.
    status: &'static str,
    message: &'static str,
}

/// Subscribe an address to the daily digest (double opt-in: a confirmation link is mailed).
/// The answer is the same whether the address was already subscribed or not.
#[utoipa::path(post, path = "/api/subscriptions", tag = "crate::digest", request_body = SubscriptionBody, responses(
    (status = 202, body = SubscriptionAccepted),
    (status = 400, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody),
    (status = 429, body = ErrorBody),
    (status = 503, description = "No SMTP server is configured", body = ErrorBody),
))]
pub(crate) async fn api_subscribe(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<Json<SubscriptionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SubscriptionAccepted>), ApiError> {
    let body = crate::extract::json_body(body)?;
    state.limits().check_subscribe(ip)?;
    let request = SubscriptionRequest {
        email: body.email,
        interests: body.interests,
        categories: body.categories,
        hour: body.hour,
        timezone: body.timezone,
    };
    state
        .blocking_digests(move |d| d.subscribe(&request, Utc::now()))
        .await?;
    state.mail_wakeup().notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(SubscriptionAccepted {
            status: "pending",
            message: CHECK_INBOX,
        }),
    ))
}

/// A signed link's token, from a query string or a form.
#[derive(Debug, Deserialize)]
pub(crate) struct Token {
    #[serde(default)]
    t: String,
}

fn token_of(q: &Result<Query<Token>, axum::extract::rejection::QueryRejection>) -> String {
    q.as_ref().map(|Query(q)| q.t.clone()).unwrap_or_default()
}

/// `GET /subscribe/confirm?t=…`: a button, not the confirmation itself (mail scanners open links).
pub(crate) async fn confirm_page(
    q: Result<Query<Token>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let t = token_of(&q);
    page(
        "Confirm your subscription",
        html! {
            h1 { "Confirm your daily digest" }
            form method="post" action="/subscribe/confirm" {
                input type="hidden" name="t" value=(t);
                button type="submit" { "Confirm the subscription" }
            }
        },
    )
    .into_response()
}

/// `POST /subscribe/confirm`.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    form: Result<Form<Token>, FormRejection>,
) -> Response {
    let t = match form {
        Ok(Form(f)) => f.t,
        Err(e) => return error_page(e.into()),
    };
    let result = state
        .blocking_digests(move |d| {
            let s = d.confirm(&t, Utc::now())?;
            Ok((d.links(&s), s))
        })
        .await;
    match result {
        Ok((links, s)) => page(
            "Subscribed",
            html! {
                h1 { "You are subscribed" }
                p.result role="status" {
                    "Your first digest comes at " (format!("{:02}:00", s.subscription.hour)) " "
                    (s.subscription.timezone) "."
                }
                p {
                    a href=(links.manage) { "Change interests or time" } " · "
                    a href=(links.preview) { "Preview your next digest" }
                }
            },
        )
        .into_response(),
        Err(e) => error_page(e),
    }
}

fn manage_body(
    links: &paperscout_app::digest::Links,
    s: &paperscout_app::digest::Subscriber,
    token: &str,
    message: Option<Markup>,
) -> Markup {
    let values = SubscribeForm {
        interests: s.subscription.interests.clone(),
        categories: s.subscription.categories.join(" "),
        hour: s.subscription.hour.to_string(),
        timezone: s.subscription.timezone.clone(),
        ..Default::default()
    };
    html! {
        h1 { "Your daily digest" }
        p { "Sent to " strong { (s.subscription.email) } "." }
        @if let Some(m) = message { (m) }
        form.subscribe method="post" action="/subscription" {
            input type="hidden" name="t" value=(token);
            (preference_fields(&values))
            button type="submit" { "Save" }
        }
        p { a href=(links.preview) { "Preview your next digest" } }
        form method="post" action=(links.unsubscribe) {
            button type="submit" { "Unsubscribe" }
        }
    }
}

/// `GET /subscription?t=…`: the preferences of the subscriber a manage link names.
pub(crate) async fn manage_page(
    State(state): State<AppState>,
    q: Result<Query<Token>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let t = token_of(&q);
    let t2 = t.clone();
    match state
        .blocking_digests(move |d| {
            let s = d.subscriber(&t2, Utc::now())?;
            Ok((d.links(&s), s))
        })
        .await
    {
        Ok((links, s)) => {
            page("Your daily digest", manage_body(&links, &s, &t, None)).into_response()
        }
        Err(e) => error_page(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ManageForm {
    #[serde(default)]
    t: String,
    #[serde(flatten)]
    prefs: SubscribeForm,
}

/// `POST /subscription`: saves new preferences.
pub(crate) async fn manage(
    State(state): State<AppState>,
    form: Result<Form<ManageForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_page(e.into()),
    };
    let request = match form.prefs.request() {
        Ok(r) => r,
        Err(e) => return error_page(e),
    };
    let t = form.t.clone();
    let result = state
        .blocking_digests(move |d| {
            let s = d.update(&t, &request, Utc::now())?;
            Ok((d.links(&s), s))
        })
        .await;
    match result {
        Ok((links, s)) => {
            let m = html! { p.result role="status" { "Saved." } };
            page(
                "Your daily digest",
                manage_body(&links, &s, &form.t, Some(m)),
            )
            .into_response()
        }
        Err(e) => error_page(e),
    }
}

/// `GET /subscription/preview?t=…`: the next digest as it would be sent now.
pub(crate) async fn preview(
    State(state): State<AppState>,
    q: Result<Query<Token>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let t = token_of(&q);
    match state
        .blocking_digests(move |d| d.preview(&t, Utc::now()))
        .await
    {
        Ok(html) => {
            let mut r = Html(html).into_response();
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PREVIEW_CSP),
            );
            r
        }
        Err(e) => error_page(e),
    }
}

/// `GET /unsubscribe?t=…`: a button (a GET must not unsubscribe: scanners follow links).
pub(crate) async fn unsubscribe_page(
    q: Result<Query<Token>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let t = token_of(&q);
    let action = format!(
        "/unsubscribe?t={}",
        t.chars()
            .filter(char::is_ascii_hexdigit)
            .collect::<String>()
    );
    page(
        "Unsubscribe",
        html! {
            h1 { "Unsubscribe from the daily digest" }
            form method="post" action=(action) {
                button type="submit" { "Unsubscribe" }
            }
        },
    )
    .into_response()
}

/// `POST /unsubscribe?t=…`: one click, no cookie, no CSRF token: the signed link is the
/// authority. This is the URL of `List-Unsubscribe`, which mail providers POST to with
/// `List-Unsubscribe=One-Click` (RFC 8058); any body is accepted and ignored.
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    q: Result<Query<Token>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Response {
    let mut t = token_of(&q);
    if t.is_empty() {
        // From a form that sent the token in the body.
        if let Ok(f) = serde_urlencoded::from_bytes::<Token>(&body) {
            t = f.t;
        }
    }
    match state
        .blocking_digests(move |d| d.unsubscribe(&t, Utc::now()))
        .await
    {
        Ok(()) => page(
            "Unsubscribed",
            html! {
                h1 { "You are unsubscribed" }
                p.result role="status" { "No more digests will be sent to this address." }
                p { a href="/subscribe" { "Subscribe again" } }
            },
        )
        .into_response(),
        Err(e) => error_page(e),
    }
}
