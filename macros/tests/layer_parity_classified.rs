//! `ObsLayer` and `#[instrumented]` on the same handler whose error type implements
//! `handler::ClassifyError`: recorded alike (`error`, not `fault`) through the attribute,
//! `ObsLayer::classified` and `.error_view(ErrorView::from_classified)`. (`ObsLayer::new`
//! cannot see the trait: stable Rust has no specialisation; documented.)

mod common;

use common::*;
use lambda_runtime::tower::{Layer, Service, ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::handler::{ClassifyError, ErrorClass, ErrorView, HandlerOptions};
use streamer_obs::instrumented;
use streamer_obs::layer::ObsLayer;

#[derive(Debug, thiserror::Error)]
#[error("token expired")]
struct Expired;

impl ClassifyError for Expired {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Error
    }
}

#[instrumented(name = "Validate")]
async fn via_attribute(_event: LambdaEvent<Value>) -> Result<Value, Expired> {
    Err(Expired)
}

async fn plain(_event: LambdaEvent<Value>) -> Result<Value, Expired> {
    Err(Expired)
}

fn flags(segments: &[Value]) -> (Value, Value) {
    let handler = segments.iter().find(|s| s["name"] == "Validate").expect("the handler subsegment");
    (handler["error"].clone(), handler["fault"].clone())
}

#[test]
fn a_classified_error_is_recorded_alike_through_the_attribute_and_the_layer() {
    let (_, cap) = run(via_attribute(event(json!(1))));
    let attribute = flags(&cap.segments);
    assert_eq!(attribute, (json!(true), Value::Null), "the attribute honours ClassifyError");

    let (_, cap) = run(async {
        let mut svc = ObsLayer::<Expired>::classified(HandlerOptions::new("Validate")).layer(service_fn(plain));
        svc.ready().await.unwrap().call(event(json!(1))).await
    });
    assert_eq!(flags(&cap.segments), attribute, "ObsLayer::classified: {:#?}", cap.segments);
    let (_, cap) = run(async {
        let mut svc = ObsLayer::<Expired>::new(HandlerOptions::new("Validate"))
            .error_view(ErrorView::from_classified)
            .layer(service_fn(plain));
        svc.ready().await.unwrap().call(event(json!(1))).await
    });
    assert_eq!(flags(&cap.segments), attribute, "ErrorView::from_classified: {:#?}", cap.segments);
}
