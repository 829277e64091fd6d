//! Register offsets and bit definitions of the 82599 family (82599ES / X520,
//! X540, X550), named as in the datasheet and in Linux `ixgbe_type.h`.
//!
//! These are datasheet facts only: no code that touches a device lives here,
//! so the simulator shares them. The `sim` crate depends on the driver crate
//! for these definitions, the descriptor layouts ([`crate::desc`]) and the
//! simulator's file formats ([`crate::simfmt`], reached through
//! [`crate::shm`]), and on none of its device code. Offsets are byte offsets
//! into BAR0. Each block cites the datasheet section that
//! defines it (82599 datasheet, revision 3.x numbering).

// ---------------------------------------------------------------------------
// General control and status (82599 datasheet 8.2.3.1)
// ---------------------------------------------------------------------------

/// Device Control Register (8.2.3.1.1).
pub const CTRL: u32 = 0x00000;
/// CTRL: master disable (8.2.3.1.1).
pub const CTRL_PCIE_MASTER_DISABLE: u32 = 1 << 2;
/// CTRL: link reset, self-clearing (8.2.3.1.1).
pub const CTRL_LRST: u32 = 1 << 3;
/// CTRL: device reset, self-clearing (8.2.3.1.1, 4.6.3.2).
pub const CTRL_RST: u32 = 1 << 26;
/// Both reset bits, as written by a global reset (4.6.3.2).
pub const CTRL_RST_MASK: u32 = CTRL_LRST | CTRL_RST;

/// Device Status Register (8.2.3.1.2).
pub const STATUS: u32 = 0x00008;
/// STATUS: link up (8.2.3.1.2).
pub const STATUS_LU: u32 = 1 << 7;
/// STATUS: PCIe master enable status (8.2.3.1.2).
pub const STATUS_GIO_MASTER_ENABLE: u32 = 1 << 19;

/// Extended Device Control Register (8.2.3.1.3).
pub const CTRL_EXT: u32 = 0x00018;
/// CTRL_EXT: no snoop disable (8.2.3.1.3).
pub const CTRL_EXT_NS_DIS: u32 = 1 << 16;
/// CTRL_EXT: driver loaded (8.2.3.1.3).
pub const CTRL_EXT_DRV_LOAD: u32 = 1 << 28;

// ---------------------------------------------------------------------------
// EEPROM / flash (8.2.3.2)
// ---------------------------------------------------------------------------

/// EEPROM/Flash Control Register (8.2.3.2.1).
pub const EEC: u32 = 0x10010;
/// EEC: EEPROM present (8.2.3.2.1).
pub const EEC_PRES: u32 = 1 << 8;
/// EEC: EEPROM auto-read done, set by hardware after reset (8.2.3.2.1).
pub const EEC_ARD: u32 = 1 << 9;

// ---------------------------------------------------------------------------
// Interrupts (8.2.3.5)
// ---------------------------------------------------------------------------

/// Extended Interrupt Cause Register, RW1C; also cleared on read while
/// GPIE.OCD is 0 (8.2.3.5.1).
pub const EICR: u32 = 0x00800;
/// Extended Interrupt Cause Set (8.2.3.5.2).
pub const EICS: u32 = 0x00808;
/// Extended Interrupt Mask Set/Read (8.2.3.5.3).
pub const EIMS: u32 = 0x00880;
/// Extended Interrupt Mask Clear (8.2.3.5.4).
pub const EIMC: u32 = 0x00888;
/// EICR: link status change (8.2.3.5.1).
pub const EICR_LSC: u32 = 1 << 20;
/// Mask covering every interrupt cause bit of EIMS/EIMC (bits 30:0; bit 31 is
/// reserved), written to EIMC to disable interrupts (4.6.3.1, 8.2.3.5.4).
/// Linux `IXGBE_IRQ_CLEAR_MASK` is 0xFFFFFFFF, used for EICR instead.
pub const IRQ_CLEAR_MASK: u32 = 0x7FFF_FFFF;
/// General Purpose Interrupt Enable (8.2.3.5.18).
pub const GPIE: u32 = 0x00898;

// ---------------------------------------------------------------------------
// Receive registers (8.2.3.8)
// ---------------------------------------------------------------------------

/// Receive Descriptor Base Address Low, queue `i` (8.2.3.8.1).
pub const fn rdbal(i: u32) -> u32 {
    if i < 64 {
        0x01000 + i * 0x40
    } else {
        0x0D000 + (i - 64) * 0x40
    }
}
/// Receive Descriptor Base Address High, queue `i` (8.2.3.8.2).
pub const fn rdbah(i: u32) -> u32 {
    rdbal(i) + 0x04
}
/// Receive Descriptor Length in bytes, queue `i` (8.2.3.8.3).
pub const fn rdlen(i: u32) -> u32 {
    rdbal(i) + 0x08
}
/// Receive Descriptor Head, queue `i` (8.2.3.8.4).
pub const fn rdh(i: u32) -> u32 {
    rdbal(i) + 0x10
}
/// Receive Descriptor Tail, queue `i` (8.2.3.8.5).
pub const fn rdt(i: u32) -> u32 {
    rdbal(i) + 0x18
}
/// Receive Descriptor Control, queue `i` (8.2.3.8.6).
pub const fn rxdctl(i: u32) -> u32 {
    rdbal(i) + 0x28
}
/// RXDCTL: queue enable; reads back the actual queue state (8.2.3.8.6).
pub const RXDCTL_ENABLE: u32 = 1 << 25;

