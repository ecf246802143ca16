//! CloudWatch metrics: record in memory during the invocation, encode as Embedded Metric
//! Format (EMF), export once at the end (EMF on stdout by default, `PutMetricData` with the
//! `cloudwatch` feature).
//!
//! Three layers, each knowing only the one below:
//!
//! 1. **Record** (no I/O): [`MetricSet`] (an explicit handle) and the task-local
//!    functions [`add`], [`add_with`], [`add_dimension`], [`set_property`] that record into
//!    the current invocation's own set. Units are a type ([`Unit`]); names, namespaces,
//!    dimension names and values are validated ([`name`]); dimension values only come from
//!    bounded sources ([`dimension`]).
//! 2. **Encode** (pure): [`emf::encode`], where every EMF limit is enforced.
//! 3. **Export**: the [`MetricsPublisher`] trait, [`EmfPublisher`], and
//!    `cloudwatch::CloudWatchPublisher` (feature `cloudwatch`).
//!
//! Error policy: constructors and `MetricSet` methods, [`try_add`] and [`try_add_with`]
//! return a typed [`MetricsError`]. The infallible task-local functions drop an invalid
//! datum with exactly one WARN log line naming the metric and return `false`.
//!
//! ```
//! use streamer_obs::metrics::{emf, Dimensions, MetricSet, Namespace, StorageResolution, Unit, standard::{self, Action}};
//! let mut set = MetricSet::new(Namespace::streamer());
//! set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
//! let dims = Dimensions::new().with(standard::ACTION, &Action::Connect).set([standard::ENVIRONMENT]).set([standard::ENVIRONMENT, standard::ACTION]);
//! set.add_with("ProcessingLatency", Unit::Milliseconds, 12.5, StorageResolution::Standard, &dims).unwrap();
//! let lines = emf::encode_lines(&set, 1_700_000_000_000);
//! let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
//! assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Environment"], ["Environment", "Action"]]));
//! assert_eq!(doc["Action"], "connect");
//! ```

pub mod alarm;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod dimension;
pub mod emf;
mod error;
pub mod name;
pub mod publish;
mod recorder;
pub mod set;
pub mod standard;
pub mod unit;

pub use dimension::{
    ConnectionId, DimensionValue, DimensionValueSource, Dimensions, RequestId, TenantId, UNKNOWN, UserId,
};
pub use error::MetricsError;
pub use name::{DimensionName, IntoMetricName, MetricName, Namespace};
#[cfg(any(test, feature = "testing"))]
pub use publish::MockMetricsPublisher;
pub use publish::{EmfPublisher, MetricsPublisher, PublishReport};
pub use recorder::{
    FlushOptions, FlushReport, InvocationMetrics, add, add_dimension, add_with, flush_invocation, flush_invocation_now,
    publish_set, set_property, try_add, try_add_with,
};
pub use set::{MetricSet, MetricView, value_is_valid};
pub use unit::{StorageResolution, Unit};
