//! The simulated 82599 driven register by register through its BAR file and
//! the IOMMU table, as a driver written from the datasheet would.

mod common;

use common::{fixture, receive, send_all, WAIT};
use driver::regs;
use ixy_sim::harness::{program_rss, udp_frame, wait_for};
use ixy_sim::{Bar, SimCounter};
use std::time::Duration;

fn flow_frame(f: &common::Fixture, i: u32, len: usize) -> Vec<u8> {
    let src = [10, 0, (i >> 8) as u8, i as u8];
    udp_frame(
        f.dut_mac(),
        src,
        [10, 1, 0, 1],
        1000 + (i % 50) as u16,
        4000,
        len,
        u64::from(i),
    )
}

#[test]
fn reset_handshake_restores_defaults_and_disables_queues() {
    let f = fixture("reset", |c| c.reset_delay = Duration::from_millis(300));
    let bar = &f.dut;
    let rx = f.rx(bar, 3, 64, 2048, true);
    bar.write(regs::FCTRL, regs::FCTRL_UPE | regs::FCTRL_BAM);
    bar.write(regs::CTRL, regs::CTRL_RST);
    // During the reset the handshakes read as not done.
    assert!(wait_for(WAIT, || bar.read(regs::EEC) & regs::EEC_ARD == 0));
    assert_eq!(bar.read(regs::CTRL) & regs::CTRL_RST, regs::CTRL_RST);
    assert_eq!(bar.read(regs::RDRXCTL) & regs::RDRXCTL_DMAIDONE, 0);
    // Then RST self-clears and both handshakes complete.
    assert!(wait_for(WAIT, || bar.read(regs::CTRL) & regs::CTRL_RST == 0));
    assert_ne!(bar.read(regs::EEC) & regs::EEC_ARD, 0);
    assert_ne!(bar.read(regs::RDRXCTL) & regs::RDRXCTL_DMAIDONE, 0);
    assert_eq!(bar.read(regs::FCTRL), 0, "FCTRL back to its reset value");
    assert_eq!(bar.read(regs::srrctl(3)), regs::SRRCTL_DEFAULT);
    assert_eq!(
        bar.read(regs::rxdctl(rx.queue)) & regs::RXDCTL_ENABLE,
        0,
        "reset disables queues"
    );
    assert_eq!(bar.read(regs::HLREG0), regs::HLREG0_DEFAULT);
    // The MAC address is loaded from the "EEPROM" with AV set.
    let mac = ixy_sim::lab::mac_of(0);
    assert_eq!(
        bar.read(regs::ral(0)),
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]])
    );
    assert_eq!(bar.read(regs::rah(0)) & regs::RAH_AV, regs::RAH_AV);
}

#[test]
fn gio_master_enable_reads_1_on_a_live_device_and_follows_master_disable() {
    // 8.2.3.1.2: drivers (Linux's ixgbe_disable_pcie_master) set CTRL's
    // master disable and poll STATUS.GIO until it reads 0.
    let f = fixture("gio", |_| {});
    let bar = &f.dut;
    assert_ne!(
        bar.read(regs::STATUS) & regs::STATUS_GIO_MASTER_ENABLE,
        0,
        "a live device has bus mastering enabled"
    );
    bar.write(regs::CTRL, regs::CTRL_PCIE_MASTER_DISABLE);
    assert!(wait_for(WAIT, || bar.read(regs::STATUS)
        & regs::STATUS_GIO_MASTER_ENABLE
        == 0));
    bar.write(regs::CTRL, 0);
    assert!(wait_for(WAIT, || bar.read(regs::STATUS)
        & regs::STATUS_GIO_MASTER_ENABLE
        != 0));
    assert_ne!(
        bar.read(regs::STATUS) & regs::STATUS_LU,
        0,
        "the link stayed up"
    );
}

#[test]
fn eicr_is_write_1_to_clear_and_eics_sets_and_shows_the_causes() {
    // 8.2.3.5.1: writing 1s to EICR clears those causes (Linux writes
    // IXGBE_IRQ_CLEAR_MASK, all ones). 8.2.3.5.3: writing EICS sets causes
    // in EICR; reading EICS returns them without clearing (Linux's
    // ixgbe_msix_other reads EICS for that reason).
    let f = fixture("eicr", |_| {});
    let bar = &f.dut;
    bar.write(regs::EICR, 0xFFFF_FFFF);
    assert_eq!(bar.read(regs::EICS), 0, "all ones cleared every cause");
    bar.write(regs::EICS, regs::EICR_LSC);
    assert_eq!(bar.read(regs::EICS), regs::EICR_LSC, "EICS set the cause");
    assert_eq!(
        bar.read(regs::EICS),
        regs::EICR_LSC,
        "and reading EICS keeps it"
    );
    bar.write(regs::EICR, regs::EICR_LSC);
    assert_eq!(bar.read(regs::EICS), 0, "write 1 to clear");
    bar.write(regs::EICS, regs::EICR_LSC);
    assert_eq!(bar.read(regs::EICR), regs::EICR_LSC);
    assert_eq!(bar.read(regs::EICS), 0, "reading EICR cleared it");
}

#[test]
fn link_comes_up_after_autoneg_and_follows_the_cable() {
    let f = fixture("link", |c| c.link_delay = Duration::from_millis(200));
    let (dut, tester) = (&f.dut, &f.tester);
    assert_eq!(
        dut.read(regs::LINKS) & regs::LINKS_SPEED_MASK,
        regs::LINKS_SPEED_10G
    );
    dut.read(regs::EICR);
    // An AN restart takes the link down for the configured delay.
    dut.write(regs::AUTOC, dut.read(regs::AUTOC) | regs::AUTOC_AN_RESTART);
    assert!(wait_for(WAIT, || dut.read(regs::LINKS) & regs::LINKS_UP == 0));
    assert_eq!(
        dut.read(regs::AUTOC) & regs::AUTOC_AN_RESTART,
        0,
        "AN restart self-clears"
    );
    assert!(wait_for(WAIT, || dut.read(regs::LINKS) & regs::LINKS_UP != 0));
    assert_ne!(
        dut.read(regs::EICR) & regs::EICR_LSC,
        0,
        "link changes raise LSC"
    );
    assert_eq!(dut.read(regs::EICR), 0, "EICR clears on read");
    // Forcing one end down takes both ends of the cable down.
    f.lab.control("link 0 down").unwrap();
    assert!(wait_for(WAIT, || tester.read(regs::LINKS) & regs::LINKS_UP == 0));
    assert_eq!(dut.read(regs::LINKS) & regs::LINKS_UP, 0);
    assert_eq!(dut.read(regs::STATUS) & regs::STATUS_LU, 0);
    f.lab.control("link 0 up").unwrap();
    assert!(wait_for(WAIT, || tester.read(regs::LINKS) & regs::LINKS_UP != 0));
    // Port 1's peer (3) was never initialised but is powered: its link is up.
    let p1 = Bar::open(&f.lab.bar_path(1)).unwrap();
    assert!(wait_for(WAIT, || p1.read(regs::LINKS) & regs::LINKS_UP != 0));
}

