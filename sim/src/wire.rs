//! Frames on a cable and the time they take at 10 Gbit/s.

/// Picoseconds per byte at 10 Gbit/s.
pub const PS_PER_BYTE: u64 = 800;
/// Preamble + start of frame delimiter + minimum inter-frame gap, in bytes.
pub const WIRE_OVERHEAD: u64 = 8 + 12;
/// Smallest frame on the wire, FCS included (IEEE 802.3).
pub const MIN_FRAME: u64 = 64;

/// A frame travelling from one port to another.
#[derive(Debug, Default)]
pub struct WireFrame {
    /// The frame from destination MAC to the end of the payload, without FCS.
    pub data: Vec<u8>,
    /// Whether the FCS that followed the data was correct.
    pub fcs_ok: bool,
    /// Lab time (ps) at which the start of frame delimiter reaches the receiver.
    pub rx_sfd_ps: u64,
    /// Lab time (ps) at which the last bit has arrived: the receiver may
    /// act on the frame from then on.
    pub arrival_ps: u64,
}

/// Time a frame of `len` bytes (without FCS) occupies the wire, with FCS,
/// padding to the minimum size, preamble and inter-frame gap.
pub fn wire_time_ps(len: usize) -> u64 {
    ((len as u64 + 4).max(MIN_FRAME) + WIRE_OVERHEAD) * PS_PER_BYTE
}

/// Frames per second at line rate for frames of `len` bytes without FCS.
pub fn line_rate_pps(len: usize) -> f64 {
    1e12 / wire_time_ps(len) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_byte_frames_run_at_14_88_mpps() {
        assert_eq!(wire_time_ps(60), 67_200);
        assert!((line_rate_pps(60) - 14_880_952.4).abs() < 1.0);
        // Short frames are padded to the minimum on the wire.
        assert_eq!(wire_time_ps(20), wire_time_ps(60));
        assert_eq!(wire_time_ps(1514), 1538 * 800);
    }
}
