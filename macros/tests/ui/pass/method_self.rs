use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[derive(Debug, Default)]
struct Handler {
    table: String,
    calls: u64,
}

impl Handler {
    // A method handler: the first parameter after `self` is the event.
    #[instrumented(skip(self))]
    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let _ = &self.table;
        Ok(event.payload)
    }

    #[instrumented]
    fn table(&self) -> &str {
        &self.table
    }

    #[instrumented]
    fn bump(&mut self) -> Result<u64, std::io::Error> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[instrumented]
    async fn table_async(&self) -> &str {
        &self.table
    }

    #[instrumented]
    async fn longest<'a>(&self, other: &'a str) -> Result<&'a str, std::io::Error>
    where
        Self: Sized,
    {
        Ok(other)
    }

    #[instrumented]
    async fn renamed(mut self, name: String) -> Self {
        self.table = name;
        self
    }

    #[instrumented]
    async fn consume(self) -> String {
        self.table
    }

    #[instrumented]
    fn new_named(name: &str) -> Self {
        Self { table: name.to_owned(), calls: 0 }
    }
}

fn main() {
    let mut h = Handler::new_named("t");
    let _ = h.table();
    let _ = h.bump();
}
