//! Cycles per packet mean what they say: a worker that sleeps between
//! polls (`--idle sleep`) does not count its sleep as the cost of the
//! packets that arrive after it. The worker runs `ixy_worker::run` on a
//! simulated port; a tester sends it single frames far apart, so every
//! frame arrives while the worker is sleeping at its longest back-off.

mod common;

use driver::{Mempool, TxQueue};
use ixy_worker::statsfile::State;
use std::time::Duration;

const FRAMES: u64 = 20;

#[test]
fn sleeping_is_idle_time_not_the_cost_of_the_next_packet() {
    let common::Rig {
        file,
        worker,
        tester: t,
        dir,
        lab: _lab,
    } = common::rig("cycles", ixy_worker::Idle::Sleep, |_| {
        ixy_worker::apps::Sink
    });
    let pool = Mempool::new(t.dma(), "cycles-gen", 64, 2048).unwrap();
    let mut tx = TxQueue::attach(&t, 0, 64).unwrap();
    let wait = Duration::from_secs(20);
    assert!(
        sim::harness::wait_for(wait, || file.state() == State::Running),
        "the worker never started"
    );
    let frame = sim::harness::udp_frame(
        sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 1, 0, 1],
        1,
        2,
        64,
        0,
    );
    for n in 1..=FRAMES {
        // Long enough for the worker to back off to its longest sleep:
        // this sleep is the behaviour under test, not a wait for an event.
        std::thread::sleep(Duration::from_millis(25));
        tx.clean();
        let mut p = pool.alloc().expect("a buffer");
        p.set_len(frame.len());
        p.data_mut().copy_from_slice(&frame);
        let mut batch = vec![p];
        while !batch.is_empty() {
            tx.tx_batch(&mut batch);
        }
        let received = sim::harness::wait_for(wait, || file.counters().rx_packets >= n);
        assert!(received, "frame {n} never received");
    }
    file.request_stop(true);
    worker.join().expect("the worker stops");
    let c = file.counters();
    assert_eq!(c.rx_packets, FRAMES, "every frame received");
    let cycles_per_packet = c.busy_cycles / c.rx_packets;
    // A poll that receives one frame takes microseconds; the sleep before
    // it takes a millisecond (about 2 000 000 TSC cycles at 2 GHz), which
    // cycles per packet must not include.
    assert!(
        cycles_per_packet < 500_000,
        "{cycles_per_packet} cycles per packet: idle time counted as busy"
    );
    assert!(c.idle_cycles > 10 * c.busy_cycles, "{c:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
