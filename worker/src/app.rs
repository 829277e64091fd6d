//! The `App` trait users implement: what a worker does with each batch.

use driver::Packet;

/// Where an app puts packets to send: one Tx batch per port of the worker.
/// The runtime sends them after `process` returns; those a full ring does
/// not take are freed and counted as tx drops.
pub struct Outputs<'a, 'b> {
    batches: &'b mut [Vec<Packet<'a>>],
}

impl<'a, 'b> Outputs<'a, 'b> {
    /// Outputs over the Tx batches of every port.
    #[inline]
    pub fn new(batches: &'b mut [Vec<Packet<'a>>]) -> Self {
        Outputs { batches }
    }

    /// Number of ports.
    pub fn ports(&self) -> usize {
        self.batches.len()
    }

    /// Queues `packet` for port `port`. A port the worker does not have
    /// frees the packet and returns false.
    #[inline]
    pub fn send(&mut self, port: usize, packet: Packet<'a>) -> bool {
        match self.batches.get_mut(port) {
            Some(batch) => {
                batch.push(packet);
                true
            }
            None => false,
        }
    }

    /// Queues every packet of `packets` for port `port`, in order, leaving
    /// `packets` empty: one copy of the batch instead of a move per packet.
    /// A port the worker does not have frees them and returns false.
    #[inline(always)]
    pub fn send_all(&mut self, port: usize, packets: &mut Vec<Packet<'a>>) -> bool {
        match self.batches.get_mut(port) {
            // An empty batch (the common case) takes the packets' vector
            // whole: no copy.
            Some(batch) if batch.is_empty() => {
                std::mem::swap(batch, packets);
                true
            }
            Some(batch) => {
                batch.append(packets);
                true
            }
            None => {
                packets.clear();
                false
            }
        }
    }
}

/// A packet-processing application run by every worker on its own queues.
///
/// `process` is called in the busy loop with the packets one `rx_batch`
/// returned on `port`. Move a packet to `out` to send it; packets left in
/// `packets` are freed after the call. Never allocate, block or make system
/// calls here: it is the hot path (DESIGN.md 11).
pub trait App {
    /// Short name for logs and tables.
    fn name(&self) -> &'static str;

    /// How many ports (`--device`s) the app needs.
    fn ports(&self) -> usize;

    /// Handles one batch received on `port`.
    fn process<'a>(
        &mut self,
        port: usize,
        packets: &mut Vec<Packet<'a>>,
        out: &mut Outputs<'a, '_>,
    );
}