/// Split Receive Control, queue `i` (8.2.3.8.7). Queues 0..15 use the
/// 82598-compatible block at 0x02100, as Linux `IXGBE_SRRCTL` does.
pub const fn srrctl(i: u32) -> u32 {
    if i <= 15 {
        0x02100 + i * 4
    } else if i < 64 {
        0x01014 + i * 0x40
    } else {
        0x0D014 + (i - 64) * 0x40
    }
}
/// SRRCTL: packet buffer size in 1 KiB units, bits 4:0 on the 82599
/// (8.2.3.8.7); Linux's 0x7F mask covers later parts.
pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x1F;
/// SRRCTL: shift turning a byte size into BSIZEPACKET units (8.2.3.8.7).
pub const SRRCTL_BSIZEPKT_SHIFT: u32 = 10;
/// SRRCTL: header buffer size field, bits 13:8, 64-byte units (8.2.3.8.7).
pub const SRRCTL_BSIZEHDR_MASK: u32 = 0x3F << 8;
/// SRRCTL: descriptor type field, bits 27:25 (8.2.3.8.7).
pub const SRRCTL_DESCTYPE_MASK: u32 = 0x7 << 25;
/// SRRCTL.DESCTYPE: legacy descriptors (8.2.3.8.7).
pub const SRRCTL_DESCTYPE_LEGACY: u32 = 0;
/// SRRCTL.DESCTYPE: advanced descriptors, one buffer (8.2.3.8.7).
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
/// SRRCTL: drop packets when no descriptor is available (8.2.3.8.7).
pub const SRRCTL_DROP_EN: u32 = 1 << 28;
/// SRRCTL value after reset (8.2.3.8.7): BSIZEPACKET 2 (2 KiB), BSIZEHEADER 4
/// (256 B), legacy descriptors, Drop_En 0. Not confirmed against the
/// datasheet table (no source reachable); field layout is confirmed.
pub const SRRCTL_DEFAULT: u32 = 0x0000_0402;

/// Receive DMA Control Register (8.2.3.8.8).
pub const RDRXCTL: u32 = 0x02F00;
/// RDRXCTL: strip the Ethernet CRC; must match HLREG0.RXCRCSTRP (4.6.7,
/// 8.2.3.8.8). Resets to 0 although HLREG0.RXCRCSTRP resets to 1.
pub const RDRXCTL_CRCSTRIP: u32 = 1 << 1;
/// RDRXCTL: DMA initialization done, set by hardware (8.2.3.8.8).
pub const RDRXCTL_DMAIDONE: u32 = 1 << 3;

/// Receive Packet Buffer Size, buffer `i` of 8 (8.2.3.8.9).
pub const fn rxpbsize(i: u32) -> u32 {
    0x03C00 + i * 4
}
/// RXPBSIZE: size in KiB, bits 19:10 (8.2.3.8.9).
pub const RXPBSIZE_SHIFT: u32 = 10;
/// RXPBSIZE(0) after reset: 512 KiB, SIZE = 0x200 (8.2.3.8.9). The datasheet
/// gives PB[1..7] the same 0x200 default, meaningless without DCB.
pub const RXPBSIZE_DEFAULT: u32 = 512 << RXPBSIZE_SHIFT;

/// Receive Control Register (8.2.3.8.10).
pub const RXCTRL: u32 = 0x03000;
/// RXCTRL: receive enable (8.2.3.8.10).
pub const RXCTRL_RXEN: u32 = 1 << 0;

/// Receive Checksum Control (8.2.3.7.5).
pub const RXCSUM: u32 = 0x05000;

// ---------------------------------------------------------------------------
// Receive filtering (8.2.3.7)
// ---------------------------------------------------------------------------

/// Filter Control Register (8.2.3.7.1).
pub const FCTRL: u32 = 0x05080;
/// Multicast control: filter enable and which address bits index the MTA
/// (8.2.3.7.3).
pub const MCSTCTRL: u32 = 0x05090;
/// MCSTCTRL: the MO field, bits 1:0 (0: address bits 47:36, 1: 46:35,
/// 2: 45:34, 3: 43:32).
pub const MCSTCTRL_MO_MASK: u32 = 0x3;
/// MCSTCTRL: multicast filter enable (8.2.3.7.3).
pub const MCSTCTRL_MFE: u32 = 1 << 2;

/// Multicast table array `n` (0..127), 4096 bits in all (8.2.3.7.2).
pub const fn mta(n: u32) -> u32 {
    0x05200 + 4 * n
}

/// The 12-bit multicast table index of destination address `mac` for the
/// MO field `mo` of MCSTCTRL (7.1.1.1.2): bit `index % 32` of MTA(`index / 32`).
pub const fn mta_index(mac: [u8; 6], mo: u32) -> u32 {
    let (b4, b5) = (mac[4] as u32, mac[5] as u32);
    let v = match mo & MCSTCTRL_MO_MASK {
        0 => (b4 >> 4) | (b5 << 4),
        1 => (b4 >> 3) | (b5 << 5),
        2 => (b4 >> 2) | (b5 << 6),
        _ => b4 | (b5 << 8),
    };
    v & 0xFFF
}
/// FCTRL: store bad packets (8.2.3.7.1).
pub const FCTRL_SBP: u32 = 1 << 1;
/// FCTRL: multicast promiscuous enable (8.2.3.7.1).
pub const FCTRL_MPE: u32 = 1 << 8;
/// FCTRL: unicast promiscuous enable (8.2.3.7.1).
pub const FCTRL_UPE: u32 = 1 << 9;
/// FCTRL: broadcast accept mode (8.2.3.7.1).
pub const FCTRL_BAM: u32 = 1 << 10;

/// Receive Address Low, entry `i` of 128 (8.2.3.7.8). Linux `IXGBE_RAL` maps
/// i <= 15 to the 82598 block at 0x05400; the 82599 uses 0x0A200 for all.
pub const fn ral(i: u32) -> u32 {
    0x0A200 + i * 8
}
/// Receive Address High, entry `i` of 128 (8.2.3.7.9).
pub const fn rah(i: u32) -> u32 {
    0x0A204 + i * 8
}
/// RAH: address valid (8.2.3.7.9).
pub const RAH_AV: u32 = 1 << 31;