#[test]
fn frame_from_port_2_arrives_on_port_0_with_write_back() {
    let f = fixture("basic", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    let frame = flow_frame(&f, 7, 128);
    assert!(tx.send(&f.tester, &frame, 0));
    let got = receive(&f.dut, &mut rx, 1);
    assert_eq!(got.len(), 1);
    let (desc, data) = &got[0];
    assert_eq!(data, &frame, "bytes arrive unchanged, CRC stripped");
    assert_eq!(usize::from(desc.len), frame.len());
    assert_eq!(
        desc.status & (regs::RXD_STAT_DD | regs::RXD_STAT_EOP),
        regs::RXD_STAT_DD | regs::RXD_STAT_EOP
    );
    let ptype = desc.info & 0x1FFF0;
    assert_eq!(ptype, regs::RXDADV_PKTTYPE_IPV4 | regs::RXDADV_PKTTYPE_UDP);
    assert_eq!(desc.rss_type(), regs::RXDADV_RSSTYPE_NONE, "RSS is off");
    // RDH advances after the write-back; on the Tx side DD is written
    // back and TDH advances after it (published at the end of the pass).
    assert!(wait_for(WAIT, || f.dut.read(regs::rdh(0)) == 1));
    assert!(wait_for(WAIT, || tx.idle()));
    assert!(wait_for(WAIT, || f.tester.read(regs::tdh(0)) == 1));
    // Frames to another unicast address are filtered (no UPE on the DUT).
    let mut other = frame.clone();
    other[5] ^= 0x55;
    assert!(tx.send(&f.tester, &other, 0));
    assert!(wait_for(WAIT, || f.dut.sim_counter(SimCounter::RxFiltered) == 1));
    // Broadcast is accepted (BAM).
    let mut bcast = frame.clone();
    bcast[..6].fill(0xFF);
    assert!(tx.send(&f.tester, &bcast, 0));
    assert_eq!(receive(&f.dut, &mut rx, 1).len(), 1);
    assert_eq!(settled(&f.lab, &f.dut, regs::BPRC), 1);
    assert_eq!(settled(&f.lab, &f.tester, regs::BPTC), 1);
    assert_eq!(settled(&f.lab, &f.tester, regs::MPTC), 0);
}

/// `sim/README.md` 5.9: a consumer may count by the heads. At every moment
/// while frames flow, every Tx descriptor before TDH and every Rx
/// descriptor before RDH has DD, though the model writes its write-backs
/// in batches and publishes the heads once per pass. Eight rounds of 4000
/// frames, each on fresh rings (Tx queue = round), so that the heads are
/// sampled through many passes.
#[test]
fn every_descriptor_before_a_head_is_done_at_every_moment() {
    let f = fixture("heads", |_| {});
    let n = 4000u32;
    let frame = udp_frame(f.dut_mac(), [10, 0, 0, 1], [10, 1, 0, 1], 1, 2, 60, 0);
    let done =
        |mem: &ixy_sim::harness::Dma, i: u32, dd: u64| mem.read_u64(i as usize * 16 + 8) & dd != 0;
    let tx_dd = u64::from(regs::TXD_STAT_DD) << 32;
    let rx_dd = u64::from(regs::RXD_STAT_DD);
    let mut samples = 0u64;
    for q in 0..8 {
        let mut rx = f.rx(&f.dut, 0, 4096, 2048, false);
        let mut tx = f.tx(&f.tester, q, 4096);
        for _ in 0..n {
            assert!(tx.push(&frame, 0));
        }
        tx.flush(&f.tester);
        let (mut tx_seen, mut rx_seen) = (0, 0);
        let start = std::time::Instant::now();
        while tx_seen < n || rx_seen < n {
            assert!(
                start.elapsed() < WAIT,
                "heads stopped at TDH {tx_seen}, RDH {rx_seen}"
            );
            // Heads first, then the descriptors behind them.
            let (tdh, rdh) = (f.tester.read(regs::tdh(q)), f.dut.read(regs::rdh(0)));
            for i in tx_seen..tdh {
                assert!(
                    done(&tx.mem, i, tx_dd),
                    "Tx queue {q}: descriptor {i} is behind TDH {tdh} without DD"
                );
            }
            for i in rx_seen..rdh {
                assert!(
                    done(&rx.mem, i, rx_dd),
                    "Rx descriptor {i} is behind RDH {rdh} without DD (round {q})"
                );
            }
            (tx_seen, rx_seen) = (tx_seen.max(tdh), rx_seen.max(rdh));
            samples += 1;
        }
        assert_eq!(receive(&f.dut, &mut rx, n as usize).len(), n as usize);
        rx.disable(&f.dut).expect("Rx queue 0 disables");
    }
    println!("{samples} samples of the heads while 8 x {n} frames flowed");
}

#[test]
fn multicast_frames_pass_the_table_when_the_filter_is_enabled() {
    // 7.1.1.1.2: with FCTRL.MPE clear, a multicast frame is accepted when
    // MCSTCTRL.MFE is set and its bit (12 address bits chosen by MO) is set
    // in the MTA; otherwise it is filtered.
    let f = fixture("mta", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    let group = |mac: [u8; 6]| {
        let mut frame = flow_frame(&f, 1, 128);
        frame[..6].copy_from_slice(&mac);
        frame
    };
    let mdns = [0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB];
    let other = [0x01, 0x00, 0x5E, 0x7F, 0x12, 0x34];
    let filtered = |n| wait_for(WAIT, || f.dut.sim_counter(SimCounter::RxFiltered) == n);
    // The filter off: filtered.
    assert!(tx.send(&f.tester, &group(mdns), 0));
    assert!(filtered(1), "no MPE, no MFE: filtered");
    // mDNS's bit set, MO 0 (address bits 47:36), filter on.
    let index = regs::mta_index(mdns, 0);
    f.dut.write(regs::mta(index / 32), 1 << (index % 32));
    f.dut.write(regs::MCSTCTRL, regs::MCSTCTRL_MFE);
    assert!(tx.send(&f.tester, &group(mdns), 0));
    let got = receive(&f.dut, &mut rx, 1);
    assert_eq!(got.len(), 1, "the table lets mDNS through");
    assert_eq!(&got[0].1[..6], &mdns);
    assert_ne!(regs::mta_index(other, 0), index);
    assert!(tx.send(&f.tester, &group(other), 0));
    assert!(filtered(2), "a group whose bit is clear is filtered");
    // Another MO picks other address bits: the same table bit no longer
    // matches mDNS.
    f.dut.write(regs::MCSTCTRL, regs::MCSTCTRL_MFE | 3);
    assert_ne!(regs::mta_index(mdns, 3), index);
    assert!(tx.send(&f.tester, &group(mdns), 0));
    assert!(filtered(3), "MO 3 indexes another bit");
    assert_eq!(
        settled(&f.lab, &f.dut, regs::MPRC),
        1,
        "one multicast frame received"
    );
    assert_eq!(
        (
            settled(&f.lab, &f.tester, regs::MPTC),
            settled(&f.lab, &f.tester, regs::BPTC)
        ),
        (4, 0),
        "four multicast frames sent, filtered or not"
    );
}

#[test]
fn aliased_registers_read_and_write_as_one() {
    // The 82599 also decodes RAL/RAH 0-15, MRQC, RETA, RSSRK and SRRCTL 0-15
    // at their 82598-compatible addresses (Linux's ixgbe_type.h uses them):
    // a write at either address reads back at both.
    let f = fixture("alias", |_| {});
    let bar = &f.dut;
    let mac = ixy_sim::lab::mac_of(0);
    let mac_low = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
    assert!(
        wait_for(WAIT, || bar.read(regs::ral_alias(0)) == mac_low),
        "RAL(0) loaded at reset shows at its alias"
    );
    for (n, (main, alias)) in ixy_sim::alias::pairs().into_iter().enumerate() {
        if main == regs::ral(0) || main == regs::rah(0) {
            continue; // the port's own address: checked above, kept below
        }
        let v = 0x1234_0000 | n as u32;
        bar.write(alias, v);
        assert!(
            wait_for(WAIT, || bar.read(main) == v),
            "{alias:#x} -> {main:#x}"
        );
        bar.write(main, v + 1);
        assert!(
            wait_for(WAIT, || bar.read(alias) == v + 1),
            "{main:#x} -> {alias:#x}"
        );
        bar.write(main, 0);
        assert!(wait_for(WAIT, || bar.read(alias) == 0));
    }
    // The filter follows an address written at the alias: a frame to it
    // is received.
    let mut rx = f.rx(bar, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    let other = [0x02, 0x1c, 0x59, 0x90, 0x0A, 0x0B];
    bar.write(
        regs::ral_alias(3),
        u32::from_le_bytes([other[0], other[1], other[2], other[3]]),
    );
    bar.write(
        regs::rah_alias(3),
        u32::from(u16::from_le_bytes([other[4], other[5]])) | regs::RAH_AV,
    );
    assert!(wait_for(WAIT, || bar.read(regs::rah(3)) & regs::RAH_AV != 0));
    let mut frame = flow_frame(&f, 3, 100);
    frame[..6].copy_from_slice(&other);
    assert!(tx.send(&f.tester, &frame, 0));
    assert_eq!(
        receive(bar, &mut rx, 1).len(),
        1,
        "accepted through RAL/RAH(3)'s alias"
    );
    // QPTC counts at its 82598-compatible address too (clear on read).
    assert_eq!(settled(&f.lab, &f.tester, regs::qptc_alias(0)), 1);
}

/// The Microsoft verification key (82599 datasheet 7.1.2.8.3).
const MS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

fn tcp_frame(dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = udp_frame(dst_mac, src, dst, sport, dport, 80, 0);
    f[23] = 6; // TCP
    f[46] = 0x50; // data offset 5
    f
}

#[test]
fn rss_spreads_known_flows_to_the_queues_the_datasheet_says() {
    let f = fixture("rss", |_| {});
    program_rss(&f.dut, &MS_KEY, 4);
    let mut rings: Vec<_> = (0..4).map(|q| f.rx(&f.dut, q, 64, 2048, true)).collect();
    let mut tx = f.tx(&f.tester, 0, 64);
    // The published verification vectors (IPv4 with TCP ports).
    type Vector = ([u8; 4], u16, [u8; 4], u16, u32);
    let vectors: [Vector; 5] = [
        (
            [66, 9, 149, 187],
            2794,
            [161, 142, 100, 80],
            1766,
            0x51cc_c178,
        ),
        (
            [199, 92, 111, 2],
            14230,
            [65, 69, 140, 83],
            4739,
            0xc626_b0ea,
        ),
        (
            [24, 19, 198, 95],
            12898,
            [12, 22, 207, 184],
            38024,
            0x5c2b_394a,
        ),
        (
            [38, 27, 205, 30],
            48228,
            [209, 142, 163, 6],
            2217,
            0xafc7_327f,
        ),
        (
            [153, 39, 163, 191],
            44251,
            [202, 188, 127, 2],
            1303,
            0x10e8_28a2,
        ),
    ];
    for (src, sport, dst, dport, hash) in vectors {
        let frame = tcp_frame(f.dut_mac(), src, dst, sport, dport);
        assert!(tx.send(&f.tester, &frame, 0));
        let q = (hash & 0x7F) % 4;
        let got = receive(&f.dut, &mut rings[q as usize], 1);
        assert_eq!(got.len(), 1, "flow with hash {hash:#x} lands on queue {q}");
        assert_eq!(got[0].0.hash, hash);
        assert_eq!(got[0].0.rss_type(), regs::RXDADV_RSSTYPE_IPV4_TCP);
        assert_eq!(got[0].1, frame);
    }
    // A non-IP frame goes to queue 0 with no hash.
    let mut arp = flow_frame(&f, 1, 60);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert!(tx.send(&f.tester, &arp, 0));
    let got = receive(&f.dut, &mut rings[0], 1);
    assert_eq!(
        (got[0].0.hash, got[0].0.rss_type()),
        (0, regs::RXDADV_RSSTYPE_NONE)
    );
    // Nothing else arrived anywhere: once the model is quiet, every frame
    // sent has been delivered somewhere.
    f.lab.quiesce(WAIT).expect("the lab goes quiet");
    for r in &mut rings {
        assert!(r.poll(&f.dut).is_none());
    }
}

#[test]
fn drop_en_isolates_a_stuck_queue_and_its_absence_blocks_the_buffer() {
    for drop_en in [true, false] {
        let f = fixture(if drop_en { "dropen1" } else { "dropen0" }, |_| {});
        program_rss(&f.dut, &MS_KEY, 2);
        // A small packet buffer so that blocking shows quickly.
        f.dut.write(regs::rxpbsize(0), 32 << regs::RXPBSIZE_SHIFT);
        let mut q0 = f.rx(&f.dut, 0, 256, 2048, drop_en);
        let _stuck = f.rx(&f.dut, 1, 32, 2048, drop_en);
        let mut tx = f.tx(&f.tester, 0, 256);
        let cfg = ixy_sim::rss::RssState {
            mrqc: f.dut.read(regs::MRQC),
            key: MS_KEY,
            reta: std::array::from_fn(|j| (j % 2) as u8),
        };
        let (mut to0, mut to1) = (Vec::new(), Vec::new());
        for i in 0..400 {
            let frame = flow_frame(&f, i, 512);
            match ixy_sim::rss::classify(&cfg, &ixy_sim::frame::parse(&frame)).queue {
                0 => to0.push(frame),
                _ => to1.push(frame),
            }
        }
        // Fill queue 1 beyond its ring, then send to queue 0.
        send_all(&f.tester, &mut tx, to1.iter().take(100).cloned());
        assert!(wait_for(WAIT, || tx.idle()));
        send_all(&f.tester, &mut tx, to0.iter().take(100).cloned());
        assert!(wait_for(WAIT, || tx.idle()));
        let got = if drop_en {
            receive(&f.dut, &mut q0, 100)
        } else {
            // Every frame sent has reached the buffer or been missed.
            f.lab.quiesce(WAIT).expect("the lab goes quiet");
            std::iter::from_fn(|| q0.poll(&f.dut)).collect()
        };
        if drop_en {
            assert_eq!(got.len(), 100, "queue 0 loses nothing");
            for (g, want) in got.iter().zip(&to0) {
                assert_eq!(&g.1, want, "in order");
            }
            // 31 descriptors of queue 1 were usable; the rest were dropped.
            // Queue 1 had 31 armed descriptors; QPRDC (both queues map to
            // counter 0) counts the rest of its frames as dropped.
            let mut dropped = 0;
            wait_for(WAIT, || {
                dropped += f.dut.read(regs::qprdc(0));
                dropped >= 69
            });
            assert_eq!(dropped, 69);
            assert_eq!(f.dut.read(regs::mpc(0)), 0);
        } else {
            assert!(
                got.is_empty(),
                "queue 1 blocks the shared buffer: {} arrived",
                got.len()
            );
            assert!(f.dut.read(regs::mpc(0)) > 0, "a full buffer misses frames");
            // 0x03FC0 (RNBC) is an 82598 register: the 82599 model counts
            // nothing there.
            assert_eq!(f.dut.read(regs::rnbc(0)), 0);
            // The 82599 quirk: GPRC counts the missed frames too, so every
            // one of the 200 frames is in GPRC (Linux: gprc -= missed_rx).
            assert_eq!(settled(&f.lab, &f.dut, regs::GPRC), 200);
        }
    }
}

#[test]
fn jumbo_frame_spans_descriptors_with_eop_on_the_last() {
    let f = fixture("jumbo", |_| {});
    f.dut.write(
        regs::HLREG0,
        f.dut.read(regs::HLREG0) | regs::HLREG0_JUMBOEN,
    );
    f.dut.write(regs::MAXFRS, 9018 << regs::MAXFRS_MFS_SHIFT);
    let mut rx = f.rx(&f.dut, 0, 64, 1024, true);
    let mut tx = f.tx(&f.tester, 0, 16);
    let frame = flow_frame(&f, 3, 2000);
    assert!(tx.send(&f.tester, &frame, 0));
    let got = receive(&f.dut, &mut rx, 2);
    assert_eq!(
        got.len(),
        2,
        "2000 bytes in 1 KiB buffers take two descriptors"
    );
    assert_eq!(got[0].0.status & regs::RXD_STAT_EOP, 0);
    assert_ne!(got[1].0.status & regs::RXD_STAT_EOP, 0);
    assert_eq!((got[0].0.len, got[1].0.len), (1024, 2000 - 1024));
    let joined: Vec<u8> = got.iter().flat_map(|g| g.1.iter().copied()).collect();
    assert_eq!(joined, frame);
    // Without JUMBOEN the same frame is oversize.
    f.dut.write(
        regs::HLREG0,
        f.dut.read(regs::HLREG0) & !regs::HLREG0_JUMBOEN,
    );
    assert!(tx.send(&f.tester, &frame, 0));
    let mut roc = 0;
    assert!(wait_for(WAIT, || {
        roc += f.dut.read(regs::ROC);
        roc == 1
    }));
}

#[test]
fn statistics_count_what_was_sent_and_clear_on_read() {
    let f = fixture("stats", |_| {});
    let mut rx = f.rx(&f.dut, 0, 512, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 512);
    // Map queue 0 to counter 5 on both sides.
    f.dut.write(regs::rqsmr(0), 5);
    f.tester.write(regs::tqsm(0), 5);
    send_all(&f.tester, &mut tx, (0..300).map(|i| flow_frame(&f, i, 100)));
    assert_eq!(receive(&f.dut, &mut rx, 300).len(), 300);
    // Counters may lag the descriptors by one pass of the model: read each
    // (they clear) once the lab is quiet.
    let expect = |bar: &Bar, reg: u32, want: u32| {
        assert_eq!(settled(&f.lab, bar, reg), want, "register {reg:#x}")
    };
    expect(&f.tester, regs::GPTC, 300);
    expect(&f.tester, regs::GOTCL, 300 * 104); // octets include the CRC
    expect(&f.tester, regs::qptc(5), 300);
    expect(&f.tester, regs::qbtc_l(5), 300 * 100); // queue bytes do not
    expect(&f.dut, regs::GPRC, 300);
    expect(&f.dut, regs::TPR, 300);
    expect(&f.dut, regs::GORCL, 300 * 104);
    expect(&f.dut, regs::qprc(5), 300);
    expect(&f.dut, regs::qbrc_l(5), 300 * 100);
    assert_eq!(f.tester.read(regs::GOTCH), 0);
    assert_eq!(f.dut.read(regs::qprc(0)), 0, "unmapped counter stays 0");
    // Once settled, each read returns what arrived since the last one.
    send_all(&f.tester, &mut tx, (0..5).map(|i| flow_frame(&f, i, 100)));
    assert_eq!(receive(&f.dut, &mut rx, 5).len(), 5);
    expect(&f.dut, regs::GPRC, 5);
    expect(&f.dut, regs::TPR, 5);
    expect(&f.dut, regs::GORCL, 5 * 104);
    expect(&f.dut, regs::qprc(5), 5);
    expect(&f.dut, regs::qbrc_l(5), 5 * 100);
    expect(&f.tester, regs::GPTC, 5);
    // Clear on read.
    for reg in [
        regs::GPRC,
        regs::TPR,
        regs::GORCL,
        regs::qprc(5),
        regs::qbrc_l(5),
    ] {
        assert_eq!(f.dut.read(reg), 0, "register {reg:#x} cleared by the read");
    }
    assert_eq!(f.tester.read(regs::GPTC), 0);
}

#[test]
fn bad_frames_are_counted_and_never_delivered() {
    let f = fixture("faults", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    for cmd in [
        "inject 0 corrupt 3",
        "inject 0 runt 2",
        "inject 0 oversize 4",
        "inject 0 length 5",
    ] {
        f.lab.control(cmd).unwrap();
    }
    let (mut crc, mut ruc, mut roc, mut rlec) = (0, 0, 0, 0);
    assert!(
        wait_for(WAIT, || {
            crc += f.dut.read(regs::CRCERRS);
            ruc += f.dut.read(regs::RUC);
            roc += f.dut.read(regs::ROC);
            rlec += f.dut.read(regs::RLEC);
            (crc, ruc, roc, rlec) == (3, 2, 4, 5)
        }),
        "CRCERRS {crc} RUC {ruc} ROC {roc} RLEC {rlec}"
    );
    assert!(rx.poll(&f.dut).is_none());
    assert_eq!(f.dut.read(regs::GPRC), 0);
    assert!(f
        .lab
        .control("inject 9 runt 1")
        .unwrap_err()
        .contains("ports 0 to 3"));
    // The same commands work over the control socket.
    let answer = ixy_sim::control::send(f.lab.dir(), "counters 0").unwrap();
    assert!(answer.contains("iommu_faults 0"), "{answer}");
    assert!(ixy_sim::control::send(f.lab.dir(), "bogus")
        .unwrap_err()
        .contains("unknown command"));
}

#[test]
fn disabled_queue_does_no_dma_and_reads_back_disabled() {
    let f = fixture("disable", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    assert!(tx.send(&f.tester, &flow_frame(&f, 1, 64), 0));
    assert_eq!(receive(&f.dut, &mut rx, 1).len(), 1);
    rx.disable(&f.dut).unwrap();
    let snapshot: Vec<u64> = (0..64).map(|i| rx.mem.read_u64(i * 16 + 8)).collect();
    send_all(&f.tester, &mut tx, (0..10).map(|i| flow_frame(&f, i, 64)));
    assert!(wait_for(WAIT, || f
        .dut
        .sim_counter(SimCounter::RxToDisabledQueue)
        == 10));
    let after: Vec<u64> = (0..64).map(|i| rx.mem.read_u64(i * 16 + 8)).collect();
    assert_eq!(snapshot, after, "no descriptor written after the disable");
    // After the read-back said disabled, the memory may go: no fault.
    drop(rx);
    send_all(&f.tester, &mut tx, (0..10).map(|i| flow_frame(&f, i, 64)));
    assert!(wait_for(WAIT, || f
        .dut
        .sim_counter(SimCounter::RxToDisabledQueue)
        == 20));
    assert_eq!(f.dut.sim_counter(SimCounter::IommuFaults), 0);
    // Tx: a disabled queue does not transmit.
    let mut tx1 = f.tx(&f.tester, 1, 16);
    f.tester.write(regs::txdctl(1), 0);
    assert!(wait_for(WAIT, || f.tester.read(regs::txdctl(1))
        & regs::TXDCTL_ENABLE
        == 0));
    assert!(tx1.send(&f.tester, &flow_frame(&f, 1, 64), 0));
    f.lab.quiesce(WAIT).expect("the lab goes quiet");
    assert!(!tx1.idle(), "nothing completed on a disabled Tx queue");
    assert_eq!(f.tester.read(regs::tdh(1)), 0);
}

#[test]
fn dma_to_unmapped_memory_is_an_iommu_fault_and_the_model_carries_on() {
    let f = fixture("iommu", |_| {});
    let rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    // Point the next Rx descriptor at an address nobody mapped.
    rx.mem.write_u64(0, 0xdead_0000_0000);
    assert!(tx.send(&f.tester, &flow_frame(&f, 1, 64), 0));
    assert!(wait_for(WAIT, || f
        .dut
        .sim_counter(SimCounter::IommuFaults)
        == 1));
    assert_eq!(
        f.dut.read(regs::rdh(0)),
        0,
        "the faulting descriptor was not consumed"
    );
    // Unmapping the Tx ring makes the next send fault on the tester port.
    tx.mem.unmap().unwrap();
    assert!(tx.send(&f.tester, &flow_frame(&f, 2, 64), 0));
    assert!(wait_for(WAIT, || f
        .tester
        .sim_counter(SimCounter::IommuFaults)
        == 1));
    assert_eq!(
        f.tester.read(regs::tdh(0)),
        1,
        "the faulting frame was not consumed"
    );
    // The model keeps running: a fresh pair of rings works.
    let mut rx1 = f.rx(&f.dut, 1, 64, 2048, true);
    f.dut.write(regs::rxdctl(0), 0);
    let mut tx1 = f.tx(&f.tester, 1, 64);
    program_rss(&f.dut, &MS_KEY, 1);
    f.dut.write(regs::reta(0), 1 | 1 << 8 | 1 << 16 | 1 << 24);
    for i in 1..32 {
        f.dut.write(regs::reta(i), 0x0101_0101);
    }
    assert!(tx1.send(&f.tester, &flow_frame(&f, 3, 64), 0));
    assert_eq!(receive(&f.dut, &mut rx1, 1).len(), 1);
    let status = f.lab.control("status").unwrap();
    assert!(status.contains("port0 link=up"), "{status}");
}

#[test]
fn ptp_frames_latch_timestamps_that_differ_by_the_cable_delay() {
    let delay = Duration::from_micros(64);
    let f = fixture("ptp", |c| c.cable_delay = delay);
    let ports = [
        (&f.dut, f.rx(&f.dut, 0, 64, 2048, true), f.tx(&f.dut, 0, 64)),
        (
            &f.tester,
            f.rx(&f.tester, 0, 64, 2048, true),
            f.tx(&f.tester, 0, 64),
        ),
    ];
    let [(dut, mut dut_rx, mut dut_tx), (tester, mut tester_rx, mut tester_tx)] = ports;
    for bar in [dut, tester] {
        // SYSTIM ticks once per 6.4 ns clock period.
        bar.write(regs::TIMINCA, (1 << regs::TIMINCA_IP_SHIFT) | 1);
        bar.write(
            regs::TSYNCRXCTL,
            regs::TSYNCRXCTL_ENABLED | regs::TSYNCRXCTL_TYPE_L2_L4_V2,
        );
        bar.write(
            regs::RXMTRL,
            u32::from(regs::PTP_EVENT_UDP_PORT) << regs::RXMTRL_UDPT_SHIFT,
        );
        bar.write(regs::TSYNCTXCTL, regs::TSYNCTXCTL_ENABLED);
    }
    assert!(
        wait_for(WAIT, || dut.read(regs::SYSTIML) != 0
            && tester.read(regs::SYSTIML) != 0),
        "SYSTIM runs"
    );
    // One probe each way: the sum of both differences cancels the clock offset.
    let one_way = |from: &Bar,
                   tx: &mut ixy_sim::harness::TxRing,
                   to: &Bar,
                   rx: &mut ixy_sim::harness::RxRing,
                   mac| {
        let probe = ixy_sim::harness::ptp_frame(mac, 7, 90);
        assert!(tx.send(from, &probe, regs::ADVTXD_MAC_TSTAMP));
        let got = receive(to, rx, 1);
        assert_eq!(got.len(), 1);
        assert_ne!(
            got[0].0.status & regs::RXD_STAT_TS,
            0,
            "descriptor says timestamped"
        );
        assert!(wait_for(WAIT, || from.read(regs::TSYNCTXCTL)
            & regs::TSYNCTXCTL_VALID
            != 0));
        assert_ne!(to.read(regs::TSYNCRXCTL) & regs::TSYNCRXCTL_VALID, 0);
        let tx_ts = u64::from(from.read(regs::TXSTMPL)) | u64::from(from.read(regs::TXSTMPH)) << 32;
        let rx_ts = u64::from(to.read(regs::RXSTMPL)) | u64::from(to.read(regs::RXSTMPH)) << 32;
        assert_eq!(
            to.read(regs::TSYNCRXCTL) & regs::TSYNCRXCTL_VALID,
            0,
            "reading RXSTMPH unlocks"
        );
        assert_eq!(
            from.read(regs::TSYNCTXCTL) & regs::TSYNCTXCTL_VALID,
            0,
            "reading TXSTMPH unlocks"
        );
        assert_eq!(to.read(regs::RXSATRH) >> 16, 7, "sequence id latched");
        rx_ts as i64 - tx_ts as i64
    };
    let there = one_way(
        tester,
        &mut tester_tx,
        dut,
        &mut dut_rx,
        ixy_sim::lab::mac_of(0),
    );
    let back = one_way(
        dut,
        &mut dut_tx,
        tester,
        &mut tester_rx,
        ixy_sim::lab::mac_of(2),
    );
    let ticks = (delay.as_nanos() * 10 / 64) as i64; // 6.4 ns per tick
    assert!(
        (there + back - 2 * ticks).abs() <= 2,
        "there {there} + back {back} vs 2 x {ticks}"
    );
    // A frame that is not PTP gets no timestamp.
    assert!(tester_tx.send(tester, &flow_frame(&f, 1, 90), 0));
    let got = receive(dut, &mut dut_rx, 1);
    assert_eq!(got[0].0.status & regs::RXD_STAT_TS, 0);
    assert_eq!(dut.read(regs::TSYNCRXCTL) & regs::TSYNCRXCTL_VALID, 0);
}

#[test]
fn surprise_removal_reads_all_ones_and_stops_the_link() {
    let f = fixture("removal", |_| {});
    f.lab.control("remove 0").unwrap();
    assert!(wait_for(WAIT, || f.dut.read(regs::STATUS) == 0xFFFF_FFFF));
    assert_eq!(f.dut.read(regs::LINKS), 0xFFFF_FFFF);
    assert_eq!(f.dut.read(regs::rxdctl(0)), 0xFFFF_FFFF);
    assert!(wait_for(WAIT, || f.tester.read(regs::LINKS)
        & regs::LINKS_UP
        == 0));
    // The tester's Tx holds its frames while its link is down.
    let mut tx = f.tx(&f.tester, 0, 16);
    assert!(tx.send(&f.tester, &flow_frame(&f, 1, 64), 0));
    one_full_pass(&f);
    assert_eq!(f.tester.read(regs::tdh(0)), 0, "nothing fetched");
    assert!(!tx.idle(), "the descriptor is still pending");
}

/// Waits until the model has made at least one full pass: two control
/// round trips (each is answered at the top of a pass).
fn one_full_pass(f: &common::Fixture) {
    f.lab.control("status").unwrap();
    f.lab.control("status").unwrap();
}

#[test]
fn tx_holds_its_descriptors_while_the_link_is_down() {
    // Silicon stops Tx DMA while the link is down: nothing completes, nothing
    // is lost, and the frames leave when the link returns.
    let f = fixture("txhold", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 16);
    f.lab.control("link 0 down").unwrap();
    assert!(wait_for(WAIT, || f.tester.read(regs::LINKS)
        & regs::LINKS_UP
        == 0));
    let frames: Vec<Vec<u8>> = (0..3).map(|i| flow_frame(&f, i, 100)).collect();
    for frame in &frames {
        assert!(tx.send(&f.tester, frame, 0));
    }
    one_full_pass(&f);
    assert_eq!(f.tester.read(regs::tdh(0)), 0, "TDH did not move");
    assert!(!tx.idle(), "no descriptor completed");
    assert_eq!(
        f.tester.sim_counter(SimCounter::TxLinkDown),
        0,
        "nothing lost"
    );
    f.lab.control("link 0 up").unwrap();
    let got = receive(&f.dut, &mut rx, 3);
    assert_eq!(got.len(), 3, "the held frames leave once the link is back");
    assert!(got.iter().map(|g| &g.1).eq(frames.iter()), "in order");
    assert!(
        wait_for(WAIT, || tx.idle()),
        "and their descriptors complete"
    );
}

/// What clear-on-read counter `reg` of `bar` counts once the lab is quiet:
/// everything sent before the call is counted by then, and nothing after.
fn settled(lab: &ixy_sim::Lab, bar: &Bar, reg: u32) -> u32 {
    lab.quiesce(WAIT).expect("the lab goes quiet");
    bar.read(reg)
}

#[test]
fn a_running_lab_is_never_started_twice_and_a_stale_one_is_replaced() {
    let cfg = common::config("twice");
    let lab = ixy_sim::Lab::start(cfg.clone()).expect("first start");
    let err = ixy_sim::Lab::start(cfg.clone())
        .err()
        .expect("second start refused");
    assert!(err.to_string().contains("already running"), "{err}");
    assert!(lab.bar_path(0).exists(), "the running lab is untouched");
    drop(lab);
    assert!(!cfg.dir().exists(), "stopping removes the lab");
    // What a crashed lab leaves behind is replaced.
    std::fs::create_dir_all(cfg.dir().join("port0")).unwrap();
    std::fs::write(cfg.dir().join("leftover"), b"x").unwrap();
    let lab = ixy_sim::Lab::start(cfg.clone()).expect("start over a stale lab");
    assert!(!cfg.dir().join("leftover").exists());
    assert!(lab.bar_path(3).exists());
}

#[test]
fn random_bytes_on_the_wire_never_stop_the_model() {
    let f = fixture("garbage", |_| {});
    f.dut.write(
        regs::FCTRL,
        f.dut.read(regs::FCTRL) | regs::FCTRL_UPE | regs::FCTRL_MPE,
    );
    program_rss(&f.dut, &MS_KEY, 1);
    let mut rx = f.rx(&f.dut, 0, 512, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 512);
    // Frames of random length and content, some shaped like IPv4/IPv6/PTP
    // headers with random fields, from a fixed-seed xorshift generator.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let frames: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            let len = 1 + (next() % 2000) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len > 14 {
                let ethertype: [u16; 5] = [0x0800, 0x86DD, 0x88F7, 0x8100, 0x0806];
                frame[12..14].copy_from_slice(&ethertype[i % 5].to_be_bytes());
            }
            frame
        })
        .collect();
    send_all(&f.tester, &mut tx, frames);
    assert!(wait_for(WAIT, || tx.idle()), "every frame was consumed");
    // Whatever arrived is well formed; then a normal frame still gets through.
    let mut arrived = 0;
    while let Some((desc, data)) = rx.poll(&f.dut) {
        assert_ne!(desc.status & regs::RXD_STAT_DD, 0);
        assert_eq!(usize::from(desc.len), data.len());
        arrived += 1;
    }
    let frame = flow_frame(&f, 1, 64);
    assert!(tx.send(&f.tester, &frame, 0));
    let got = receive(&f.dut, &mut rx, 1);
    assert_eq!(
        got.last().map(|g| &g.1),
        Some(&frame),
        "after {arrived} random frames"
    );
    assert_eq!(f.dut.sim_counter(SimCounter::IommuFaults), 0);
}

/// Whether Tx descriptor `i` of `tx` has DD written back.
fn tx_done(tx: &ixy_sim::harness::TxRing, i: u32) -> bool {
    (tx.mem.read_u64(i as usize * 16 + 8) >> 32) as u32 & regs::TXD_STAT_DD != 0
}

#[test]
fn wthresh_batches_tx_write_backs_until_the_threshold_or_a_flush() {
    // 7.2.3.5.1: with TXDCTL.WTHRESH > 0 the device holds processed
    // descriptors and writes them back in bursts of WTHRESH; TDH moves on
    // regardless. SWFLSH and disabling the queue flush what is held.
    let f = fixture("wthresh", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 16);
    let txdctl = regs::txdctl(0);
    f.tester.write(
        txdctl,
        regs::TXDCTL_ENABLE | 4 << regs::TXDCTL_WTHRESH_SHIFT,
    );
    let frames: Vec<Vec<u8>> = (0..7).map(|i| flow_frame(&f, i, 100)).collect();
    for frame in &frames[..3] {
        assert!(tx.send(&f.tester, frame, 0));
    }
    assert_eq!(receive(&f.dut, &mut rx, 3).len(), 3, "the frames left");
    assert!(wait_for(WAIT, || f.tester.read(regs::tdh(0)) == 3));
    one_full_pass(&f);
    assert!(
        (0..3).all(|i| !tx_done(&tx, i)),
        "three of four: nothing written back yet"
    );
    assert!(tx.send(&f.tester, &frames[3], 0));
    assert!(
        wait_for(WAIT, || (0..4).all(|i| tx_done(&tx, i))),
        "the fourth completes the burst"
    );
    for frame in &frames[4..6] {
        assert!(tx.send(&f.tester, frame, 0));
    }
    assert!(wait_for(WAIT, || f.tester.read(regs::tdh(0)) == 6));
    one_full_pass(&f);
    assert!(!tx_done(&tx, 4) && !tx_done(&tx, 5), "held again");
    f.tester
        .write(txdctl, f.tester.read(txdctl) | regs::TXDCTL_SWFLSH);
    assert!(
        wait_for(WAIT, || tx_done(&tx, 4) && tx_done(&tx, 5)),
        "SWFLSH writes them back"
    );
    assert!(wait_for(WAIT, || f.tester.read(txdctl)
        & regs::TXDCTL_SWFLSH
        == 0));
    assert!(tx.send(&f.tester, &frames[6], 0));
    assert!(wait_for(WAIT, || f.tester.read(regs::tdh(0)) == 7));
    one_full_pass(&f);
    assert!(!tx_done(&tx, 6));
    f.tester.write(txdctl, 0);
    assert!(
        wait_for(WAIT, || tx_done(&tx, 6)),
        "disabling the queue writes back what it held"
    );
    assert_eq!(receive(&f.dut, &mut rx, 4).len(), 4, "all seven arrived");
}

#[test]
fn two_model_threads_each_move_their_cable_and_answer_for_their_ports() {
    // --threads 2: cable 0-2 on one thread, 1-3 on the other. Both carry
    // frames, control commands reach the thread owning their port and
    // `status` lists every port once, in order.
    let f = fixture("threads", |c| c.threads = 2);
    let p1 = Bar::open(&f.lab.bar_path(1)).unwrap();
    let p3 = Bar::open(&f.lab.bar_path(3)).unwrap();
    ixy_sim::harness::init_port(&p1, false, WAIT).unwrap();
    ixy_sim::harness::init_port(&p3, true, WAIT).unwrap();
    let mut rx0 = f.rx(&f.dut, 0, 64, 2048, true);
    let mut rx1 = f.rx(&p1, 0, 64, 2048, true);
    let mut tx2 = f.tx(&f.tester, 0, 64);
    let mut tx3 = f.tx(&p3, 0, 64);
    let to0: Vec<Vec<u8>> = (0..20).map(|i| flow_frame(&f, i, 80)).collect();
    let to1: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            udp_frame(
                ixy_sim::lab::mac_of(1),
                [10, 3, 0, 1],
                [10, 1, 0, 1],
                7,
                9,
                90,
                i,
            )
        })
        .collect();
    for (a, b) in to0.iter().zip(&to1) {
        assert!(tx2.send(&f.tester, a, 0));
        assert!(tx3.send(&p3, b, 0));
    }
    let got0 = receive(&f.dut, &mut rx0, 20);
    let got1 = receive(&p1, &mut rx1, 20);
    assert!(
        got0.iter().map(|g| &g.1).eq(to0.iter()),
        "cable 0-2, in order"
    );
    assert!(
        got1.iter().map(|g| &g.1).eq(to1.iter()),
        "cable 1-3, in order"
    );
    let status = f.lab.control("status").unwrap();
    let ports: Vec<&str> = status
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(ports, ["port0", "port1", "port2", "port3"], "{status}");
    assert!(status.contains("port3 link=up peer=1"), "{status}");
    // A command for port 3 reaches the thread that owns it.
    f.lab.control("link 3 down").unwrap();
    assert!(wait_for(WAIT, || p1.read(regs::LINKS) & regs::LINKS_UP == 0));
    assert_ne!(
        f.dut.read(regs::LINKS) & regs::LINKS_UP,
        0,
        "the other cable is untouched"
    );
    assert!(f
        .lab
        .control("link 9 down")
        .unwrap_err()
        .contains("ports 0 to 3"));
}

