// Receivers of every kind, trait impls, async fn in traits (MSRV 1.94), recursion.
use std::pin::Pin;
use std::sync::Arc;

use streamer_obs::instrumented;

#[derive(Debug, Default)]
struct S {
    n: u8,
}

impl S {
    #[instrumented]
    fn by_arc(self: Arc<Self>) -> u8 {
        self.n
    }

    #[instrumented]
    fn by_box(self: Box<Self>) -> u8 {
        self.n
    }

    #[instrumented(skip(self))]
    fn by_pin(self: Pin<&mut Self>) -> u8 {
        self.n
    }

    #[instrumented]
    async fn by_arc_async(self: Arc<Self>, k: u8) -> Result<u8, std::io::Error> {
        Ok(self.n + k)
    }
}

trait Service {
    fn call(&self, n: u8) -> u8;
    async fn call_async(&self, n: u8) -> u8;

    #[instrumented(skip(self))]
    fn provided(&self, n: u8) -> u8 {
        self.call(n) + 1
    }

    #[instrumented(skip(self))]
    async fn provided_async(&self, n: u8) -> Result<u8, std::io::Error> {
        Ok(self.call_async(n).await + 1)
    }
}

impl Service for S {
    #[instrumented]
    fn call(&self, n: u8) -> u8 {
        self.n + n
    }

    #[instrumented]
    async fn call_async(&self, n: u8) -> u8 {
        self.n + n
    }
}

#[instrumented]
fn fact(n: u64) -> u64 {
    if n == 0 { 1 } else { n * fact(n - 1) }
}

#[instrumented]
fn fib(n: u64) -> Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return Ok(n);
        }
        Ok(fib(n - 1).await? + fib(n - 2).await?)
    })
}

#[instrumented]
async fn fib_async(n: u64) -> Result<u64, std::io::Error> {
    if n < 2 {
        return Ok(n);
    }
    let a = Box::pin(fib_async(n - 1)).await?;
    let b = Box::pin(fib_async(n - 2)).await?;
    Ok(a + b)
}

#[instrumented]
async fn early_returns(n: u8) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if n == 0 {
        return Err("zero".into());
    }
    let parsed: u8 = "5".parse()?;
    let inner = async move { n + parsed }.await;
    let spawned = tokio::spawn(async move { inner * 2 }).await?;
    Ok(spawned)
}

fn main() {
    let s = Arc::new(S { n: 1 });
    assert_eq!(s.clone().by_arc(), 1);
    assert_eq!(Box::new(S { n: 2 }).by_box(), 2);
    let mut p = S { n: 3 };
    assert_eq!(Pin::new(&mut p).by_pin(), 3);
    assert_eq!(S { n: 1 }.provided(1), 3);
    assert_eq!(fact(5), 120);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(fib(10).await.unwrap(), 55);
        assert_eq!(fib_async(10).await.unwrap(), 55);
        assert_eq!(early_returns(1).await.unwrap(), 12);
        assert!(early_returns(0).await.is_err());
        assert_eq!(S { n: 1 }.provided_async(1).await.unwrap(), 3);
        assert_eq!(s.by_arc_async(1).await.unwrap(), 2);
    });
}