/// Multiple Receive Queues Command Register (8.2.3.7.12). Linux `IXGBE_MRQC`
/// is 0x05818, the 82598 address; Snabb, TinyNF and Barrelfish use 0x0EC80.
pub const MRQC: u32 = 0x0EC80;
/// MRQC.MRQE field, bits 3:0 (8.2.3.7.12).
pub const MRQC_MRQE_MASK: u32 = 0xF;
/// MRQC.MRQE = RSS only (8.2.3.7.12).
pub const MRQC_RSSEN: u32 = 0x1;
/// MRQC field enable: IPv4 with TCP ports (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV4_TCP: u32 = 1 << 16;
/// MRQC field enable: IPv4 addresses (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV4: u32 = 1 << 17;
/// MRQC field enable: IPv6 with extension headers (not modelled by the sim).
pub const MRQC_RSS_FIELD_IPV6_EX_TCP: u32 = 1 << 18;
/// MRQC field enable: IPv6 extension header addresses (not modelled by the sim).
pub const MRQC_RSS_FIELD_IPV6_EX: u32 = 1 << 19;
/// MRQC field enable: IPv6 addresses (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV6: u32 = 1 << 20;
/// MRQC field enable: IPv6 with TCP ports (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV6_TCP: u32 = 1 << 21;
/// MRQC field enable: IPv4 with UDP ports (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV4_UDP: u32 = 1 << 22;
/// MRQC field enable: IPv6 with UDP ports (8.2.3.7.12).
pub const MRQC_RSS_FIELD_IPV6_UDP: u32 = 1 << 23;
/// MRQC field enable: IPv6 extension headers with UDP (not modelled by the sim).
pub const MRQC_RSS_FIELD_IPV6_EX_UDP: u32 = 1 << 24;

/// RSS Random Key Register `i` of 10 (8.2.3.7.14): key bytes 4i..4i+3,
/// byte 4i in bits 7:0.
pub const fn rssrk(i: u32) -> u32 {
    0x0EB80 + i * 4
}
/// Redirection Table register `i` of 32 (8.2.3.7.15): entries 4i..4i+3,
/// entry 4i in bits 7:0; the 82599 uses bits 3:0 of each entry. Linux
/// `IXGBE_RETA`/`IXGBE_RSSRK` use the 82598 addresses 0x05C00/0x05C80.
/// A packet that matches no enabled hash type (or is not IP) does not index
/// the table: it gets RSS output index 0, hash 0 and RSS type 0 (7.1.2.8;
/// same rule and figure in the 82598 and I210 datasheets).
pub const fn reta(i: u32) -> u32 {
    0x0EB00 + i * 4
}

// Aliases: registers the 82599 also decodes at their 82598-compatible
// addresses, which Linux's ixgbe_type.h uses (the simulator keeps each pair
// equal, `sim::alias`).

/// The 82598-compatible address of RAL(i), i ≤ 15 (Linux `IXGBE_RAL`).
pub const fn ral_alias(i: u32) -> u32 {
    0x05400 + i * 8
}

/// The 82598-compatible address of RAH(i), i ≤ 15 (Linux `IXGBE_RAH`).
pub const fn rah_alias(i: u32) -> u32 {
    0x05404 + i * 8
}

/// The 82598-compatible address of MRQC (Linux `ixgbe_mrqc` on 82598).
pub const fn mrqc_alias() -> u32 {
    0x05818
}

/// The 82598-compatible address of RETA(i), i < 32 (Linux `IXGBE_RETA`).
pub const fn reta_alias(i: u32) -> u32 {
    0x05C00 + i * 4
}

/// The 82598-compatible address of RSSRK(i), i < 10 (Linux `IXGBE_RSSRK`).
pub const fn rssrk_alias(i: u32) -> u32 {
    0x05C80 + i * 4
}

/// The per-queue address of SRRCTL(q) for q ≤ 15, in the queue's register
/// block (0x01014 + 0x40·q); `regs::srrctl` gives the 0x02100 one.
pub const fn srrctl_alias(q: u32) -> u32 {
    0x01014 + q * 0x40
}

/// The 82598-compatible address of QPTC(i), i < 16 (Linux `IXGBE_QPTC`).
pub const fn qptc_alias(i: u32) -> u32 {
    0x06030 + i * 0x40
}

/// EType Queue Filter `i` of 8 (8.2.3.7.21).
pub const fn etqf(i: u32) -> u32 {
    0x05128 + i * 4
}

// ---------------------------------------------------------------------------
// MAC (8.2.3.22)
// ---------------------------------------------------------------------------

/// MAC Core Control 0 (8.2.3.22.8).
pub const HLREG0: u32 = 0x04240;
/// HLREG0: append CRC to transmitted frames (8.2.3.22.8).
pub const HLREG0_TXCRCEN: u32 = 1 << 0;
/// HLREG0: strip CRC from received frames (8.2.3.22.8).
pub const HLREG0_RXCRCSTRP: u32 = 1 << 1;
/// HLREG0: accept jumbo frames up to MAXFRS.MFS (8.2.3.22.8).
pub const HLREG0_JUMBOEN: u32 = 1 << 2;
/// HLREG0: pad short transmitted frames (8.2.3.22.8).
pub const HLREG0_TXPADEN: u32 = 1 << 10;
/// HLREG0: MAC loopback (8.2.3.22.8).
pub const HLREG0_LPBK: u32 = 1 << 15;
/// HLREG0: check 802.3 length fields (8.2.3.22.8).
pub const HLREG0_RXLNGTHERREN: u32 = 1 << 27;
/// HLREG0 after reset (8.2.3.22.8), assembled from the field init values:
/// TXCRCEN 1, RXCRCSTRP 1, JUMBOEN 0, reserved 9:3 = 0x1, TXPADEN 1,
/// reserved 14:11 = 0101b, LPBK 0, MDCSPD 1, CONTMDC 0, PREPEND 0,
/// RXLNGTHERREN 1, RXPADSTRIPEN 0. The functional bits are quoted by TinyNF;
/// the reserved and MDCSPD bits match what Snabb `intel10g.lua` writes and
/// Barrelfish `e10k.dev` (bit 3 must be 1, bits 9:4 zero). The datasheet's own
/// literal could not be retrieved.
pub const HLREG0_DEFAULT: u32 = 0x0801_2C0B;