/// Queues `n` frames of `len` bytes on `tx` with one TDT write, and
/// returns them.
fn queue_burst(
    f: &common::Fixture,
    tx: &mut ixy_sim::harness::TxRing,
    n: u32,
    len: usize,
) -> Vec<Vec<u8>> {
    let frames: Vec<Vec<u8>> = (0..n).map(|i| flow_frame(f, i, len)).collect();
    for frame in &frames {
        assert!(tx.push(frame, 0), "the ring holds the burst");
    }
    tx.flush(&f.tester);
    frames
}

#[test]
fn quiesce_returns_once_every_frame_queued_before_it_is_delivered_and_counted() {
    // No waiting after the barrier: every check reads what is there at once.
    for line_rate in [false, true] {
        let name = if line_rate { "sync-paced" } else { "sync" };
        let f = fixture(name, |c| c.line_rate = line_rate);
        let mut rx = f.rx(&f.dut, 0, 512, 2048, true);
        let mut tx = f.tx(&f.tester, 0, 512);
        // At line rate, 300 frames of 1000 bytes take about 250 µs of wire.
        let frames = queue_burst(&f, &mut tx, 300, 1000);
        f.lab.quiesce(WAIT).expect("the lab goes quiet");
        assert!(
            tx.idle(),
            "line rate {line_rate}: every descriptor completed"
        );
        assert_eq!(f.tester.read(regs::tdh(0)), 300);
        assert_eq!(f.tester.read(regs::GPTC), 300);
        assert_eq!(f.dut.read(regs::GPRC), 300);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| rx.poll(&f.dut))
            .map(|g| g.1)
            .collect();
        assert_eq!(got.len(), 300, "line rate {line_rate}: all delivered");
        assert!(got == frames, "in order and unchanged");
        // A frame dropped on a disabled queue is counted by then too.
        f.dut.write(regs::rxdctl(0), 0);
        f.lab.quiesce(WAIT).expect("quiet again");
        assert!(tx.send(&f.tester, &frames[0], 0));
        f.lab.quiesce(WAIT).expect("quiet again");
        assert_eq!(f.dut.sim_counter(SimCounter::RxToDisabledQueue), 1);
        assert_eq!(f.dut.read(regs::GPRC), 1);
    }
}

