//! A device's nonsense reaches the worker's statistics file: descriptors
//! written back without EOP are dropped by the driver and counted, and
//! the count is published with the worker's other counters (docs/DESIGN.md 8).

use driver::{Device, InitConfig, Mempool, OpenOptions, TxQueue};
use ixy_worker::statsfile::{State, StatsFile};
use std::time::Duration;

#[test]
fn nonsense_write_backs_are_counted_in_the_stats_file() {
    let name = format!("wb-worker-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    let lab = sim::Lab::start(cfg).expect("lab");
    let dir = std::env::temp_dir().join(format!("ixy-wb-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = StatsFile::create(&dir, 0, 0, 0).unwrap();
    let worker = std::thread::spawn({
        let (name, dir) = (name.clone(), dir.clone());
        move || {
            let dev = Device::open(&format!("sim:{name}/0"), &OpenOptions::default()).unwrap();
            dev.init(&InitConfig::default()).unwrap();
            let spec = ixy_worker::WorkerSpec::new(0, dir);
            ixy_worker::run(&spec, std::slice::from_ref(&dev), |_| {
                ixy_worker::apps::Sink
            })
            .unwrap();
        }
    });
    let t = Device::open(&format!("sim:{name}/2"), &OpenOptions::default()).unwrap();
    t.init(&InitConfig {
        promisc: true,
        ..InitConfig::default()
    })
    .unwrap();
    let pool = Mempool::new(t.dma(), "wb-worker-gen", 64, 2048).unwrap();
    let mut tx = TxQueue::attach(&t, 0, 64).unwrap();
    let wait = Duration::from_secs(20);
    assert!(
        sim::harness::wait_for(wait, || file.state() == State::Running),
        "the worker never started"
    );
    lab.control("corrupt 0 no-eop 3").unwrap();
    let frame = sim::harness::udp_frame(
        sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 1, 0, 1],
        1,
        2,
        64,
        0,
    );
    let mut batch: Vec<_> = (0..5)
        .map(|_| {
            let mut p = pool.alloc().expect("a buffer");
            p.set_len(frame.len());
            p.data_mut().copy_from_slice(&frame);
            p
        })
        .collect();
    while !batch.is_empty() {
        tx.tx_batch(&mut batch);
    }
    let published = sim::harness::wait_for(wait, || {
        let c = file.counters();
        c.rx_packets == 2 && c.rx_bad_descriptors == 3
    });
    file.request_stop(true);
    worker.join().expect("the worker stops");
    let c = file.counters();
    assert!(published, "{c:?}");
    assert_eq!(
        (c.rx_packets, c.rx_bad_descriptors, c.rx_queue_resets),
        (2, 3, 0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