/// Max Frame Size (8.2.3.22.13): MFS in bits 31:16, CRC included; resets to
/// 1518 (0x5EE, not confirmed against a reachable source).
pub const MAXFRS: u32 = 0x04268;
/// MAXFRS.MFS shift (8.2.3.22.13).
pub const MAXFRS_MFS_SHIFT: u32 = 16;
/// Largest standard frame with CRC, used while HLREG0.JUMBOEN is clear.
pub const MAX_STD_FRAME: u32 = 1518;

/// Auto-Negotiation Control Register (8.2.3.22.19).
pub const AUTOC: u32 = 0x042A0;
/// AUTOC: link mode select, bits 15:13 (8.2.3.22.19).
pub const AUTOC_LMS_MASK: u32 = 0x7 << 13;
/// AUTOC.LMS: 10G serial (8.2.3.22.19).
pub const AUTOC_LMS_10G_SERIAL: u32 = 0x3 << 13;
/// AUTOC.LMS: KX4/KX/KR auto-negotiation (8.2.3.22.19).
pub const AUTOC_LMS_KX4_KX_KR: u32 = 0x4 << 13;
/// AUTOC: 10G PMA/PMD select, bits 8:7 (8.2.3.22.19).
pub const AUTOC_10G_PMA_PMD_MASK: u32 = 0x3 << 7;
/// AUTOC: restart auto-negotiation, self-clearing (8.2.3.22.19).
pub const AUTOC_AN_RESTART: u32 = 1 << 12;

/// Link Status Register (8.2.3.22.20).
pub const LINKS: u32 = 0x042A4;
/// LINKS: link up (8.2.3.22.20).
pub const LINKS_UP: u32 = 1 << 30;
/// LINKS: link speed field, bits 29:28 (8.2.3.22.20).
pub const LINKS_SPEED_MASK: u32 = 0x3 << 28;
/// LINKS.SPEED: 10 Gb/s (8.2.3.22.20).
pub const LINKS_SPEED_10G: u32 = 0x3 << 28;
/// LINKS.SPEED: 1 Gb/s (8.2.3.22.20).
pub const LINKS_SPEED_1G: u32 = 0x2 << 28;
/// LINKS.SPEED: 100 Mb/s (8.2.3.22.20).
pub const LINKS_SPEED_100M: u32 = 0x1 << 28;

// ---------------------------------------------------------------------------
// Transmit registers (8.2.3.9)
// ---------------------------------------------------------------------------

/// Transmit Descriptor Base Address Low, queue `i` (8.2.3.9.5).
pub const fn tdbal(i: u32) -> u32 {
    0x06000 + i * 0x40
}
/// Transmit Descriptor Base Address High, queue `i` (8.2.3.9.6).
pub const fn tdbah(i: u32) -> u32 {
    tdbal(i) + 0x04
}
/// Transmit Descriptor Length in bytes, queue `i` (8.2.3.9.7).
pub const fn tdlen(i: u32) -> u32 {
    tdbal(i) + 0x08
}
/// Transmit Descriptor Head, queue `i` (8.2.3.9.8).
pub const fn tdh(i: u32) -> u32 {
    tdbal(i) + 0x10
}
/// Transmit Descriptor Tail, queue `i` (8.2.3.9.9).
pub const fn tdt(i: u32) -> u32 {
    tdbal(i) + 0x18
}
/// Transmit Descriptor Control, queue `i` (8.2.3.9.10).
pub const fn txdctl(i: u32) -> u32 {
    tdbal(i) + 0x28
}
/// TXDCTL: queue enable; reads back the actual queue state (8.2.3.9.10).
pub const TXDCTL_ENABLE: u32 = 1 << 25;
/// TXDCTL.WTHRESH (bits 22:16): processed descriptors held before they are
/// written back; 0 writes back each RS descriptor at once (7.2.3.5.1).
pub const TXDCTL_WTHRESH_MASK: u32 = 0x7F << TXDCTL_WTHRESH_SHIFT;
/// Shift of TXDCTL.WTHRESH.
pub const TXDCTL_WTHRESH_SHIFT: u32 = 16;
/// TXDCTL.SWFLSH (bit 26): software flush of held write-backs,
/// self-clearing (8.2.3.9.10).
pub const TXDCTL_SWFLSH: u32 = 1 << 26;

/// DMA Tx Control (8.2.3.9.2).
pub const DMATXCTL: u32 = 0x04A80;
/// DMATXCTL: transmit enable (8.2.3.9.2).
pub const DMATXCTL_TE: u32 = 1 << 0;
/// DMA Tx TCP Max Allow Size Requests (8.2.3.9.1).
pub const DTXMXSZRQ: u32 = 0x08100;
/// Transmit Packet Buffer Size, buffer `i` of 8 (8.2.3.9.13).
pub const fn txpbsize(i: u32) -> u32 {
    0x0CC00 + i * 4
}
/// TXPBSIZE(0) after reset: 160 KiB (8.2.3.9.13).
pub const TXPBSIZE_DEFAULT: u32 = 160 << 10;
/// DCB Transmit Descriptor Plane Control and Status (8.2.3.10.2).
pub const RTTDCS: u32 = 0x04900;
/// RTTDCS: DCB arbiter disable, set while configuring (8.2.3.10.2).
pub const RTTDCS_ARBDIS: u32 = 1 << 6;

