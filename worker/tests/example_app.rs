//! The example app of `examples/flow_counter.rs`, written against the
//! public API only, run as a worker on a simulated port while a tester
//! sends it ten flows. The worker's Rx ring (2048) holds every frame sent,
//! so nothing is lost even if the worker is not scheduled for a while.

#[path = "../examples/flow_counter.rs"]
mod flow_counter;

use driver::{Device, InitConfig, Mempool, OpenOptions, TxQueue};
use std::time::Duration;

#[test]
fn a_user_written_app_counts_every_flow() {
    let name = format!("example-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    let _lab = sim::Lab::start(cfg).expect("lab");
    let tester_name = name.clone();
    let dir = std::env::temp_dir().join(format!("ixy-example-{}", std::process::id()));
    let stats = ixy_worker::statsfile::path(&dir, 0);
    let _ = std::fs::remove_file(&stats);
    let tester = std::thread::spawn(move || {
        let t = Device::open(&format!("sim:{tester_name}/2"), &OpenOptions::default()).unwrap();
        t.init(&InitConfig {
            promisc: true,
            ..InitConfig::default()
        })
        .unwrap();
        let pool = Mempool::new(t.dma(), "ex-gen", 256, 2048).unwrap();
        let mut tx = TxQueue::attach(&t, 0, 64).unwrap();
        // Wait until the worker runs: its queue is attached and armed.
        let running = sim::harness::wait_for(Duration::from_secs(10), || {
            ixy_worker::statsfile::StatsFile::open(&stats)
                .is_ok_and(|f| f.state() == ixy_worker::statsfile::State::Running)
        });
        assert!(running, "the worker never started");
        for n in 0..1000u32 {
            let f = sim::harness::udp_frame(
                sim::lab::mac_of(0),
                [10, 0, 0, (n % 10) as u8],
                [10, 1, 0, 1],
                1000,
                2000,
                64,
                0,
            );
            let mut p = loop {
                tx.clean();
                if let Some(p) = pool.alloc() {
                    break p;
                }
            };
            p.set_len(f.len());
            p.data_mut().copy_from_slice(&f);
            let mut batch = vec![p];
            while !batch.is_empty() {
                tx.tx_batch(&mut batch);
            }
            if n % 32 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let app = flow_counter::run(&format!("sim:{name}/0"), 2.5, &dir).expect("the example runs");
    tester.join().expect("tester");
    let top = app.top(20);
    assert_eq!(top.len(), 10, "ten flows: {top:?}");
    assert!(
        top.iter().all(|&(_, n)| n == 100),
        "100 packets each: {top:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
