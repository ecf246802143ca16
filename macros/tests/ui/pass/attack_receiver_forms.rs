// Typed receivers and patterns after `self`.
use streamer_obs::instrumented;

#[derive(Debug)]
struct S(u8);

impl S {
    #[instrumented]
    fn typed_ref(self: &Self, (a, b): (u8, u8)) -> u8 {
        self.0 + a + b
    }

    #[instrumented]
    fn typed_mut(self: &mut Self, _: u8) -> u8 {
        self.0 += 1;
        self.0
    }

    #[instrumented]
    fn lifetime_ref<'a>(&'a self, other: &'a str) -> &'a str {
        if self.0 > 0 { other } else { "" }
    }
}

fn main() {
    let mut s = S(1);
    assert_eq!(s.typed_ref((1, 1)), 3);
    assert_eq!(s.typed_mut(0), 2);
    assert_eq!(s.lifetime_ref("x"), "x");
}
