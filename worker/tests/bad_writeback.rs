//! A device's nonsense reaches the worker's statistics file: descriptors
//! written back without EOP are dropped by the driver and counted, and
//! the count is published with the worker's other counters (docs/DESIGN.md 8).

mod common;

use driver::{Mempool, TxQueue};
use ixy_worker::statsfile::State;
use std::time::Duration;

#[test]
fn nonsense_write_backs_are_counted_in_the_stats_file() {
    let common::Rig {
        file,
        worker,
        tester: t,
        dir,
        lab,
    } = common::rig("wb-worker", ixy_worker::Idle::Spin, |_| {
        ixy_worker::apps::Sink
    });
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
