//! The `$disconnect` Lambda function: settings read once at init, the DynamoDB
//! connection store (`CONNECTIONS_TABLE`, endpoint overridable by `AWS_ENDPOINT_URL`),
//! the `#[instrumented]` handler under `lambda_runtime`.
//!
//! A missing or invalid setting never stops the process (Lambda would restart it in a
//! loop): every invocation answers 500 with an ERROR line naming the setting.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::settings::StoreSettings;
use streamer_handlers::store::DynamoDbConnectionStore;
use streamer_obs::config::EnvVars;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    streamer_obs::init()?;
    let handler = match StoreSettings::from_env(&EnvVars::from_process()) {
        Ok(settings) => match DynamoDbConnectionStore::for_lambda(&settings).await {
            Ok(store) => DisconnectHandler::new(Arc::new(store)),
            Err(e) => DisconnectHandler::misconfigured(e),
        },
        Err(e) => DisconnectHandler::misconfigured(e),
    };
    if let Some(e) = handler.settings_error() {
        tracing::error!(setting = e.setting(), error = %e, "Invalid configuration: the connection store is unavailable");
    }
    let handler = Arc::new(handler);
    // `run_concurrent` runs invocations concurrently when AWS_LAMBDA_MAX_CONCURRENCY > 1
    // (Lambda Managed Instances) and one at a time otherwise.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<_>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event).await }
    }))
    .await
}
