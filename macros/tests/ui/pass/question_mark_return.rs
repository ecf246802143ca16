use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("bad number")]
    Parse(#[from] std::num::ParseIntError),
    #[error("empty")]
    Empty,
}

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<u8, AppError> {
    let text = match event.payload.as_str() {
        Some(t) if !t.is_empty() => t,
        _ => return Err(AppError::Empty),
    };
    let n: u8 = text.parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

#[instrumented]
async fn boxed(event: LambdaEvent<Value>) -> Result<u8, Error> {
    let n: u8 = event.payload.as_str().ok_or("not a string")?.parse()?;
    Ok(n)
}

#[instrumented]
fn sync_early(n: u8) -> Result<u8, AppError> {
    if n == 0 {
        return Err(AppError::Empty);
    }
    let parsed: u8 = "1".parse()?;
    Ok(parsed + n)
}

type AppResult<T> = Result<T, AppError>;

#[instrumented]
fn aliased(n: u8) -> AppResult<u8> {
    Ok(n)
}

fn main() {}
