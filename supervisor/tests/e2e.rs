//! ixy-supervisor and its workers end to end on a simulated lab: the real
//! binary supervises forked workers on DUT ports 0 and 1, while this test
//! drives tester ports 2 and 3 with the driver crate.
//!
//! The tests run one at a time (a lock): each starts several processes on
//! a 2-core machine. Traffic is paced well below what the machine carries,
//! so that "nothing lost" is a property of the framework, not of luck.

mod common;

use common::*;
use driver::{Mempool, RssConfig, RssKey, TxQueue};
use sim::SimCounter;
use std::process::Command;
use std::time::Duration;
use tools::flows::{self, Generator};
use worker::statsfile::{self, State, StatsFile};

#[test]
fn four_workers_forward_1024_flows_each_worker_its_toeplitz_share() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = start(
        "fwd4",
        &[
            "--workers",
            "4",
            "--app",
            "forward",
            "--device",
            "sim:LAB/0",
            "--device",
            "sim:LAB/1",
            "--oversubscribe",
            "--idle",
            "yield",
        ],
    );
    run.wait_running(&[0, 1, 2, 3]);
    let (flows, total) = (1024u32, 8192u32);
    let results = traffic(&run, flows, total, 20_000, |_| {});
    let sum = flows::total(&results);
    assert_eq!(
        (sum.sent, sum.received),
        (u64::from(total), u64::from(total)),
        "every packet sent comes back out; log:\n{}",
        run.log()
    );
    assert_eq!(
        (sum.lost, sum.duplicated, sum.reordered),
        (0, 0, 0),
        "in order per flow, counted once"
    );
    assert!(
        results.iter().all(|r| r.received > 0),
        "every flow came through"
    );
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let mut share = [0u64; 4];
    for f in 0..total {
        share[queue_of(&rss, f % flows) as usize] += 1;
    }
    // Workers publish their counters about once a millisecond: the last
    // frames can be back at the tester before their worker has published.
    let published = wait(|| {
        (0..4)
            .map(|i| run.worker(i).counters().tx_packets)
            .sum::<u64>()
            == u64::from(total)
    });
    assert!(published, "the workers publish every frame they forwarded");
    for i in 0..4 {
        let c = run.worker(i).counters();
        assert_eq!(
            c.rx_packets, share[i as usize],
            "worker {i} receives what the Toeplitz prediction says"
        );
        assert_eq!(
            (c.tx_packets, c.tx_drops),
            (c.rx_packets, 0),
            "worker {i} forwards all it receives"
        );
    }
    // The supervisor's port files (hardware counters) agree with the traffic.
    let ok = wait(|| {
        port_stat(&run.run_dir, 0, "rx_packets") == u64::from(total)
            && port_stat(&run.run_dir, 1, "tx_packets") == u64::from(total)
    });
    assert!(
        ok,
        "port-0 rx {} and port-1 tx {} vs {total}",
        port_stat(&run.run_dir, 0, "rx_packets"),
        port_stat(&run.run_dir, 1, "tx_packets")
    );
    // ixy-stats --json says the same, and sees every worker alive.
    let out = Command::new(ixy_stats())
        .args(["--json", "--interval", "0.2", "--run-dir"])
        .arg(&run.run_dir)
        .output()
        .expect("ixy-stats runs");
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ixy-stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_u64(&json, "\"total\"", "rx_packets"),
        u64::from(total),
        "{json}"
    );
    assert_eq!(json_u64(&json, "\"total\"", "alive"), 4, "{json}");
    assert_eq!(
        json_u64(&json, "\"port\":0", "rx_packets"),
        u64::from(total),
        "{json}"
    );
    assert_eq!(
        json_u64(&json, "\"port\":1", "tx_packets"),
        u64::from(total),
        "{json}"
    );
    for (i, want) in share.iter().enumerate() {
        assert_eq!(
            json_u64(&json, &format!("\"index\":{i},"), "rx_packets"),
            *want,
            "{json}"
        );
    }
    let lab_name = run.name.clone();
    let (lab, run_dir, log) = run.terminate();
    assert!(log.contains("summary"), "a summary is printed:\n{log}");
    let faults: u64 = (0..4)
        .map(|p| {
            sim::Bar::open(&lab.bar_path(p))
                .unwrap()
                .sim_counter(SimCounter::IommuFaults)
        })
        .sum();
    assert_eq!(faults, 0, "queues disabled before memory was freed");
    assert!(
        dma_files_left(&lab_name).is_empty(),
        "DMA files left: {:?}",
        dma_files_left(&lab_name)
    );
    for i in 0..4 {
        assert_eq!(
            StatsFile::open(&statsfile::path(&run_dir, i))
                .unwrap()
                .state(),
            State::Stopped
        );
    }
}

