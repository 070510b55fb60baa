//! Signing in by mailed link, signing out, and the account page (export, API tokens,
//! deletion).
//!
//! Asking for a link answers the same whether the address has an account or not; the link's
//! page is a button, not the sign-in itself (mail scanners open links), and that button's form
//! carries the CSRF token of the browser that opened the link, so no other site can sign a
//! visitor into an account of its choosing. Every change is a POST with the CSRF token.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::account::{end_session_cookie, start_session_cookie, MaybeReader, Reader, Via};
use crate::error::ApiError;
use crate::limit::ClientIp;
use crate::respond::{error_page, layout, mail_off_notice, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

pub(crate) const CHECK_INBOX: &str = "If this address can receive mail, a sign-in link is on its way to it. It works once, for 30 minutes. No account yet? The link makes one.";

fn page(title: &str, nav: Nav, body: Markup) -> Markup {
    layout(title, nav, "", None, body)
}

fn when(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn signin_form(
    state: &AppState,
    visitor: &Visitor,
    email: &str,
    message: Option<Markup>,
) -> Markup {
    let can_send = state.digests().can_send();
    html! {
        h1 { "Sign in" }
        p { "No password: enter your address and open the link we mail you. Signing in keeps your library, your \"not interested\" marks and your votes on every device, and gives you a feed that learns from them." }
        @if !can_send {
            (mail_off_notice("signing in"))
        }
        @if let Some(m) = message { (m) }
        form.signin method="post" action="/signin" {
            input type="hidden" name="csrf" value=(state.voters().csrf_token(visitor));
            fieldset disabled[!can_send] {
                label { "Email" input type="email" name="email" required autocomplete="email" maxlength="254" value=(email); }
                button type="submit" { "Mail me a sign-in link" }
            }
        }
    }
}

/// `GET /signin`.
pub(crate) async fn form(
    State(state): State<AppState>,
    visitor: Visitor,
    MaybeReader(reader): MaybeReader,
) -> Response {
    if reader.is_some() {
        return Redirect::to("/account").into_response();
    }
    let body = signin_form(&state, &visitor, "", None);
    (visitor.jar.clone(), page("Sign in", Nav::Library, body)).into_response()
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct SigninForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /signin`: the same answer whether the address has an account or not.
pub(crate) async fn request(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    form: Result<Form<SigninForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_page(e.into()),
    };
    let again = |e: ApiError| {
        let message = html! { p.error role="alert" { (e.message) } };
        let body = signin_form(&state, &visitor, &form.email, Some(message));
        (
            e.status,
            visitor.jar.clone(),
            page("Sign in", Nav::Library, body),
        )
            .into_response()
    };
    if !state.voters().csrf_ok(&visitor, &form.csrf) {
        return again(ApiError::forbidden(
            "This form had expired or did not come from this site. Press the button again.",
        ));
    }
    let email = form.email.clone();
    let result = async {
        state.limits().check_subscribe(ip)?;
        state
            .blocking_digests(move |d| d.request_signin(&email, Utc::now()))
            .await
    }
    .await;
    match result {
        Ok(()) => {
            state.mail_wakeup().notify_one();
            let body = html! {
                h1 { "Check your inbox" }
                p.result role="status" { (CHECK_INBOX) }
            };
            (
                visitor.jar.clone(),
                page("Check your inbox", Nav::Library, body),
            )
                .into_response()
        }
        Err(e) => again(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkToken {
    #[serde(default)]
    t: String,
}

/// `GET /signin/confirm?t=…`: a button that signs in (a GET changes nothing).
pub(crate) async fn confirm_page(
    State(state): State<AppState>,
    visitor: Visitor,
    q: Result<Query<LinkToken>, QueryRejection>,
) -> Response {
    let t = q.map(|Query(q)| q.t).unwrap_or_default();
    let body = html! {
        h1 { "Sign in to paperscout" }
        form method="post" action="/signin/confirm" {
            input type="hidden" name="t" value=(t);
            input type="hidden" name="csrf" value=(state.voters().csrf_token(&visitor));
            button type="submit" { "Sign in" }
        }
    };
    (visitor.jar.clone(), page("Sign in", Nav::Library, body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    t: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /signin/confirm`: redeems the link, sets the session cookie, and goes to the library.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    MaybeReader(reader): MaybeReader,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_page(e.into()),
    };
    if !state.voters().csrf_ok(&visitor, &form.csrf) {
        return error_page(ApiError::forbidden(
            "This sign-in page did not come from this site, or is too old: open the link from the mail again.",
        ));
    }
    // The votes this browser cast before signing in become the account's; a browser signed
    // in already has none of its own to move.
    let voter = match reader {
        Some(_) => String::new(),
        None => visitor.anonymous_id.clone().unwrap_or_default(),
    };
    let t = form.t;
    match state
        .blocking_digests(move |d| d.redeem_signin(&t, &voter, Utc::now()))
        .await
    {
        Ok((signin, secret)) => {
            let secure = state.voters().secure_cookies();
            let jar = start_session_cookie(visitor.jar, secret, secure);
            let to = if signin.created {
                "/library?welcome=1"
            } else {
                "/library"
            };
            (jar, Redirect::to(to)).into_response()
        }
        Err(e) => error_page(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn checked(
    state: &AppState,
    visitor: &Visitor,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<(), ApiError> {
    let Form(form) = form?;
    if state.voters().csrf_ok(visitor, &form.csrf) {
        Ok(())
    } else {
        Err(ApiError::stale_form())
    }
}

/// `POST /signout`: ends this browser's session.
pub(crate) async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    MaybeReader(reader): MaybeReader,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(e) = checked(&state, &visitor, form) {
        return error_page(e);
    }
    if let Some(Reader {
        via: Via::Session(secret),
        ..
    }) = reader
    {
        if let Err(e) = state.blocking(move |e| e.end_session(&secret)).await {
            return error_page(e);
        }
    }
    let jar = end_session_cookie(visitor.jar, state.voters().secure_cookies());
    (jar, Redirect::to("/")).into_response()
}

/// `POST /account/signout-everywhere`: ends every session of the account.
pub(crate) async fn signout_everywhere(
    State(state): State<AppState>,
    visitor: Visitor,
    reader: Result<Reader, ApiError>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let result = async {
        let reader = reader?;
        checked(&state, &visitor, form)?;
        let id = reader.account.id;
        state.blocking(move |e| e.end_all_sessions(id)).await
    }
    .await;
    match result {
        Ok(_) => {
            let jar = end_session_cookie(visitor.jar, state.voters().secure_cookies());
            (jar, Redirect::to("/signin")).into_response()
        }
        Err(e) => error_page(e),
    }
}

/// The sign-in page for a page that needs an account.
pub(crate) fn needs_signin() -> Response {
    Redirect::to("/signin").into_response()
}

/// `GET /account`.
pub(crate) async fn account_page(
    State(state): State<AppState>,
    visitor: Visitor,
    MaybeReader(reader): MaybeReader,
) -> Response {
    let Some(reader) = reader else {
        return needs_signin();
    };
    account_body(&state, visitor, reader, None).await
}

async fn account_body(
    state: &AppState,
    visitor: Visitor,
    reader: Reader,
    new_token: Option<(String, String)>,
) -> Response {
    let id = reader.account.id;
    let tokens = match state.blocking(move |e| Ok(e.store().api_tokens(id)?)).await {
        Ok(t) => t,
        Err(e) => return error_page(e),
    };
    let csrf = state.voters().csrf_token(&visitor);
    let body = html! {
        h1 { "Your account" }
        p { "Signed in as " strong { (reader.account.email) } ", since " (when(reader.account.created_at)) "." }
        p { a href="/library" { "Your library" } " · " a href="/for-you" { "For you" } }
        form.inline method="post" action="/signout" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Sign out" }
        }
        form.inline method="post" action="/account/signout-everywhere" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Sign out everywhere" }
        }
        h2 { "API tokens" }
        p { "A personal token lets a program use the JSON API as you: send it as " code { "Authorization: Bearer ps_…" } "." }
        @if let Some((name, secret)) = &new_token {
            p.result role="status" {
                "Your new token " strong { (name) } " (shown once; copy it now): "
                code.secret { (secret) }
            }
        }
        @if tokens.is_empty() {
            p.empty { "No tokens." }
        } @else {
            table.tokens {
                thead { tr { th { "Name" } th { "Made" } th { "Last used" } th {} } }
                tbody {
                    @for t in &tokens {
                        tr {
                            td { (t.name) }
                            td { (when(t.created_at)) }
                            td { (t.last_used_at.map(when).unwrap_or_else(|| "never".into())) }
                            td {
                                form.inline method="post" action=(format!("/account/tokens/{}/revoke", t.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.inline method="post" action="/account/tokens" {
            input type="hidden" name="csrf" value=(csrf);
            label { "New token's name" input type="text" name="name" required maxlength="100" placeholder="laptop script"; }
            button type="submit" { "Make a token" }
        }
        h2 { "Your data" }
        p { a href="/account/export" download="paperscout-account.json" { "Download everything we hold about you (JSON)" } }
        form method="post" action="/account/delete" {
            input type="hidden" name="csrf" value=(csrf);
            label { "To delete your account, its library, votes, tokens and digest subscription, type your address"
                input type="email" name="confirm_email" required maxlength="254";
            }
            button.danger type="submit" { "Delete my account" }
        }
    };
    (visitor.jar, page("Your account", Nav::Library, body)).into_response()
}

/// `GET /account/export`: everything held about the account, as a JSON file.
pub(crate) async fn export(
    State(state): State<AppState>,
    reader: Result<Reader, ApiError>,
) -> Response {
    let result = async {
        let id = reader?.account.id;
        state.blocking(move |e| e.export_account(id)).await
    }
    .await;
    match result {
        Ok(export) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"paperscout-account.json\"",
                ),
            ],
            serde_json::to_string_pretty(&export).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /account/tokens`: makes a token and shows its secret once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    visitor: Visitor,
    reader: Result<Reader, ApiError>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let reader = match reader {
        Ok(r) => r,
        Err(_) => return needs_signin(),
    };
    let result = async {
        let Form(form) = form?;
        if !state.voters().csrf_ok(&visitor, &form.csrf) {
            return Err(ApiError::stale_form());
        }
        let id = reader.account.id;
        state
            .blocking(move |e| e.create_api_token(id, &form.name, Utc::now()))
            .await
    }
    .await;
    match result {
        Ok((token, secret)) => {
            account_body(&state, visitor, reader, Some((token.name, secret))).await
        }
        Err(e) => error_page(e),
    }
}

/// `POST /account/tokens/{id}/revoke`.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    visitor: Visitor,
    reader: Result<Reader, ApiError>,
    crate::extract::PagePath(token_id): crate::extract::PagePath<i64>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let result = async {
        let id = reader?.account.id;
        checked(&state, &visitor, form)?;
        state
            .blocking(move |e| {
                if e.store().revoke_api_token(id, token_id)? {
                    Ok(())
                } else {
                    Err(paperscout_app::Error::NotFound(format!(
                        "you have no API token {token_id}"
                    )))
                }
            })
            .await
    }
    .await;
    match result {
        Ok(()) => (visitor.jar, Redirect::to("/account")).into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm_email: String,
}

/// `POST /account/delete`: deletes the account once its address is typed again.
pub(crate) async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    reader: Result<Reader, ApiError>,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Response {
    let result = async {
        let reader = reader?;
        let Form(form) = form?;
        if !state.voters().csrf_ok(&visitor, &form.csrf) {
            return Err(ApiError::stale_form());
        }
        if !form
            .confirm_email
            .trim()
            .eq_ignore_ascii_case(&reader.account.email)
        {
            return Err(ApiError::invalid(
                "the address typed is not this account's: nothing was deleted",
            ));
        }
        let id = reader.account.id;
        state.blocking(move |e| e.delete_account(id)).await
    }
    .await;
    match result {
        Ok(()) => {
            let jar = end_session_cookie(visitor.jar, state.voters().secure_cookies());
            let body = html! {
                h1 { "Your account is deleted" }
                p.result role="status" { "Your library, marks, votes, tokens and digest subscription are gone." }
                p { a href="/" { "Back to trending papers" } }
            };
            (jar, page("Account deleted", Nav::Library, body)).into_response()
        }
        Err(e) => error_page(e),
    }
}