#[test]
fn sync_waits_for_frames_in_flight_and_gives_up_after_its_wait() {
    // A cable 300 ms long (the delay applies with pacing on): a frame on
    // it keeps the lab busy that long.
    let f = fixture("sync-wait", |c| {
        c.line_rate = true;
        c.cable_delay = Duration::from_millis(300);
    });
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    let frame = flow_frame(&f, 7, 64);
    assert!(tx.send(&f.tester, &frame, 0));
    let err = f
        .lab
        .control("sync 20")
        .expect_err("not quiet within 20 ms");
    assert!(err.contains("did not go quiet within 20 ms"), "{err}");
    assert!(rx.poll(&f.dut).is_none(), "still on the cable");
    // In process any wait goes (one beyond the clock's range: for ever).
    f.lab.quiesce(Duration::MAX).expect("quiet");
    assert!(rx.poll(&f.dut).is_some(), "delivered when quiesce returns");
    // Over the socket, as `ixy-sim ctl sync` sends it.
    assert!(tx.send(&f.tester, &frame, 0));
    assert_eq!(
        ixy_sim::control::send(f.lab.dir(), "sync").as_deref(),
        Ok("ok")
    );
    assert_eq!(
        rx.poll(&f.dut).map(|g| g.1),
        Some(frame),
        "delivered when sync returns"
    );
    assert!(tx.idle());
}

