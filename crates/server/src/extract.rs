//! What requests carry, parsed: extractors whose failures answer in the route's kind (JSON for
//! the API, a page for the site), and the query parameters the API and the pages share. Imports
//! only [`crate::error`] and [`crate::respond`].

use axum::extract::FromRequestParts;
use axum::http::{header, HeaderMap};
use chrono::NaiveDate;
use paperscout_app::{Filter, PaperId, SearchMode, Window, MAX_RESULTS};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::respond::PageError;

/// Most results one request may ask for.
pub(crate) const MAX_LIMIT: usize = 100;

/// `Query` whose failures are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// `Path` whose failures are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// `Query` for pages: a malformed query string is answered with an error page, not JSON.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(PageError))]
pub(crate) struct PageQuery<T>(pub T);

/// `Path` for pages (see [`PageQuery`]).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PageError))]
pub(crate) struct PagePath<T>(pub T);

/// Parses a paper id from a URL; an id that cannot exist is simply not found.
pub(crate) fn paper_id(raw: &str) -> Result<PaperId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no paper with id `{raw}`")))
}

pub(crate) fn limit_or_default(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        0 => Err(ApiError::invalid("limit must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::invalid(format!(
            "limit is {n}; the most is {MAX_LIMIT}"
        ))),
        n => Ok(n),
    }
}

pub(crate) fn check_offset(offset: Option<usize>) -> Result<usize, ApiError> {
    match offset.unwrap_or(0) {
        n if n > MAX_RESULTS => Err(ApiError::invalid(format!(
            "offset is {n}; results go {MAX_RESULTS} deep"
        ))),
        n => Ok(n),
    }
}

fn date(name: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::invalid(format!(
                    "`{name}` must be a date like 2024-05-31, not `{s}`"
                ))
            }),
    }
}

pub(crate) fn mode(raw: Option<&str>) -> Result<SearchMode, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(SearchMode::default()),
        Some(s) => s.parse().map_err(|e| ApiError::invalid(format!("{e}"))),
    }
}

pub(crate) fn window(raw: Option<&str>) -> Result<Window, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Window::default()),
        Some(s) => Ok(s.parse::<Window>()?),
    }
}

/// The search modes, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum ModeParam {
    Hybrid,
    Semantic,
    Lexical,
}

/// The trending windows, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum WindowParam {
    Day,
    Week,
    Month,
}

/// The feed orders, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum SortParam {
    New,
    Trending,
    Votes,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// The query (1 to 1,000 characters, not only spaces).
    #[param(required = true, min_length = 1, max_length = 1000, pattern = r"\S")]
    pub q: Option<String>,
    /// hybrid (default), semantic or lexical.
    #[param(value_type = Option<ModeParam>)]
    pub mode: Option<String>,
    /// Results per page, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// Results to skip (at most 1,000).
    #[param(maximum = 1000)]
    pub offset: Option<usize>,
    /// Published on or after this date (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Published on or before this date (YYYY-MM-DD; not before `from`).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Only papers listed in this category (e.g. cs.IR).
    pub category: Option<String>,
}

impl SearchParams {
    pub(crate) fn filter(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            from: date("from", self.from.as_deref())?,
            to: date("to", self.to.as_deref())?,
            category: self
                .category
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from),
        })
    }
}

/// Refuses a vote that a browser sends on behalf of another site (a page elsewhere making its
/// visitors' browsers vote). The API takes no CSRF token, so it relies on what browsers say:
/// `Sec-Fetch-Site` (every current browser), else `Origin` against `Host`. Clients that are
/// not browsers (curl, scripts) send neither and are let through, rate-limited.
/// A JSON body, or the error the API answers for it: 413 and 415 as such, anything else a 400
/// naming what is wrong.
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|axum::Json(b)| b).map_err(|e| {
        let status = e.status();
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE
            || status == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        {
            ApiError::from_status(status)
        } else {
            ApiError::invalid(format!("bad JSON body: {}", e.body_text()))
        }
    })
}

pub(crate) fn check_same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = || {
        Err(ApiError::forbidden(
            "changes are only accepted from this site's own pages or from API clients",
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => Ok(()),
            _ => refuse(),
        };
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            if origin_host.eq_ignore_ascii_case(host.to_str().unwrap_or("")) {
                Ok(())
            } else {
                refuse()
            }
        }
        (Some(_), None) => refuse(),
        (None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn votes_from_other_sites_are_refused_and_our_pages_and_api_clients_pass() {
        let ok = |pairs| check_same_site(&headers(pairs)).is_ok();
        assert!(ok(&[]), "curl and scripts send neither header");
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]), "typed by the user");
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(
            !ok(&[("sec-fetch-site", "same-site")]),
            "a sibling subdomain is another site"
        );
        assert!(ok(&[
            ("origin", "http://127.0.0.1:7878"),
            ("host", "127.0.0.1:7878")
        ]));
        assert!(!ok(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:7878")
        ]));
        assert!(!ok(&[("origin", "null"), ("host", "127.0.0.1:7878")]));
        assert!(!ok(&[("origin", "https://evil.example")]));
    }
}

/// A span of publication dates a page or feed shows: a day, an ISO week or a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Day(NaiveDate),
    /// The ISO week holding this Monday.
    Week(NaiveDate),
    /// The month starting on this first day.
    Month(NaiveDate),
}

