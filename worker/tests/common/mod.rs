//! The rig of the worker's tests: a lab, worker 0 running an app on its
//! port 0 in a thread (as `ixy_worker::run` runs in a forked worker), and
//! the tester port 2 ready to send.

#![allow(dead_code)] // each test file uses its own subset

use driver::{Device, InitConfig, OpenOptions};
use ixy_worker::statsfile::StatsFile;
use ixy_worker::{App, Idle, WorkerInfo, WorkerSpec};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// A running worker and what a test drives it with.
pub struct Rig {
    /// Worker 0's stats file (ask it to stop with `request_stop`).
    pub file: StatsFile,
    /// The worker's thread; `run` must succeed.
    pub worker: JoinHandle<()>,
    /// Tester port 2, cabled to the worker's port 0, promiscuous.
    pub tester: Device,
    /// The run dir.
    pub dir: PathBuf,
    /// Last, so that it goes after the worker and the tester.
    pub lab: sim::Lab,
}

/// An unpaced lab for `test`, worker 0 on its port 0 with idle strategy
/// `idle` running the app `make` makes, and the tester's port 2.
pub fn rig<A, F>(test: &str, idle: Idle, make: F) -> Rig
where
    A: App,
    F: FnOnce(&WorkerInfo) -> A + Send + 'static,
{
    let name = format!("{test}-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    let lab = sim::Lab::start(cfg).expect("lab");
    let dir = std::env::temp_dir().join(format!("ixy-worker-test-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = StatsFile::create(&dir, 0, 0, 0).unwrap();
    let worker = std::thread::spawn({
        let (name, dir) = (name.clone(), dir.clone());
        move || {
            let dev = Device::open(&format!("sim:{name}/0"), &OpenOptions::default()).unwrap();
            dev.init(&InitConfig::default()).unwrap();
            let mut spec = WorkerSpec::new(0, dir);
            spec.idle = idle;
            ixy_worker::run(&spec, std::slice::from_ref(&dev), make).unwrap();
        }
    });
    let tester = Device::open(&format!("sim:{name}/2"), &OpenOptions::default()).unwrap();
    tester
        .init(&InitConfig {
            promisc: true,
            ..InitConfig::default()
        })
        .unwrap();
    Rig {
        file,
        worker,
        tester,
        dir,
        lab,
    }
}