// ---------------------------------------------------------------------------
// Statistics (8.2.3.23): all counters below are clear-on-read (4.6.5: "all
// of the statistical counters are cleared on read"). Section numbers follow
// the datasheet order (anchors: GPRC .26, RXDGPC .32, GPTC .44, TXDGPC .47,
// RUC..RJC .50-.53, TPR .59, TPT .60, MSPDC .69, RQSMR .71, TQSM .73,
// QPRDC .75, cited by EbbRT, Barrelfish e10k.dev, TinyNF and ixy notes; the
// rest are interpolated from the register order in Snabb intel10g.lua).
// ---------------------------------------------------------------------------

/// CRC Error Count (8.2.3.23.1).
pub const CRCERRS: u32 = 0x04000;
/// Illegal Byte Error Count (8.2.3.23.2).
pub const ILLERRC: u32 = 0x04004;
/// Error Byte Count (8.2.3.23.3).
pub const ERRBC: u32 = 0x04008;
/// Rx Missed Packets Count (RXMPC), packet buffer `i` of 8 (8.2.3.23.4).
pub const fn mpc(i: u32) -> u32 {
    0x03FA0 + i * 4
}
/// Receive Length Error Count (8.2.3.23.7).
pub const RLEC: u32 = 0x04040;
/// Good Packets Received Count (8.2.3.23.26): good frames that passed L2
/// filtering (RXNFGPC counts regardless of filtering). EbbRT and Barrelfish
/// label it RO, but Linux, Snabb and 4.6.5 treat it as clear-on-read.
pub const GPRC: u32 = 0x04074;
/// Broadcast Packets Received Count (8.2.3.23.24).
pub const BPRC: u32 = 0x04078;
/// Multicast Packets Received Count (8.2.3.23.25).
pub const MPRC: u32 = 0x0407C;
/// Good Packets Transmitted Count (8.2.3.23.44).
pub const GPTC: u32 = 0x04080;
/// Good Octets Received Count, low 32 bits (8.2.3.23.27). Counts octets of
/// good frames that passed L2 filtering, destination address through CRC.
/// Read GORCL first, then GORCH (Linux reads L then H "to clear").
pub const GORCL: u32 = 0x04088;
/// Good Octets Received Count, high bits (8.2.3.23.28).
pub const GORCH: u32 = 0x0408C;
/// Good Octets Transmitted Count, low 32 bits (8.2.3.23.45); includes CRC.
/// Read GOTCL before GOTCH.
pub const GOTCL: u32 = 0x04090;
/// Good Octets Transmitted Count, high bits (8.2.3.23.46).
pub const GOTCH: u32 = 0x04094;
/// Receive No Buffers Count, packet buffer `i` of 8: an 82598 register
/// (Linux reads `IXGBE_RNBC` only on the 82598). The 82599 datasheet has no
/// RNBC; it counts descriptor-starvation drops per queue in QPRDC
/// (8.2.3.23.75).
pub const fn rnbc(i: u32) -> u32 {
    0x03FC0 + i * 4
}
/// Receive Undersize Count (8.2.3.23.50).
pub const RUC: u32 = 0x040A4;
/// Receive Fragment Count (8.2.3.23.51).
pub const RFC: u32 = 0x040A8;
/// Receive Oversize Count (8.2.3.23.52).
pub const ROC: u32 = 0x040AC;
/// Receive Jabber Count (8.2.3.23.53).
pub const RJC: u32 = 0x040B0;
/// Total Octets Received, low (8.2.3.23.57).
pub const TORL: u32 = 0x040C0;
/// Total Octets Received, high (8.2.3.23.58).
pub const TORH: u32 = 0x040C4;
/// Total Packets Received (8.2.3.23.59).
pub const TPR: u32 = 0x040D0;
/// Total Packets Transmitted (8.2.3.23.60).
pub const TPT: u32 = 0x040D4;
/// Multicast Packets Transmitted Count (8.2.3.23.67).
pub const MPTC: u32 = 0x040F0;
/// Broadcast Packets Transmitted Count (8.2.3.23.68).
pub const BPTC: u32 = 0x040F4;
/// First and last offsets of the contiguous MAC statistics block (8.2.3.23):
/// CRCERRS at 0x04000 through XEC at 0x04120 (8.2.3.23.70).
pub const STATS_BLOCK: (u32, u32) = (0x04000, 0x04120);

/// Receive Queue Statistic Mapping `i` of 32 (8.2.3.23.71): byte j maps
/// queue 4i+j to a counter index (bits 3:0).
pub const fn rqsmr(i: u32) -> u32 {
    0x02300 + i * 4
}
/// Transmit Queue Statistic Mapping `i` of 32, 82599 (8.2.3.23.73); same
/// byte layout as RQSMR.
pub const fn tqsm(i: u32) -> u32 {
    0x08600 + i * 4
}
/// Number of per-queue statistics counter sets (8.2.3.23.71-80); all are
/// clear-on-read (Snabb marks them RC; Linux accumulates reads).
pub const NUM_QUEUE_STATS: u32 = 16;
/// Queue Packets Received Count `i` of 16 (8.2.3.23.74).
pub const fn qprc(i: u32) -> u32 {
    0x01030 + i * 0x40
}
/// Queue Packets Transmitted Count `i` of 16 (8.2.3.23.78). Snabb uses this
/// 82599 address; Linux `IXGBE_QPTC` keeps the 82598 one (0x06030 + 0x40*i).
pub const fn qptc(i: u32) -> u32 {
    0x08680 + i * 4
}
/// Queue Bytes Received Count, low, `i` of 16 (8.2.3.23.76).
pub const fn qbrc_l(i: u32) -> u32 {
    0x01034 + i * 0x40
}
/// Queue Bytes Received Count, high, `i` of 16 (8.2.3.23.77).
pub const fn qbrc_h(i: u32) -> u32 {
    0x01038 + i * 0x40
}
/// Queue Bytes Transmitted Count, low, `i` of 16 (8.2.3.23.79).
pub const fn qbtc_l(i: u32) -> u32 {
    0x08700 + i * 8
}
/// Queue Bytes Transmitted Count, high, `i` of 16 (8.2.3.23.80).
pub const fn qbtc_h(i: u32) -> u32 {
    0x08704 + i * 8
}
/// Queue Packets Received Drop Count `i` of 16 (8.2.3.23.75).
pub const fn qprdc(i: u32) -> u32 {
    0x01430 + i * 0x40
}