#[test]
fn sync_covers_every_model_thread() {
    // Two threads: cable 0-2 on one, 1-3 on the other.
    let f = fixture("sync-threads", |c| c.threads = 2);
    let port1 = Bar::open(&f.lab.bar_path(1)).expect("port 1");
    let port3 = Bar::open(&f.lab.bar_path(3)).expect("port 3");
    ixy_sim::harness::init_port(&port1, true, WAIT).expect("port 1 init");
    ixy_sim::harness::init_port(&port3, true, WAIT).expect("port 3 init");
    let mut rx0 = f.rx(&f.dut, 0, 256, 2048, true);
    let mut rx1 = f.rx(&port1, 0, 256, 2048, true);
    let mut tx2 = f.tx(&f.tester, 0, 256);
    let mut tx3 = f.tx(&port3, 0, 256);
    queue_burst(&f, &mut tx2, 200, 64);
    for i in 0..200 {
        assert!(tx3.push(&flow_frame(&f, i, 64), 0));
    }
    tx3.flush(&port3);
    f.lab.quiesce(WAIT).expect("both threads quiet");
    assert_eq!(std::iter::from_fn(|| rx0.poll(&f.dut)).count(), 200);
    assert_eq!(std::iter::from_fn(|| rx1.poll(&port1)).count(), 200);
}

