//! The built-in apps (docs/DESIGN.md 7): `forward`, `reflect`, `sink`.

use crate::app::{App, AppFactory, Outputs, WorkerInfo};
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

/// The factory of the built-in apps, as `ixy-supervisor` uses it: `--app`
/// (required) chooses one of [`NAMES`]; until then it is `forward`.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIns {
    chosen: BuiltIn,
}

impl Default for BuiltIns {
    fn default() -> Self {
        BuiltIns {
            chosen: BuiltIn::Forward(Forward),
        }
    }
}

impl AppFactory for BuiltIns {
    type App = BuiltIn;

    fn name(&self) -> &str {
        self.chosen.name()
    }

    fn ports(&self) -> usize {
        self.chosen.ports()
    }

    fn select(&mut self, app: Option<&str>) -> Result<(), String> {
        let names = NAMES.join(", ");
        let Some(name) = app else {
            return Err(format!("--app is required: one of {names}"));
        };
        self.chosen = by_name(name)
            .ok_or_else(|| format!("--app {name:?}: unknown app; use one of {names}"))?;
        Ok(())
    }

    fn make(&self, _worker: &WorkerInfo) -> Result<BuiltIn, String> {
        Ok(self.chosen)
    }
}

/// One of the built-in apps, dispatched with a `match` per batch rather
/// than through a trait object: the worker's loop is compiled for this
/// type, so the app's code is inlined into it.
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug, Default, Clone, Copy)]
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
#[derive(Debug, Default, Clone, Copy)]
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
#[derive(Debug, Default, Clone, Copy)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use driver::Mempool;

    /// Runs `app` on frames `frames` received on `port` (packets from a
    /// detached pool, no lab); returns what it sent on each port.
    fn run(app: &mut impl App, port: usize, frames: &[[u8; 14]]) -> Vec<Vec<Vec<u8>>> {
        let pool = Mempool::detached(8, 2048).unwrap();
        let mut packets = Vec::new();
        for f in frames {
            let mut p = pool.alloc().unwrap();
            p.set_len(f.len());
            p.data_mut().copy_from_slice(f);
            packets.push(p);
        }
        let mut batches: Vec<Vec<Packet>> = (0..app.ports()).map(|_| Vec::new()).collect();
        app.process(port, &mut packets, &mut Outputs::new(&mut batches));
        assert!(packets.is_empty(), "every packet is sent or freed");
        batches
            .iter()
            .map(|b| b.iter().map(|p| p.data().to_vec()).collect())
            .collect()
    }

    fn frame(dst: u8, src: u8, tag: u8) -> [u8; 14] {
        let mut f = [0; 14];
        f[..6].fill(dst);
        f[6..12].fill(src);
        f[12..].fill(tag);
        f
    }

    #[test]
    fn reflect_swaps_the_macs_and_sends_back_out_of_the_same_port_in_order() {
        let out = run(&mut Reflect, 0, &[frame(1, 2, 7), frame(3, 4, 8)]);
        assert_eq!(
            out,
            vec![vec![frame(2, 1, 7).to_vec(), frame(4, 3, 8).to_vec()]]
        );
    }

    #[test]
    fn forward_sends_each_port_to_the_other_unchanged() {
        let mut fwd = Forward;
        assert_eq!(
            run(&mut fwd, 0, &[frame(1, 2, 3)]),
            vec![vec![], vec![frame(1, 2, 3).to_vec()]]
        );
        assert_eq!(
            run(&mut fwd, 1, &[frame(1, 2, 3)]),
            vec![vec![frame(1, 2, 3).to_vec()], vec![]]
        );
    }

    #[test]
    fn sink_sends_nothing() {
        assert_eq!(
            run(&mut Sink, 0, &[frame(1, 2, 3)]),
            vec![Vec::<Vec<u8>>::new()]
        );
    }

    #[test]
    fn the_built_in_factory_needs_a_known_app() {
        let mut f = BuiltIns::default();
        assert!(f.select(None).unwrap_err().contains("--app is required"));
        assert!(f.select(Some("nope")).unwrap_err().contains("unknown app"));
        f.select(Some("reflect")).unwrap();
        let info = WorkerInfo {
            index: 0,
            workers: 1,
            core: None,
            run_dir: std::env::temp_dir(),
        };
        assert_eq!(
            (f.name(), f.ports(), f.make(&info).map(|a| a.name())),
            ("reflect", 1, Ok("reflect"))
        );
    }
}