// ---------------------------------------------------------------------------
// IEEE 1588 time sync (8.2.3.26, 7.9)
// ---------------------------------------------------------------------------

/// Rx Time Sync Control (8.2.3.26.1).
pub const TSYNCRXCTL: u32 = 0x05188;
/// TSYNCRXCTL / TSYNCTXCTL: timestamp valid (RXTT/TXTT), cleared by reading
/// the high timestamp word (8.2.3.26.1, 8.2.3.26.7).
pub const TSYNCRXCTL_VALID: u32 = 1 << 0;
/// TSYNCRXCTL: type field, bits 3:1 (8.2.3.26.1). Encodings 000b, 001b, 010b
/// and 101b are used on the 82599; Linux's TYPE_ALL (100b) is only used on
/// X550 and later, the 82599 cannot timestamp all packets.
pub const TSYNCRXCTL_TYPE_MASK: u32 = 0x7 << 1;
/// TSYNCRXCTL.TYPE 000b: PTP v2 over L2 (EtherType 0x88F7) only, messageId
/// selected by RXMTRL bits 15:8.
pub const TSYNCRXCTL_TYPE_L2_V2: u32 = 0x0 << 1;
/// TSYNCRXCTL.TYPE 001b: PTP v1 over UDP only, control field selected by
/// RXMTRL bits 7:0, UDP port by RXMTRL bits 31:16.
pub const TSYNCRXCTL_TYPE_L4_V1: u32 = 0x1 << 1;
/// TSYNCRXCTL.TYPE 010b: PTP v2 over L2 or UDP, messageId selected by RXMTRL
/// bits 15:8.
pub const TSYNCRXCTL_TYPE_L2_L4_V2: u32 = 0x2 << 1;
/// TSYNCRXCTL.TYPE 101b: every PTP v2 event message (messageId 0..3), L2 or
/// UDP; RXMTRL's message fields are not used.
pub const TSYNCRXCTL_TYPE_EVENT_V2: u32 = 0x5 << 1;
/// TSYNCRXCTL: enable Rx timestamping (8.2.3.26.1).
pub const TSYNCRXCTL_ENABLED: u32 = 1 << 4;
/// Rx Timestamp Low (8.2.3.26.2).
pub const RXSTMPL: u32 = 0x051E8;
/// Rx Timestamp High; reading it unlocks the next Rx timestamp (8.2.3.26.3).
pub const RXSTMPH: u32 = 0x051A4;
/// Rx Timestamp Attributes Low: bits 31:0 of the timestamped message's source
/// UUID (8.2.3.26.4).
pub const RXSATRL: u32 = 0x051A0;
/// Rx Timestamp Attributes High (8.2.3.26.5): source UUID bits 47:32 in 15:0,
/// PTP sequenceId in 31:16.
pub const RXSATRH: u32 = 0x051A8;
/// Rx Message Type Register Low (8.2.3.26.6): V1 control field to match in
/// 7:0 (CTRLT), V2 messageId to match in 15:8 (MSGT), UDP destination port
/// to match in 31:16 (UDPT; Linux writes 319 there).
pub const RXMTRL: u32 = 0x05120;
/// RXMTRL.CTRLT: PTP v1 control field to timestamp, bits 7:0 (8.2.3.26.6).
pub const RXMTRL_CTRLT_MASK: u32 = 0xFF;
/// RXMTRL.MSGT: PTP v2 messageId to timestamp, bits 15:8 (8.2.3.26.6).
pub const RXMTRL_MSGT_MASK: u32 = 0xFF << 8;
/// RXMTRL.UDPT: UDP port of timestamped PTP messages, bits 31:16 (8.2.3.26.6).
pub const RXMTRL_UDPT_SHIFT: u32 = 16;
/// Tx Time Sync Control (8.2.3.26.7).
pub const TSYNCTXCTL: u32 = 0x08C00;
/// TSYNCTXCTL: timestamp valid, cleared by reading TXSTMPH (8.2.3.26.7).
pub const TSYNCTXCTL_VALID: u32 = 1 << 0;
/// TSYNCTXCTL: enable Tx timestamping (8.2.3.26.7).
pub const TSYNCTXCTL_ENABLED: u32 = 1 << 4;
/// Tx Timestamp Low (8.2.3.26.8).
pub const TXSTMPL: u32 = 0x08C04;
/// Tx Timestamp High; reading it unlocks the next Tx timestamp (8.2.3.26.9).
pub const TXSTMPH: u32 = 0x08C08;
/// System Time Low (8.2.3.26.10).
pub const SYSTIML: u32 = 0x08C0C;
/// System Time High (8.2.3.26.11).
pub const SYSTIMH: u32 = 0x08C10;
/// Increment Attributes (8.2.3.26.12): IP (increment period) in 31:24, IV
/// (increment value) in 23:0. Every IP periods of the time-sync clock,
/// SYSTIM grows by IV; the clock period is 6.4 ns at 10 Gb/s (and with no
/// link), 64 ns at 1 Gb/s, 640 ns at 100 Mb/s. Linux programs IP = 1 and
/// IV = 0xCCCCCC, so SYSTIM counts 2^-21 ns units.
pub const TIMINCA: u32 = 0x08C14;
/// TIMINCA: increment period shift (8.2.3.26.12).
pub const TIMINCA_IP_SHIFT: u32 = 24;
/// TIMINCA: increment value mask (8.2.3.26.12).
pub const TIMINCA_IV_MASK: u32 = 0x00FF_FFFF;
/// Time Adjustment Offset Low (8.2.3.26.13).
pub const TIMADJL: u32 = 0x08C18;
/// Time Adjustment Offset High; bit 31 is the sign (8.2.3.26.14).
pub const TIMADJH: u32 = 0x08C1C;
/// TIMADJH: subtract the offset instead of adding it (8.2.3.26.14).
pub const TIMADJH_SIGN: u32 = 1 << 31;
/// UDP port of PTP event messages (IEEE 1588 annex D).
pub const PTP_EVENT_UDP_PORT: u16 = 319;
/// EtherType of PTP over Ethernet (IEEE 1588 annex F).
pub const PTP_ETHERTYPE: u16 = 0x88F7;
/// Period of the time-sync clock that TIMINCA.IP counts at 10 Gb/s, in
/// picoseconds (6.4 ns; Linux ixgbe_ptp.c). Datasheet section 7.9 (exact
/// subsection not confirmed).
pub const SYSTIM_CLOCK_PERIOD_PS_10G: u64 = 6400;