#[test]
fn a_killed_worker_is_restarted_and_the_others_lose_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = forward2("kill");
    let victim = run.worker(1);
    let mut restarted_in = None;
    let (flows, total) = (256u32, 12_000u32);
    let results = traffic(&run, flows, total, 10_000, |sent| {
        if sent >= total / 3 && restarted_in.is_none() {
            restarted_in = Some(run.kill_and_wait_back(1));
        }
    });
    let took = restarted_in.expect("the worker was killed");
    assert!(took < Duration::from_secs(2), "restarted after {took:?}");
    assert_eq!(victim.restarts(), 1);
    let rss = RssConfig::new(2, RssKey::Default).unwrap();
    for f in (0..flows).filter(|&f| queue_of(&rss, f) == 0) {
        let r = results[f as usize];
        assert_eq!(
            (r.lost, r.duplicated, r.reordered),
            (0, 0, 0),
            "flow {f} of the surviving worker: {r:?}"
        );
        assert_eq!(
            r.received,
            u64::from(total / flows + u32::from(f < total % flows))
        );
    }
    assert_eq!(
        run.iommu_faults(),
        0,
        "the dead worker's queues were disabled before its memory went"
    );
    let (_lab, _dir, log) = run.terminate();
    assert!(
        log.contains("killed by SIGKILL"),
        "the exit cause is reported:\n{log}"
    );
}

#[test]
fn debug_worker_1_receives_exactly_the_flows_of_queue_1() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = start(
        "debug",
        &[
            "--workers",
            "4",
            "--app",
            "sink",
            "--device",
            "sim:LAB/0",
            "--debug-worker",
            "1",
            "--duration",
            "30",
        ],
    );
    run.wait_running(&[1]);
    assert!(
        StatsFile::open(&statsfile::path(&run.run_dir, 0))
            .is_ok_and(|f| f.state() == State::Starting),
        "no other worker runs"
    );
    let (t2, flows, total) = (run.tester(2), 1024u32, 4096u32);
    let pool = Mempool::new(t2.dma(), "dbg", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&t2, 0, 256).unwrap();
    let mut gen = Generator::new(spec(flows));
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let w = run.worker(1);
    // Frames sent so far that RSS puts on queue 1 (the generator goes
    // round robin over the flows).
    let mut want = 0u64;
    let mut out = Vec::new();
    for n in 0..total {
        let mut p = loop {
            tx.clean();
            if let Some(p) = pool.alloc() {
                break p;
            }
        };
        p.set_len(gen.size());
        gen.fill(p.data_mut());
        out.push(p);
        want += u64::from(queue_of(&rss, n % flows) == 1);
        if out.len() == 32 {
            while !out.is_empty() {
                tx.tx_batch(&mut out);
            }
            // Flow control, not timing: at most 256 frames for worker 1
            // in flight, a quarter of its Rx ring, so none is dropped.
            assert!(
                wait(|| w.counters().rx_packets + 256 >= want),
                "worker 1 stopped receiving at {} of {want}",
                w.counters().rx_packets
            );
        }
    }
    while !out.is_empty() {
        tx.tx_batch(&mut out);
    }
    // Once the lab is quiet every frame is where it will stay: the NIC
    // put exactly the flows of queue 1 on queue 1 (its counter set 1;
    // only the test reads it while a debug worker runs), and the worker
    // received all of them.
    run.lab.quiesce(WAIT).expect("the lab goes quiet");
    let dut = sim::Bar::open(&run.lab.bar_path(0)).expect("DUT BAR");
    assert_eq!(
        u64::from(dut.read(driver::regs::qprc(1))),
        want,
        "the NIC put exactly the flows of queue 1 on queue 1"
    );
    assert!(
        wait(|| w.counters().rx_packets == want),
        "worker 1 got {} of {want}",
        w.counters().rx_packets
    );
    // The tester's queue goes before the lab does (it waits for the
    // simulated device to confirm the disable).
    drop(out);
    drop(tx);
    drop(pool);
    run.terminate();
}
