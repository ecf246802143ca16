//! X-Ray subsegments around AWS SDK for Rust operations (feature `aws-sdk`).
//!
//! [`XrayInterceptor`] implements the `aws-smithy-runtime-api` interceptor API, so it
//! works with every SDK client (DynamoDB, CloudWatch, X-Ray, API Gateway Management,
//! ...). For each operation called inside a traced invocation it records a subsegment:
//!
//! - `name` = the service (`DynamoDB`, `CloudWatch`, `XRay`, ...), `namespace: "aws"`;
//! - `aws.operation`, `aws.region`, `aws.request_id` (from `x-amzn-requestid` or
//!   `x-amz-request-id`), `aws.table_name` for DynamoDB operations that name one table;
//! - `http.response.status`, and `error`/`throttle`/`fault` from it (X-16);
//! - a failed call's error as a remote exception, its type taken from the service's
//!   error code (`__type` or `x-amzn-ErrorType`) when the response has one.
//!
//! It also propagates the trace header downstream: `X-Amzn-Trace-Id` is set to the
//! invocation's header with `Parent` = the call's subsegment (rule H-4), replacing the
//! value the SDK copies from `_X_AMZN_TRACE_ID`. Outside a traced invocation it does
//! nothing.
//!
//! ```no_run
//! # async fn f() {
//! use streamer_obs::xray::interceptor::XrayInterceptor;
//! let sdk_config = streamer_obs::aws::load_config().await;
//! let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config).interceptor(XrayInterceptor::new()).build();
//! let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);
//! # let _ = dynamodb;
//! # }
//! ```

use std::error::Error as StdError;
use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::xray::cause::{ErrorDetails, ErrorKind};
use crate::xray::document::{Flags, MAX_STRING_CHARS, Namespace, cut};
use crate::xray::recorder::SubsegmentGuard;

/// The trace header sent to AWS services.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// Records each SDK operation as an `aws` subsegment and propagates the trace header.
#[derive(Debug, Clone, Copy, Default)]
pub struct XrayInterceptor {
    _private: (),
}

impl XrayInterceptor {
    /// The interceptor.
    ///
    /// ```
    /// let _ = streamer_obs::xray::interceptor::XrayInterceptor::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug)]
struct CallState {
    guard: Mutex<Option<SubsegmentGuard>>,
    table_name_known: Mutex<bool>,
    service: String,
    /// The header of an invocation that does not record (not sampled): propagated as it
    /// came (H-4), with no subsegment of the call.
    unrecorded_header: Option<String>,
}

impl Storable for CallState {
    type Storer = StoreReplace<Self>;
}

fn request_id(headers: &aws_smithy_runtime_api::http::Headers) -> Option<String> {
    ["x-amzn-requestid", "x-amz-request-id"]
        .iter()
        .find_map(|h| headers.get(*h))
        .map(|v| cut(v.to_owned(), MAX_STRING_CHARS))
}

/// The service's error code of a failed call: `__type` of a JSON body (after `#`), or
/// the `x-amzn-ErrorType` header (before `:`).
fn error_code(response: &aws_smithy_runtime_api::client::orchestrator::HttpResponse) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "__type")]
        kind: Option<String>,
    }
    let from_body = response
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<Body>(b).ok())
        .and_then(|b| b.kind)
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_owned());
    from_body
        .or_else(|| {
            response.headers().get("x-amzn-errortype").map(|t| t.split(':').next().unwrap_or_default().to_owned())
        })
        .filter(|c| !c.is_empty())
        .map(|c| cut(c, MAX_STRING_CHARS))
}

/// The `TableName` of a DynamoDB JSON request body.
fn table_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "TableName")]
        table_name: Option<String>,
    }
    serde_json::from_slice::<Body>(body).ok()?.table_name.map(|t| cut(t, MAX_STRING_CHARS))
}

impl Intercept for XrayInterceptor {
    fn name(&self) -> &'static str {
        "streamer_obs::xray::XrayInterceptor"
    }

    // Not `read_before_execution`: client-level interceptors see that hook before the
    // operation's configuration (service, operation name) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_owned(), Some(m.name().to_owned())),
            None => ("AWS".to_owned(), None),
        };
        let guard = crate::xray::subsegment(&service);
        if !guard.is_recording() {
            // Not sampled: no subsegment, but the caller's trace and decision go on (H-4).
            if let Some(header) = crate::xray::downstream_header() {
                cfg.interceptor_state().store_put(CallState {
                    guard: Mutex::new(None),
                    table_name_known: Mutex::new(true),
                    service,
                    unrecorded_header: Some(header.to_string()),
                });
            }
            return Ok(());
        }
        let region = cfg.load::<aws_types::region::Region>().map(|r| r.as_ref().to_owned());
        guard.set_namespace(Namespace::Aws);
        guard.update_aws(|a| {
            a.operation = operation;
            a.region = region;
        });
        cfg.interceptor_state().store_put(CallState {
            guard: Mutex::new(Some(guard)),
            table_name_known: Mutex::new(false),
            service,
            unrecorded_header: None,
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(state) = cfg.load::<CallState>() else { return Ok(()) };
        let request = context.request_mut();
        if let Some(header) = &state.unrecorded_header {
            let _ = request.headers_mut().try_insert(TRACE_HEADER, header.clone());
            return Ok(());
        }
        let guard = state.guard.lock().unwrap_or_else(|p| p.into_inner());
        let Some(guard) = guard.as_ref() else { return Ok(()) };
        if let Some(header) = guard.downstream_header() {
            // A header that cannot be encoded is left out, never a failed call.
            let _ = request.headers_mut().try_insert(TRACE_HEADER, header.to_string());
        }
        let mut known = state.table_name_known.lock().unwrap_or_else(|p| p.into_inner());
        if state.service == "DynamoDB" && !*known {
            *known = true;
            if let Some(table) = request.body().bytes().and_then(table_name) {
                guard.update_aws(|a| a.table_name = Some(table));
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(state) = cfg.load::<CallState>() else { return Ok(()) };
        let Some(guard) = state.guard.lock().unwrap_or_else(|p| p.into_inner()).take() else { return Ok(()) };
        let mut status = None;
        let mut code = None;
        if let Some(response) = context.response() {
            let s = response.status().as_u16();
            status = Some(s);
            let id = request_id(response.headers());
            guard.update_aws(|a| a.request_id = id);
            guard.update_http(|h| h.response_status = Some(s));
            guard.add_flags(Flags::from_http_status(s));
            if s >= 400 {
                code = error_code(response);
            }
        }
        if let Some(Err(err)) = context.output_or_error() {
            let kind = status.and_then(ErrorKind::from_http_status).unwrap_or(ErrorKind::Fault);
            let inner: &(dyn StdError + 'static) = err.source().unwrap_or(err);
            let mut details = ErrorDetails::new(kind).remote(true);
            if let Some(c) = code.as_deref() {
                details = details.type_name(c);
            }
            guard.record_error_with(inner, &details);
        }
        drop(guard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_name_from_body() {
        assert_eq!(table_name(br#"{"TableName":"connections","Item":{}}"#).as_deref(), Some("connections"));
        assert_eq!(table_name(br#"{"RequestItems":{}}"#), None);
        assert_eq!(table_name(b"not json"), None);
    }
}
