use streamer_obs::instrumented;

#[derive(Debug, Clone, Copy)]
struct Foo {
    x: u8,
    y: u8,
}

#[derive(Debug)]
struct Wrapper(u8);

#[instrumented]
fn tuple_pat((a, b): (u8, u8)) -> u8 {
    a + b
}

#[instrumented]
fn struct_pat(Foo { x, .. }: Foo, Foo { y: renamed, .. }: Foo) -> u8 {
    x + renamed
}

#[instrumented]
fn tuple_struct_pat(Wrapper(inner): Wrapper, _: u8, mut m: u8) -> u8 {
    m += inner;
    m
}

#[instrumented]
fn ref_pat(&n: &u8, ref r: u8, [first, .., last]: [u8; 3]) -> u8 {
    n + *r + first + last
}

#[instrumented]
fn at_pat(whole @ Foo { x, .. }: Foo) -> u8 {
    whole.y + x
}

#[instrumented]
async fn async_pats((a, b): (String, String), mut c: Vec<u8>) -> usize {
    c.push(1);
    a.len() + b.len() + c.len()
}

#[instrumented]
fn r#match(r#type: u8, r#async: &str) -> u8 {
    r#type + r#async.len() as u8
}

fn main() {
    assert_eq!(tuple_pat((1, 2)), 3);
    let f = Foo { x: 1, y: 2 };
    assert_eq!(struct_pat(f, f), 3);
    assert_eq!(tuple_struct_pat(Wrapper(1), 0, 2), 3);
    assert_eq!(ref_pat(&1, 2, [3, 0, 4]), 10);
    assert_eq!(at_pat(f), 3);
    let _ = async_pats((String::new(), String::new()), vec![]);
    assert_eq!(r#match(1, "ab"), 3);
}