impl Period {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`.
    pub(crate) fn parse(raw: &str) -> Result<Period, ApiError> {
        let s = raw.trim();
        let bad = || {
            ApiError::invalid(format!(
                "`{s}` is not a date: expected a day (2026-05-04), an ISO week (2026-W19) or a month (2026-05)"
            ))
        };
        // Years 1 to 9999 only: every step from there (a week's end, the next month) stays
        // inside chrono's range, and no paper is dated outside it.
        let four_digit_year = s.len() > 4
            && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && s.as_bytes()[4] == b'-'
            && !s.starts_with("0000");
        if !four_digit_year {
            return Err(bad());
        }
        if let Some((year, week)) = s.split_once("-W").or_else(|| s.split_once("-w")) {
            let (year, week) = (
                year.parse::<i32>().map_err(|_| bad())?,
                week.parse::<u32>().map_err(|_| bad())?,
            );
            return NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon)
                .map(Period::Week)
                .ok_or_else(bad);
        }
        if s.len() == 7 {
            return NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
                .map(Period::Month)
                .map_err(|_| bad());
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Period::Day)
            .map_err(|_| bad())
    }

    /// The first and last day.
    pub(crate) fn range(self) -> (NaiveDate, NaiveDate) {
        match self {
            Period::Day(d) => (d, d),
            Period::Week(monday) => (monday, monday + chrono::Days::new(6)),
            Period::Month(first) => (
                first,
                first
                    .checked_add_months(chrono::Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .unwrap_or(first),
            ),
        }
    }

    /// The period of the same kind holding `d`.
    pub(crate) fn same_kind_at(self, d: NaiveDate) -> Period {
        use chrono::Datelike;
        match self {
            Period::Day(_) => Period::Day(d),
            Period::Week(_) => {
                Period::Week(d - chrono::Days::new(d.weekday().num_days_from_monday() as u64))
            }
            Period::Month(_) => Period::Month(d.with_day(1).unwrap_or(d)),
        }
    }

    pub(crate) fn prev(self) -> Option<Period> {
        self.range().0.pred_opt().map(|d| self.same_kind_at(d))
    }

    pub(crate) fn next(self) -> Option<Period> {
        self.range().1.succ_opt().map(|d| self.same_kind_at(d))
    }

    /// As written in URLs.
    pub(crate) fn key(self) -> String {
        use chrono::Datelike;
        match self {
            Period::Day(d) => d.format("%Y-%m-%d").to_string(),
            Period::Week(d) => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month(d) => d.format("%Y-%m").to_string(),
        }
    }

    /// The page's path.
    pub(crate) fn path(self) -> String {
        let kind = match self {
            Period::Day(_) => "date",
            Period::Week(_) => "week",
            Period::Month(_) => "month",
        };
        format!("/papers/{kind}/{}", self.key())
    }

    /// For people: "Tuesday, May 5, 2026", "the week of May 4, 2026", "May 2026".
    pub(crate) fn label(self) -> String {
        match self {
            Period::Day(d) => d.format("%A, %B %-d, %Y").to_string(),
            Period::Week(d) => format!("the week of {}", d.format("%B %-d, %Y")),
            Period::Month(d) => d.format("%B %Y").to_string(),
        }
    }

    pub(crate) fn short_label(self) -> String {
        match self {
            Period::Day(d) => d.format("%b %-d").to_string(),
            Period::Week(d) => format!("week of {}", d.format("%b %-d")),
            Period::Month(d) => d.format("%b %Y").to_string(),
        }
    }
}

#[cfg(test)]
mod period_tests {
    use super::*;

    #[test]
    fn periods_parse_step_and_print() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let day = Period::parse("2026-05-05").unwrap();
        assert_eq!(day.range(), (d(2026, 5, 5), d(2026, 5, 5)));
        assert_eq!(day.prev().unwrap().key(), "2026-05-04");
        assert_eq!(day.next().unwrap().path(), "/papers/date/2026-05-06");
        let week = Period::parse("2026-W19").unwrap();
        assert_eq!(week.range(), (d(2026, 5, 4), d(2026, 5, 10)));
        assert_eq!(week.next().unwrap().key(), "2026-W20");
        assert_eq!(
            Period::parse("2027-W01").unwrap().prev().unwrap().key(),
            "2026-W53"
        );
        let month = Period::parse("2024-02").unwrap();
        assert_eq!(month.range(), (d(2024, 2, 1), d(2024, 2, 29)));
        assert_eq!(month.prev().unwrap().key(), "2024-01");
        assert_eq!(month.next().unwrap().label(), "March 2024");
        assert_eq!(day.same_kind_at(d(2026, 5, 7)).key(), "2026-05-07");
        assert_eq!(week.same_kind_at(d(2026, 5, 7)), week);
        // The ends of the allowed years step without overflow.
        for edge in [
            "9999-W52",
            "9999-12",
            "9999-12-31",
            "0001-W01",
            "0001-01",
            "0001-01-01",
        ] {
            let p = Period::parse(edge).unwrap();
            for q in [p.prev(), Some(p), p.next()].into_iter().flatten() {
                let _ = (q.range(), q.path(), q.label(), q.short_label());
                let _ = [
                    Period::Day(q.range().0),
                    Period::Week(q.range().0),
                    Period::Month(q.range().0),
                ]
                .map(|k| k.same_kind_at(q.range().0).range());
            }
        }
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-02-30",
            "2026-W54",
            "2026-W",
            "x-W3",
            "2026-05-05x",
            "99999999-01-01",
            "262143-W01",
            "-262143-01-01",
            "0000-01-01",
            "+2026-01-01",
            "é026-01-01",
        ] {
            let e = Period::parse(bad).unwrap_err();
            assert!(e.message.contains("not a date"), "{bad}: {}", e.message);
        }
    }
}
