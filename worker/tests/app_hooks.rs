//! An app's own counters and its housekeeping, through `ixy_worker::run`
//! on a simulated port: the counters appear in the worker's stats file
//! (published while it runs, with the values the app keeps), housekeeping
//! runs while no packet arrives, and an app with bad counter names is
//! refused before it polls.

mod common;

use driver::{Device, ErrorKind, InitConfig, Mempool, OpenOptions, Packet, TxQueue};
use ixy_worker::statsfile::{State, StatsFile};
use ixy_worker::{App, Outputs, WorkerSpec};
use std::time::{Duration, Instant};

/// Counts packets and housekeeping calls; drops the packets.
struct Counting {
    names: &'static [&'static str],
    packets: u64,
    housekeeping: u64,
}

impl App for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn ports(&self) -> usize {
        1
    }

    fn process<'a>(
        &mut self,
        _port: usize,
        packets: &mut Vec<Packet<'a>>,
        _out: &mut Outputs<'a, '_>,
    ) {
        self.packets += packets.len() as u64;
        packets.clear();
    }

    fn counter_names(&self) -> &[&str] {
        self.names
    }

    fn counters(&self, values: &mut [u64]) {
        values.copy_from_slice(&[self.packets, self.housekeeping]);
    }

    fn housekeeping(&mut self, _now: Instant) {
        self.housekeeping += 1;
    }
}

fn lab(test: &str) -> (sim::Lab, String) {
    let name = format!("{test}-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    (sim::Lab::start(cfg).expect("lab"), name)
}

fn app_counter(file: &StatsFile, name: &str) -> u64 {
    file.app_counters()
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |&(_, v)| v)
}

#[test]
fn app_counters_are_published_and_housekeeping_runs_while_idle() {
    let common::Rig {
        file,
        worker,
        tester: t,
        dir,
        lab: _lab,
    } = common::rig("app-hooks", ixy_worker::Idle::Sleep, |_| Counting {
        names: &["packets", "housekeeping"],
        packets: 0,
        housekeeping: 0,
    });
    let wait = Duration::from_secs(20);
    assert!(sim::harness::wait_for(wait, || file.state() == State::Running));
    // No traffic yet: housekeeping still runs, and is published.
    assert!(sim::harness::wait_for(wait, || app_counter(
        &file,
        "housekeeping"
    ) >= 10));
    assert_eq!(app_counter(&file, "packets"), 0);
    let pool = Mempool::new(t.dma(), "hooks-gen", 64, 2048).unwrap();
    let mut tx = TxQueue::attach(&t, 0, 64).unwrap();
    let frame = sim::harness::udp_frame(
        sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 1, 0, 1],
        1,
        2,
        64,
        0,
    );
    let mut batch = Vec::new();
    pool.alloc_bulk(&mut batch, 32, frame.len());
    for p in &mut batch {
        p.data_mut().copy_from_slice(&frame);
    }
    while !batch.is_empty() {
        tx.tx_batch(&mut batch);
    }
    assert!(
        sim::harness::wait_for(wait, || app_counter(&file, "packets") == 32),
        "the app's count published: {:?}",
        file.app_counters()
    );
    assert_eq!(
        file.counters().rx_packets,
        32,
        "the runtime counted the same"
    );
    file.request_stop(true);
    worker.join().expect("the worker stops");
    assert_eq!(file.state(), State::Stopped);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_app_with_bad_counter_names_is_refused_before_it_polls() {
    let (_lab, name) = lab("app-bad-names");
    let dir = std::env::temp_dir().join(format!("ixy-app-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = StatsFile::create(&dir, 0, 0, 0).unwrap();
    let dev = Device::open(&format!("sim:{name}/0"), &OpenOptions::default()).unwrap();
    dev.init(&InitConfig::default()).unwrap();
    let spec = WorkerSpec::new(0, dir.clone());
    let err = ixy_worker::run(&spec, std::slice::from_ref(&dev), |_| Counting {
        names: &["Packets", "housekeeping"],
        packets: 0,
        housekeeping: 0,
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("\"Packets\""), "{err}");
    assert_ne!(file.state(), State::Running, "it never ran");
    assert!(file.app_counters().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
