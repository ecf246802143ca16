//! The `PutTraceSegments` emitter's batching and retry rules, against a scripted
//! loopback HTTP server standing in for X-Ray (the emulator cannot be made to throttle):
//! batches of at most 50 documents, `UnprocessedTraceSegments` with a retryable code
//! retried, other codes and `InvalidRequestException` not retried, never an error for
//! the handler.
#![cfg(feature = "xray-api")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use streamer_obs::trace_header::{Sampled, SegmentId, TraceHeader, TraceId};
use streamer_obs::xray::api::{ApiRetry, XrayApiEmitter};
use streamer_obs::xray::recorder::Recorder;

type Script = Box<dyn Fn(usize, &Value) -> (u16, Vec<(String, String)>, String) + Send>;

/// Serves one request per connection; `script(call_index, request_json)` answers.
fn fake_xray(script: Script) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let index = {
                let mut s = seen2.lock().unwrap();
                s.push(request.clone());
                s.len() - 1
            };
            let (status, headers, body) = script(index, &request);
            let mut response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("http://{addr}"), seen)
}

fn ids(request: &Value) -> Vec<String> {
    request["TraceSegmentDocuments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| serde_json::from_str::<Value>(d.as_str().unwrap()).unwrap()["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn emitter(endpoint: &str) -> Arc<XrayApiEmitter> {
    let config = streamer_obs::aws::emulator_config(endpoint, "us-east-1").await;
    let retry = ApiRetry { max_attempts: 3, base_delay: Duration::from_millis(1) };
    Arc::new(XrayApiEmitter::with_retry(aws_sdk_xray::Client::new(&config), retry))
}

async fn record_trees(emitter: Arc<XrayApiEmitter>, n: usize) {
    let header =
        TraceHeader::new(TraceId::generate(1_700_000_000), Some(SegmentId::generate()), Some(Sampled::Sampled));
    let rec = Arc::new(Recorder::new(&header, emitter));
    for i in 0..n {
        drop(rec.subsegment(&format!("Tree{i}")));
    }
    assert_eq!(rec.flush().await.failed, 0);
}

#[tokio::test]
async fn batches_of_at_most_50_documents() {
    let (endpoint, seen) = fake_xray(Box::new(|_, _| (200, vec![], "{}".to_owned())));
    let e = emitter(&endpoint).await;
    record_trees(Arc::clone(&e), 120).await;
    let sizes: Vec<usize> = seen.lock().unwrap().iter().map(|r| ids(r).len()).collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    let s = e.stats();
    assert_eq!((s.sent, s.failed, s.calls, s.retries), (120, 0, 3, 0));
}

#[tokio::test]
async fn throttled_unprocessed_documents_are_retried() {
    let (endpoint, seen) = fake_xray(Box::new(|call, req| {
        if call == 0 {
            let unprocessed: Vec<Value> = ids(req)
                .into_iter()
                .take(2)
                .map(|id| serde_json::json!({"Id": id, "ErrorCode": "ThrottledException", "Message": "slow down"}))
                .collect();
            (200, vec![], serde_json::json!({"UnprocessedTraceSegments": unprocessed}).to_string())
        } else {
            (200, vec![], "{}".to_owned())
        }
    }));
    let e = emitter(&endpoint).await;
    record_trees(Arc::clone(&e), 3).await;
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(ids(&requests[1]), ids(&requests[0])[..2].to_vec(), "only the unprocessed ones are resent");
    let s = e.stats();
    assert_eq!((s.sent, s.failed, s.calls, s.retries), (3, 0, 2, 1));
}

#[tokio::test]
async fn invalid_documents_and_invalid_requests_are_not_retried() {
    let (endpoint, seen) = fake_xray(Box::new(|call, req| {
        if call == 0 {
            let id = ids(req).remove(0);
            let body = serde_json::json!({"UnprocessedTraceSegments": [{"Id": id, "ErrorCode": "MissingParam", "Message": "no"}]});
            (200, vec![], body.to_string())
        } else {
            (
                400,
                vec![("x-amzn-errortype".to_owned(), "InvalidRequestException".to_owned())],
                r#"{"message":"bad request"}"#.to_owned(),
            )
        }
    }));
    let e = emitter(&endpoint).await;
    record_trees(Arc::clone(&e), 2).await;
    let s = e.stats();
    assert_eq!((s.sent, s.failed, s.calls, s.retries), (1, 1, 1, 0));
    record_trees(Arc::clone(&e), 2).await;
    let s = e.stats();
    assert_eq!((s.sent, s.failed, s.calls, s.retries), (1, 3, 2, 0));
    assert_eq!(seen.lock().unwrap().len(), 2);
}
