//! [`write_block`]: fixed-size pieces of output (JSON heads, annotations, timestamps)
//! written where they stay in the output buffer.

/// Appends `N` bytes for `write` to fill in place and keeps the first `len` it returns
/// (at most `N`); returns `len`. One fixed-size append (zeros), then the excess cut: no
/// `memcpy` call of variable length. The bytes are written where they stay: a block built
/// on the stack and then appended would be written with narrow stores and read back at once
/// with wide loads, which the CPU cannot forward from the stores (a stall of a dozen cycles
/// each).
#[inline]
pub(crate) fn write_block<const N: usize>(out: &mut Vec<u8>, write: impl FnOnce(&mut [u8; N]) -> usize) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; N]);
    let len = match out[start..].first_chunk_mut::<N>() {
        Some(block) => write(block).min(N),
        None => 0,
    };
    out.truncate(start + len);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_written_after_what_was_there() {
        let mut out = b"ab".to_vec();
        assert_eq!(
            write_block::<8>(&mut out, |b| {
                b[..3].copy_from_slice(b"xyz");
                3
            }),
            3
        );
        assert_eq!(out, b"abxyz");
        // Nothing kept, and a length past the block is cut to it.
        assert_eq!(write_block::<4>(&mut out, |_| 0), 0);
        assert_eq!(out, b"abxyz");
        assert_eq!(
            write_block::<2>(&mut out, |b| {
                *b = *b"12";
                9
            }),
            2
        );
        assert_eq!(out, b"abxyz12");
    }
}
