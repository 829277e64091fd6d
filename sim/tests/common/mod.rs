//! A lab with the DUT port 0 and tester port 2 initialised, for the
//! simulator's integration tests. Each test gets its own lab.
#![allow(dead_code)]

use ixy_sim::harness::{self, Dma, RxRing, TxRing};
use ixy_sim::{Bar, Lab, LabConfig};
use std::path::PathBuf;
use std::time::Duration;

/// Generous wait for events: the machine has 2 cores shared by everything.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Fixture {
    pub lab: Lab,
    pub dut: Bar,
    pub tester: Bar,
    next_region: std::cell::Cell<u64>,
}

pub fn root() -> PathBuf {
    PathBuf::from("/dev/shm/ixy-sim-tests")
}

/// A lab named after the test and this process, so runs never collide.
pub fn config(name: &str) -> LabConfig {
    let mut cfg = LabConfig::new(&format!("{name}-{}", std::process::id()));
    cfg.root = root();
    cfg.line_rate = false;
    cfg
}

/// A lab with ports 0 (DUT, not promiscuous) and 2 (tester) initialised.
pub fn fixture(name: &str, tweak: impl FnOnce(&mut LabConfig)) -> Fixture {
    let mut cfg = config(name);
    tweak(&mut cfg);
    let lab = Lab::start(cfg).expect("lab starts");
    let dut = Bar::open(&lab.bar_path(0)).expect("DUT BAR");
    let tester = Bar::open(&lab.bar_path(2)).expect("tester BAR");
    harness::init_port(&dut, false, WAIT).expect("DUT init");
    harness::init_port(&tester, true, WAIT).expect("tester init");
    Fixture {
        lab,
        dut,
        tester,
        next_region: std::cell::Cell::new(0),
    }
}

impl Fixture {
    /// A fresh DMA region of `len` bytes.
    pub fn dma(&self, name: &str, len: usize) -> Dma {
        let n = self.next_region.get();
        self.next_region.set(n + 1);
        let path = self.lab.dir().join(format!("dma-{name}-{n}"));
        Dma::new(&self.lab.iommu_path(), &path, len).expect("DMA region")
    }

    pub fn rx(&self, bar: &Bar, q: u32, size: u32, buf: usize, drop_en: bool) -> RxRing {
        let mem = self.dma(&format!("rx{q}"), size as usize * (16 + buf));
        RxRing::new(bar, q, mem, size, buf, drop_en).expect("Rx ring")
    }

    pub fn tx(&self, bar: &Bar, q: u32, size: u32) -> TxRing {
        let mem = self.dma(&format!("tx{q}"), size as usize * (16 + 2048));
        TxRing::new(bar, q, mem, size, 2048).expect("Tx ring")
    }

    pub fn dut_mac(&self) -> [u8; 6] {
        ixy_sim::lab::mac_of(0)
    }

    pub fn sim_counter(&self, bar: &Bar, c: ixy_sim::SimCounter) -> u64 {
        bar.sim_counter(c)
    }
}

/// Sends all `frames` on `tx`, waiting for room when the ring is full.
pub fn send_all(bar: &Bar, tx: &mut TxRing, frames: impl IntoIterator<Item = Vec<u8>>) {
    for f in frames {
        assert!(
            harness::wait_for(WAIT, || tx.free_slots() > 0),
            "Tx ring never drained"
        );
        assert!(tx.push(&f, 0));
        tx.flush(bar);
    }
}

/// Receives until `n` frames arrived on `rx` (or the wait expires).
pub fn receive(bar: &Bar, rx: &mut RxRing, n: usize) -> Vec<(harness::RxDesc, Vec<u8>)> {
    let mut got = Vec::new();
    harness::wait_for(WAIT, || {
        while let Some(x) = rx.poll(bar) {
            got.push(x);
        }
        got.len() >= n
    });
    got
}