// ---------------------------------------------------------------------------
// Descriptors (7.1.5, 7.1.6, 7.2.3)
// ---------------------------------------------------------------------------

/// Advanced Rx write-back, status: descriptor done (7.1.6.2).
pub const RXD_STAT_DD: u32 = 1 << 0;
/// Advanced Rx write-back, status: end of packet (7.1.6.2).
pub const RXD_STAT_EOP: u32 = 1 << 1;
/// Advanced Rx write-back, status: IEEE 1588 timestamp latched (7.1.6.2).
pub const RXD_STAT_TS: u32 = 1 << 16;
/// Advanced Rx write-back, error: Rx data error (7.1.6.2).
pub const RXDADV_ERR_RXE: u32 = 1 << 29;
/// Advanced Rx write-back, packet type: IPv4 header present (7.1.6.2).
pub const RXDADV_PKTTYPE_IPV4: u32 = 0x0000_0010;
/// Advanced Rx write-back, packet type: IPv4 with options (7.1.6.2).
pub const RXDADV_PKTTYPE_IPV4_EX: u32 = 0x0000_0020;
/// Advanced Rx write-back, packet type: IPv6 header present (7.1.6.2).
pub const RXDADV_PKTTYPE_IPV6: u32 = 0x0000_0040;
/// Advanced Rx write-back, packet type: IPv6 with extension headers (7.1.6.2).
pub const RXDADV_PKTTYPE_IPV6_EX: u32 = 0x0000_0080;
/// Advanced Rx write-back, packet type: TCP header present (7.1.6.2).
pub const RXDADV_PKTTYPE_TCP: u32 = 0x0000_0100;
/// Advanced Rx write-back, packet type: UDP header present (7.1.6.2).
pub const RXDADV_PKTTYPE_UDP: u32 = 0x0000_0200;
/// Advanced Rx write-back, packet type: SCTP header present (7.1.6.2).
pub const RXDADV_PKTTYPE_SCTP: u32 = 0x0000_0400;
/// Advanced Rx write-back, RSS type: no hash computed (7.1.6.2).
pub const RXDADV_RSSTYPE_NONE: u32 = 0x0;
/// Advanced Rx write-back, RSS type: IPv4 with TCP (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV4_TCP: u32 = 0x1;
/// Advanced Rx write-back, RSS type: IPv4 (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV4: u32 = 0x2;
/// Advanced Rx write-back, RSS type: IPv6 with TCP (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV6_TCP: u32 = 0x3;
/// Advanced Rx write-back, RSS type: IPv6 (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV6: u32 = 0x5;
/// Advanced Rx write-back, RSS type: IPv4 with UDP (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV4_UDP: u32 = 0x7;
/// Advanced Rx write-back, RSS type: IPv6 with UDP (7.1.6.2).
pub const RXDADV_RSSTYPE_IPV6_UDP: u32 = 0x8;

/// Tx descriptor command: end of packet (7.2.3.2.4).
pub const TXD_CMD_EOP: u32 = 1 << 24;
/// Tx descriptor command: insert FCS / CRC (7.2.3.2.4).
pub const TXD_CMD_IFCS: u32 = 1 << 25;
/// Tx descriptor command: report status, write back DD (7.2.3.2.4).
pub const TXD_CMD_RS: u32 = 1 << 27;
/// Tx descriptor command: descriptor extension, advanced format (7.2.3.2.4).
pub const TXD_CMD_DEXT: u32 = 1 << 29;
/// Tx descriptor status: descriptor done, in the upper dword (7.2.3.2.4).
pub const TXD_STAT_DD: u32 = 1 << 0;
/// Advanced Tx descriptor: descriptor type field, bits 23:20 (7.2.3.2.4).
pub const ADVTXD_DTYP_MASK: u32 = 0xF << 20;
/// Advanced Tx descriptor type: data (7.2.3.2.4).
pub const ADVTXD_DTYP_DATA: u32 = 0x3 << 20;
/// Advanced Tx descriptor type: context (7.2.3.2.3).
pub const ADVTXD_DTYP_CTXT: u32 = 0x2 << 20;
/// Advanced Tx data descriptor: IEEE 1588 timestamp this frame (7.2.3.2.4).
pub const ADVTXD_MAC_TSTAMP: u32 = 1 << 19;
/// Advanced Tx data descriptor: data length mask, bits 15:0 (7.2.3.2.4).
pub const ADVTXD_DTALEN_MASK: u32 = 0xFFFF;
/// Advanced Tx data descriptor: PAYLEN shift in olinfo_status (7.2.3.2.4).
pub const ADVTXD_PAYLEN_SHIFT: u32 = 14;

// ---------------------------------------------------------------------------
// Read side effects (docs/DESIGN.md 3): which reads change device state
// ---------------------------------------------------------------------------

/// What reading a register does besides returning its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEffect {
    /// A plain read.
    None,
    /// The register clears to zero when read (statistics, EICR).
    ClearOnRead,
    /// Reading clears `bit` in register `reg` (timestamp-valid bits).
    ClearBit {
        /// The register holding the bit.
        reg: u32,
        /// The bit that the read clears.
        bit: u32,
    },
    /// The read returns register `reg`, without its side effects (EICS
    /// reads the pending causes of EICR without clearing them, 8.2.3.5.3).
    ReadsFrom(u32),
}

