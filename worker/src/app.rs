//! The `App` trait users implement (what a worker does with each batch,
//! its own counters, its housekeeping) and the [`AppFactory`] that makes
//! one app per worker, in the worker, after it is pinned.

use driver::Packet;
use std::time::Instant;

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
/// calls here: it is the hot path (docs/DESIGN.md 11). Work that is not per
/// packet (aging a flow table, reading the clock) goes in
/// [`App::housekeeping`].
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

    /// Names of the app's own counters (drops by reason, flows seen, …):
    /// at most 32, each 1 to 31 of `a-z`, `0-9` and `_`, starting with a
    /// letter (`worker::statsfile::check_counter_names`). They are
    /// published in the worker's stats file with the runtime's counters,
    /// and `ixy-stats` shows them per worker and summed. Default: none.
    fn counter_names(&self) -> &[&str] {
        &[]
    }

    /// Writes the counters' current values into `values`, in the order of
    /// [`App::counter_names`] (`values` has one slot per name). Called at
    /// each publication, about once a millisecond, never per packet: keep
    /// the counts in plain fields that `process` increments.
    fn counters(&self, values: &mut [u64]) {
        let _ = values;
    }

    /// Called about once a millisecond, whether or not packets arrive
    /// (between polls, never during one), with the time: age flow tables,
    /// expire state, keep a coarse clock for `process` to stamp entries
    /// with, so that `process` never reads the clock itself. Default:
    /// nothing.
    fn housekeeping(&mut self, now: Instant) {
        let _ = now;
    }
}

/// What a worker tells the factory that makes its app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// This worker's index i: it owns queue i of every port.
    pub index: u32,
    /// How many workers the run has.
    pub workers: u32,
    /// The core the worker is pinned to (`None`: not pinned).
    pub core: Option<usize>,
    /// The run directory (`--run-dir`), where an app may keep files of
    /// its own beside the worker's stats file (`ixy-pcap`'s captures).
    pub run_dir: std::path::PathBuf,
}

/// Makes one app per worker. The supervisor asks it for the app's name
/// and port count while it checks the command line, before anything is
/// touched; each worker calls [`AppFactory::make`] in its own process
/// after pinning itself, so the app's state (flow tables, buffers) is
/// allocated on the worker's core and shared with nobody. A worker that
/// is restarted gets a fresh app.
pub trait AppFactory {
    /// The app this factory makes.
    type App: App;

    /// The app's name, for logs and `--help`.
    fn name(&self) -> &str;

    /// How many ports (`--device`s) the app needs.
    fn ports(&self) -> usize;

    /// Takes the value of `--app` (`None` when it was not given) before
    /// anything starts. The default accepts no `--app` or the factory's
    /// own name; a factory of several apps chooses here.
    fn select(&mut self, app: Option<&str>) -> Result<(), String> {
        match app {
            None => Ok(()),
            Some(a) if a == self.name() => Ok(()),
            Some(a) => Err(format!(
                "--app {a:?}: this program runs the app {:?} only",
                self.name()
            )),
        }
    }

    /// Makes worker `worker`'s app, in the worker, after pinning. `Err`
    /// says why the app cannot run there (a file it cannot create, …): the
    /// worker ends with [`crate::EXIT_BAD_APP`] and is not restarted.
    fn make(&self, worker: &WorkerInfo) -> Result<Self::App, String>;
}

/// An [`AppFactory`] from a name, a port count and a function; see
/// [`factory`].
#[derive(Debug, Clone)]
pub struct FnFactory<F> {
    name: &'static str,
    ports: usize,
    make: F,
}

/// The factory of the app that `make` returns for each worker, called
/// `name` and needing `ports` ports:
/// `worker::factory("firewall", 2, |w| Firewall::new(w))`.
pub fn factory<A: App, F: Fn(&WorkerInfo) -> A>(
    name: &'static str,
    ports: usize,
    make: F,
) -> FnFactory<F> {
    FnFactory { name, ports, make }
}

impl<A: App, F: Fn(&WorkerInfo) -> A> AppFactory for FnFactory<F> {
    type App = A;

    fn name(&self) -> &str {
        self.name
    }

    fn ports(&self) -> usize {
        self.ports
    }

    fn make(&self, worker: &WorkerInfo) -> Result<A, String> {
        Ok((self.make)(worker))
    }
}
