//! xorshift64: deterministic, seedable, and no dependency.

/// Advances `state` by one xorshift64 step (13, 7, 17) and returns the new state.
///
/// A state of 0 stays 0; seed with something else (`seed | 1` will do).
#[inline]
pub fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_xorshift64() {
        let mut state = 1;
        assert_eq!(next_random(&mut state), 0x4082_2041);
        assert_eq!(state, 0x4082_2041);
        let mut zero = 0;
        assert_eq!(next_random(&mut zero), 0);
    }
}