/// `--threads 2` on a lab with one cable: its two ports run on two model
/// threads (a thread per direction's sender), and the cable still behaves
/// as one: frames cross both ways whole, in order and counted, `sync`
/// waits for frames on their way to the other thread, the link follows
/// either end, and a capture (which needs both ends) is refused clearly.
/// Unpaced, then paced (frames then wait on the receiving thread's wire
/// until they are due).
#[test]
fn a_cable_split_over_two_model_threads_carries_both_ways_as_one() {
    split_cable("split", false);
    split_cable("split-paced", true);
}

fn split_cable(name: &str, line_rate: bool) {
    let mut cfg = common::config(name);
    (cfg.ports, cfg.cables, cfg.threads) = (2, vec![(0, 1)], 2);
    cfg.line_rate = line_rate;
    let lab = ixy_sim::Lab::start(cfg).expect("lab starts");
    let bars: Vec<Bar> = (0..2)
        .map(|p| Bar::open(&lab.bar_path(p)).expect("BAR"))
        .collect();
    for bar in &bars {
        ixy_sim::harness::init_port(bar, false, WAIT).expect("port init");
    }
    // Each end sees the other's side on its thread's next pass.
    for bar in &bars {
        assert!(wait_for(WAIT, || bar.read(regs::LINKS) & regs::LINKS_UP != 0));
    }
    let status = lab.control("status").expect("status");
    assert!(status.contains("port0 link=up peer=1"), "{status}");
    assert!(status.contains("port1 link=up peer=0"), "{status}");
    let dma = |name: &str| {
        let len = 512 * (16 + 2048);
        ixy_sim::harness::Dma::new(&lab.iommu_path(), &lab.dir().join(name), len)
            .expect("DMA region")
    };
    let mut rx: Vec<_> = (0..2)
        .map(|p| {
            ixy_sim::harness::RxRing::new(&bars[p], 0, dma(&format!("rx{p}")), 512, 2048, false)
        })
        .collect::<Result<_, _>>()
        .expect("Rx rings");
    let mut tx: Vec<_> = (0..2)
        .map(|p| ixy_sim::harness::TxRing::new(&bars[p], 0, dma(&format!("tx{p}")), 512, 2048))
        .collect::<Result<_, _>>()
        .expect("Tx rings");
    // 400 frames each way, queued at once on both ends.
    let n = 400u64;
    let frames = |to: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                udp_frame(
                    ixy_sim::lab::mac_of(to),
                    [10, 0, 0, 1],
                    [10, 1, 0, 1],
                    1,
                    2,
                    60 + (i % 7) as usize,
                    i,
                )
            })
            .collect()
    };
    let sent = [frames(1), frames(0)];
    for (p, batch) in sent.iter().enumerate() {
        for frame in batch {
            assert!(tx[p].push(frame, 0));
        }
        tx[p].flush(&bars[p]);
    }
    // No waiting but the barrier: every frame is in host memory after it.
    lab.quiesce(WAIT).expect("both threads quiet");
    for (p, expect) in [(1, &sent[0]), (0, &sent[1])] {
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| rx[p].poll(&bars[p]))
            .map(|(_, data)| data)
            .collect();
        assert_eq!(
            got.len(),
            n as usize,
            "port {p} received all before sync returned"
        );
        assert!(got == *expect, "port {p}: frames whole and in order");
        assert_eq!(bars[p].read(regs::GPRC), n as u32);
        assert_eq!(bars[1 - p].read(regs::GPTC), n as u32);
    }
    // One way only, 3000 frames in batches of the ring: the receiving
    // thread ends up with the frame buffers and hands them back.
    let one_way = frames(1);
    for batch in 0..8 {
        for frame in one_way.iter().take(375) {
            assert!(tx[0].push(frame, 0));
        }
        tx[0].flush(&bars[0]);
        let got = receive(&bars[1], &mut rx[1], 375);
        assert_eq!(got.len(), 375, "batch {batch}");
        assert!(got
            .iter()
            .zip(&one_way)
            .all(|((_, data), sent)| data == sent));
    }
    // The link follows the far end, which runs on the other thread.
    lab.control("link 0 down").expect("link down");
    assert!(wait_for(WAIT, || bars[1].read(regs::LINKS)
        & regs::LINKS_UP
        == 0));
    lab.control("link 0 up").expect("link up");
    assert!(wait_for(WAIT, || bars[1].read(regs::LINKS)
        & regs::LINKS_UP
        != 0));
    let capture = lab.dir().join("split.pcap");
    let answer = lab
        .control(&format!("capture 1 {}", capture.display()))
        .expect_err("a capture of a split cable is refused");
    assert!(
        answer.starts_with("error: the cable of port 1 runs on two model threads"),
        "{answer}"
    );
}