/// What writing a register does besides storing the value (82599
/// datasheet 8.2.3.5); the simulator backend's accessor applies it, as it
/// applies [`ReadEffect`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteEffect {
    /// A plain store.
    Store,
    /// Write 1 to clear: the 1 bits of the value clear those bits (EICR,
    /// 8.2.3.5.1).
    ClearBits,
    /// The 1 bits of the value set those bits in register `reg` (EICS sets
    /// causes in EICR, 8.2.3.5.3).
    SetBitsOf(u32),
}

/// The write side effect of `reg`, a datasheet fact (8.2.3.5).
pub fn write_effect(reg: u32) -> WriteEffect {
    match reg {
        EICR => WriteEffect::ClearBits,
        EICS => WriteEffect::SetBitsOf(EICR),
        _ => WriteEffect::Store,
    }
}

/// The read side effect of `reg`, a datasheet fact (8.2.3.23, 8.2.3.26).
pub fn read_effect(reg: u32) -> ReadEffect {
    let in_queue_block = |base: u32, stride: u32| {
        reg >= base && reg < base + stride * NUM_QUEUE_STATS && (reg - base).is_multiple_of(stride)
    };
    match reg {
        RXSTMPH => ReadEffect::ClearBit {
            reg: TSYNCRXCTL,
            bit: TSYNCRXCTL_VALID,
        },
        TXSTMPH => ReadEffect::ClearBit {
            reg: TSYNCTXCTL,
            bit: TSYNCTXCTL_VALID,
        },
        EICR => ReadEffect::ClearOnRead,
        EICS => ReadEffect::ReadsFrom(EICR),
        r if (STATS_BLOCK.0..=STATS_BLOCK.1).contains(&r) => ReadEffect::ClearOnRead,
        r if (mpc(0)..=mpc(7)).contains(&r) => ReadEffect::ClearOnRead,
        _ if in_queue_block(qprc(0), 0x40)
            || in_queue_block(qbrc_l(0), 0x40)
            || in_queue_block(qbrc_h(0), 0x40)
            || in_queue_block(qprdc(0), 0x40)
            || in_queue_block(qptc(0), 4)
            || in_queue_block(qptc_alias(0), 0x40)
            || in_queue_block(qbtc_l(0), 8)
            || in_queue_block(qbtc_h(0), 8) =>
        {
            ReadEffect::ClearOnRead
        }
        _ => ReadEffect::None,
    }
}

/// Number of queues of each direction on the 82599 (1.3).
pub const NUM_QUEUES: u32 = 128;
/// Size of the BAR0 memory window (9.3.6.1). The datasheet gives the memory
/// BAR region as 128 KB of registers plus the flash size (8.1), so the real
/// size depends on the EEPROM; 512 KiB is this project's choice.
pub const BAR0_SIZE: usize = 512 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_register_blocks_follow_ixgbe_type_h() {
        assert_eq!(rdbal(0), 0x01000);
        assert_eq!(rdbal(63), 0x01FC0);
        assert_eq!(rdbal(64), 0x0D000);
        assert_eq!(rdt(1), 0x01058);
        assert_eq!(rxdctl(0), 0x01028);
        assert_eq!(srrctl(15), 0x0213C);
        assert_eq!(srrctl(16), 0x01414);
        assert_eq!(tdt(2), 0x06098);
        assert_eq!(txdctl(127), 0x06000 + 127 * 0x40 + 0x28);
    }

    #[test]
    fn multicast_table_index_uses_the_address_bits_mo_selects() {
        // Address 01:AA:00:12:34:56: bits 47:36, 46:35, 45:34, 43:32.
        let mac = [0x01, 0xAA, 0x00, 0x12, 0x34, 0x56];
        assert_eq!(mta_index(mac, 0), 0x563);
        assert_eq!(mta_index(mac, 1), 0xAC6);
        assert_eq!(mta_index(mac, 2), 0x58D);
        assert_eq!(mta_index(mac, 3), 0x634);
        assert_eq!((mta(0), mta(127), MCSTCTRL), (0x05200, 0x053FC, 0x05090));
        assert_eq!(
            (ral_alias(0), rah_alias(15), mrqc_alias()),
            (0x05400, 0x0547C, 0x05818)
        );
        assert_eq!(
            (reta_alias(31), rssrk_alias(9), srrctl_alias(15)),
            (0x05C7C, 0x05CA4, 0x013D4)
        );
    }

    #[test]
    fn interrupt_cause_registers_read_and_write_as_the_datasheet_says() {
        assert_eq!(read_effect(EICS), ReadEffect::ReadsFrom(EICR));
        assert_eq!(write_effect(EICR), WriteEffect::ClearBits);
        assert_eq!(write_effect(EICS), WriteEffect::SetBitsOf(EICR));
        assert_eq!(write_effect(CTRL), WriteEffect::Store);
    }

    #[test]
    fn read_effects_cover_counters_and_timestamps() {
        assert_eq!(read_effect(GPRC), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(GORCH), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(mpc(0)), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(qprc(15)), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(qbtc_h(3)), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(qprdc(7)), ReadEffect::ClearOnRead);
        assert_eq!(read_effect(qptc_alias(15)), ReadEffect::ClearOnRead);
        // Registers sharing the queue blocks are not counters.
        assert_eq!(read_effect(rdbal(0)), ReadEffect::None);
        assert_eq!(read_effect(rxdctl(3)), ReadEffect::None);
        assert_eq!(read_effect(LINKS), ReadEffect::None);
        assert_eq!(
            read_effect(RXSTMPH),
            ReadEffect::ClearBit {
                reg: TSYNCRXCTL,
                bit: TSYNCRXCTL_VALID
            }
        );
        assert_eq!(read_effect(RXSTMPL), ReadEffect::None);
    }
}
