//! The JSON body extractor: every malformed body is a 4xx problem naming the
//! offending field, and nothing of the request is acted on.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// Longest string any JSON field may hold unless its type says less.
pub const JSON_STRING_CHARS_MAX: usize = 4096;

/// A JSON request body of type `T`. Types deny unknown fields with
/// `#[serde(deny_unknown_fields)]`; this extractor turns every refusal
/// into `BAD_REQUEST` (not JSON, wrong type, unknown field) or
/// `FIELD_INVALID` (a value the type's own validation refused), with the
/// path of the field (`payer.country`).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new("PAYLOAD_TOO_LARGE", "the body is over the configured limit")
            } else {
                ApiError::new("BAD_REQUEST", format!("the body could not be read: {e}"))
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Parse a JSON body into `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = !matches!(inner.classify(), serde_json::error::Category::Data);
        let detail = if syntax {
            format!("the body is not valid JSON: {inner}")
        } else {
            inner.to_string()
        };
        let field = (!matches!(path.as_str(), "." | "" | "?"))
            .then_some(path)
            .or_else(|| missing_field_name(&detail));
        // A value the type's own validation refused is invalid; anything
        // else (not JSON, a wrong type or shape, an unknown or missing
        // field) is a malformed request.
        let malformed = syntax
            || field.is_none()
            || [
                "unknown field",
                "invalid type",
                "missing field",
                "invalid length",
                "invalid value",
            ]
            .iter()
            .any(|m| detail.contains(m));
        let mut err = ApiError::new(
            if malformed {
                "BAD_REQUEST"
            } else {
                "FIELD_INVALID"
            },
            detail,
        );
        if let Some(f) = field {
            err = err.field(f);
        }
        err
    })
}

/// serde says "missing field `x`": the field is `x`.
fn missing_field_name(detail: &str) -> Option<String> {
    let rest = detail.split("missing field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// A string field with a maximum length in characters, for request types:
/// `#[serde(deserialize_with = "api::json::bounded::<64, _>")]`.
pub fn bounded<'de, const MAX: usize, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    let n = s.chars().count();
    if n > MAX {
        return Err(serde::de::Error::custom(format!(
            "is {n} characters; at most {MAX} are allowed"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Payer {
        #[serde(deserialize_with = "bounded::<8, _>")]
        name: String,
        country: Country,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        request_id: String,
        payer: Payer,
        amount: u64,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Country(String);

    impl<'de> serde::Deserialize<'de> for Country {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(Country(s))
            } else {
                Err(serde::de::Error::custom(format!(
                    "{s:?} is not an ISO 3166 alpha-2 country"
                )))
            }
        }
    }

    fn check(body: &str, code: &str, field: Option<&str>) {
        let e = parse::<Body>(body.as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (code, field),
            "{body}: {}",
            e.detail
        );
    }

    #[test]
    fn each_fault_names_its_field() {
        let ok = r#"{"request_id":"r1","payer":{"name":"Ann","country":"MN"},"amount":5}"#;
        assert!(parse::<Body>(ok.as_bytes()).is_ok());
        check("{", "BAD_REQUEST", None);
        check("[]", "BAD_REQUEST", None);
        check(
            r#"{"request_id":"r1","payer":{"name":"Ann","country":"MN"},"amount":5,"extra":1}"#,
            "BAD_REQUEST",
            Some("extra"),
        );
        check(
            r#"{"request_id":"r1","payer":{"name":"Ann","country":"MN"},"amount":"5"}"#,
            "BAD_REQUEST",
            Some("amount"),
        );
        check(
            r#"{"request_id":"r1","payer":{"name":"Ann","country":"MNG"},"amount":5}"#,
            "FIELD_INVALID",
            Some("payer.country"),
        );
        check(
            r#"{"request_id":"r1","payer":{"name":"Annabelle Lee","country":"MN"},"amount":5}"#,
            "FIELD_INVALID",
            Some("payer.name"),
        );
        check(
            r#"{"payer":{"name":"Ann","country":"MN"},"amount":5}"#,
            "BAD_REQUEST",
            Some("request_id"),
        );
        check(
            r#"{"request_id":"r1","payer":{"name":"Ann","country":"MN"},"amount":-1}"#,
            "BAD_REQUEST",
            Some("amount"),
        );
    }
}