#[test]
fn an_inline_lab_answers_sync_from_its_step() {
    let mut f = fixture("sync-inline", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let mut tx = f.tx(&f.tester, 0, 64);
    f.lab.run_inline().expect("inline");
    assert!(f.lab.quiesce(WAIT).unwrap_err().contains("inline"));
    queue_burst(&f, &mut tx, 10, 64);
    let dir = f.lab.dir().to_path_buf();
    let asker = std::thread::spawn(move || ixy_sim::control::send(&dir, "sync"));
    let start = std::time::Instant::now();
    while !asker.is_finished() && start.elapsed() < WAIT {
        f.lab.step();
    }
    assert_eq!(asker.join().expect("asker").as_deref(), Ok("ok"));
    assert_eq!(std::iter::from_fn(|| rx.poll(&f.dut)).count(), 10);
    f.lab.resume().expect("resume");
}

/// One Tx descriptor as a driver writes it: buffer address, then the
/// command dword (length, DTYP, CMD) and, for advanced ones, PAYLEN.
fn put_tx_desc(tx: &ixy_sim::harness::TxRing, i: u32, addr: u64, cmd: u32, paylen: u32) {
    let olinfo = paylen << regs::ADVTXD_PAYLEN_SHIFT;
    tx.mem.write_u64(i as usize * 16, addr);
    tx.mem.write_u64(
        i as usize * 16 + 8,
        u64::from(cmd) | u64::from(olinfo) << 32,
    );
}

#[test]
fn every_tx_descriptor_form_is_sent_and_malformed_frames_are_dropped_but_completed() {
    let f = fixture("txforms", |_| {});
    let mut rx = f.rx(&f.dut, 0, 64, 2048, true);
    let tx = f.tx(&f.tester, 0, 64);
    let frames: Vec<Vec<u8>> = (0..6).map(|i| flow_frame(&f, i, 128)).collect();
    let buf = |i: usize| 64 * 16 + i * 2048;
    for (i, frame) in frames.iter().enumerate() {
        assert!(tx.mem.write(buf(i), frame));
    }
    let addr = |i: usize| tx.mem.iova() + buf(i) as u64;
    let adv = regs::TXD_CMD_DEXT | regs::ADVTXD_DTYP_DATA | regs::TXD_CMD_IFCS;
    let last = regs::TXD_CMD_EOP | regs::TXD_CMD_RS;
    // Frame 0: an offload context descriptor, then one data descriptor.
    put_tx_desc(&tx, 0, 0, regs::TXD_CMD_DEXT | regs::ADVTXD_DTYP_CTXT, 0);
    put_tx_desc(&tx, 1, addr(0), adv | last | 128, 128);
    // Frame 1: two data descriptors; PAYLEN (the frame's) on the first.
    put_tx_desc(&tx, 2, addr(1), adv | 60, 128);
    put_tx_desc(&tx, 3, addr(1) + 60, adv | last | 68, 0);
    // Frame 2: a legacy descriptor (7.2.3.2.2).
    put_tx_desc(&tx, 4, addr(2), regs::TXD_CMD_IFCS | last | 128, 0);
    // Frame 3: PAYLEN differs from the data length: malformed.
    put_tx_desc(&tx, 5, addr(3), adv | last | 128, 100);
    // Frame 4: a data descriptor of length 0: malformed.
    put_tx_desc(&tx, 6, addr(4), adv | last, 0);
    // Frame 5: a plain one after them.
    put_tx_desc(&tx, 7, addr(5), adv | last | 128, 128);
    f.tester.write(regs::tdt(0), 8);
    let got = receive(&f.dut, &mut rx, 4);
    let sent: Vec<&Vec<u8>> = got.iter().map(|(_, data)| data).collect();
    assert_eq!(
        sent,
        [&frames[0], &frames[1], &frames[2], &frames[5]],
        "the well-formed frames arrive whole, in ring order"
    );
    assert!(wait_for(WAIT, || f.tester.read(regs::tdh(0)) == 8));
    for i in [1, 3, 4, 5, 6, 7] {
        assert!(tx_done(&tx, i), "descriptor {i} (RS) written back with DD");
    }
    assert_eq!(f.sim_counter(&f.tester, SimCounter::TxMalformed), 2);
    assert_eq!(settled(&f.lab, &f.tester, regs::GPTC), 4);
}
