//! The built-in apps (DESIGN.md 7): `forward`, `reflect`, `sink`.

use crate::app::{App, Outputs};
use driver::Packet;

/// Names of the built-in apps, for `--help` and error messages.
pub const NAMES: [&str; 3] = ["forward", "reflect", "sink"];

/// The built-in app called `name`.
pub fn by_name(name: &str) -> Option<BuiltIn> {
    match name {
        "forward" => Some(BuiltIn::Forward(Forward)),
        "reflect" => Some(BuiltIn::Reflect(Reflect)),
        "sink" => Some(BuiltIn::Sink(Sink)),
        _ => None,
    }
}

/// One of the built-in apps, dispatched with a `match` per batch rather
/// than through a trait object: the worker's loop is compiled for this
/// type, so the app's code is inlined into it.
#[derive(Debug)]
pub enum BuiltIn {
    /// [`Forward`].
    Forward(Forward),
    /// [`Reflect`].
    Reflect(Reflect),
    /// [`Sink`].
    Sink(Sink),
}

impl App for BuiltIn {
    fn name(&self) -> &'static str {
        match self {
            BuiltIn::Forward(a) => a.name(),
            BuiltIn::Reflect(a) => a.name(),
            BuiltIn::Sink(a) => a.name(),
        }
    }

    fn ports(&self) -> usize {
        match self {
            BuiltIn::Forward(a) => a.ports(),
            BuiltIn::Reflect(a) => a.ports(),
            BuiltIn::Sink(a) => a.ports(),
        }
    }

    #[inline]
    fn process<'a>(
        &mut self,
        port: usize,
        packets: &mut Vec<Packet<'a>>,
        out: &mut Outputs<'a, '_>,
    ) {
        match self {
            BuiltIn::Forward(a) => a.process(port, packets, out),
            BuiltIn::Reflect(a) => a.process(port, packets, out),
            BuiltIn::Sink(a) => a.process(port, packets, out),
        }
    }
}

/// ixy-fwd on many cores: what arrives on port 0 leaves on port 1 and the
/// other way round. One byte of every packet is read and written back so
/// that the packet is really loaded into L1, as ixy-fwd does; unlike ixy-fwd
/// the value is kept, so traffic verifies byte for byte end to end.
#[derive(Debug, Default)]
pub struct Forward;

impl App for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    fn ports(&self) -> usize {
        2
    }

    #[inline]
    fn process<'a>(
        &mut self,
        port: usize,
        packets: &mut Vec<Packet<'a>>,
        out: &mut Outputs<'a, '_>,
    ) {
        // An opaque zero: the compiler must load and store the byte, the
        // value stays the same.
        let zero = std::hint::black_box(0);
        for p in packets.iter_mut() {
            if let Some(b) = p.data_mut().get_mut(6) {
                *b ^= zero;
            }
        }
        out.send_all(port ^ 1, packets);
    }
}

/// ixy's echoer: swaps source and destination MAC and sends the packet
/// back out of the port it came in on.
#[derive(Debug, Default)]
pub struct Reflect;

impl App for Reflect {
    fn name(&self) -> &'static str {
        "reflect"
    }

    fn ports(&self) -> usize {
        1
    }

    #[inline]
    fn process<'a>(
        &mut self,
        port: usize,
        packets: &mut Vec<Packet<'a>>,
        out: &mut Outputs<'a, '_>,
    ) {
        for p in packets.iter_mut() {
            if let Some(macs) = p.data_mut().get_mut(..12) {
                let (dst, src) = macs.split_at_mut(6);
                dst.swap_with_slice(src);
            }
        }
        out.send_all(port, packets);
    }
}

/// Counts and drops (the runtime counts; the packets are freed).
#[derive(Debug, Default)]
pub struct Sink;

impl App for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn ports(&self) -> usize {
        1
    }

    #[inline]
    fn process<'a>(
        &mut self,
        _port: usize,
        packets: &mut Vec<Packet<'a>>,
        _out: &mut Outputs<'a, '_>,
    ) {
        packets.clear();
    }
}
