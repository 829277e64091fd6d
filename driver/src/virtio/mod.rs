//! The virtio-net backend (virtio 1.1: 2 basic facilities, 4.1 the PCI
//! transport, 5.1 the network device): the second device ixy-mp drives,
//! for virtual machines. The same supervisor, workers and tools run on it:
//! the supervisor negotiates features, sets up every queue pair's rings
//! and programs RSS through the control queue ([`VirtioNet::init`]); each
//! worker then takes one queue pair ([`VirtioRx`], [`VirtioTx`]) with its
//! own mempool.
//!
//! Follow a packet: [`caps`] finds the structures in the BARs, [`ring`]
//! is the split virtqueue, `rx.rs` posts mempool buffers and hands out
//! [`crate::Packet`]s, `tx.rs` sends them. No offloads are negotiated: a
//! frame is a 12-byte (20 with `VIRTIO_NET_F_HASH_REPORT`) header in its
//! own descriptor, then the frame in the mempool buffer.

pub mod caps;
mod ctrl;
mod device;
pub mod ring;
mod rx;
#[cfg(test)]
mod tests;
mod tx;

pub use device::VirtioNet;
pub use rx::VirtioRx;
pub use tx::VirtioTx;

/// PCI vendor id of virtio devices (4.1.2).
pub const VENDOR_ID: u16 = 0x1AF4;
/// PCI device id of a transitional virtio-net device (4.1.2.3).
pub const DEVICE_ID_NET_TRANSITIONAL: u16 = 0x1000;
/// PCI device id of a modern virtio-net device: 0x1040 + device type 1.
pub const DEVICE_ID_NET_MODERN: u16 = 0x1041;

/// Whether a PCI vendor/device id pair is a virtio-net device.
pub fn is_virtio_net(vendor: u16, device: u16) -> bool {
    vendor == VENDOR_ID && (device == DEVICE_ID_NET_TRANSITIONAL || device == DEVICE_ID_NET_MODERN)
}

/// Bytes set aside per slot for the virtio-net header.
const HDR_SLOT: usize = 32;

/// Feature bits (6 and 5.1.3) ixy-mp negotiates.
pub mod feature {
    /// `VIRTIO_NET_F_MAC`: the device has a MAC address in its config.
    pub const MAC: u64 = 1 << 5;
    /// `VIRTIO_NET_F_STATUS`: the link state is in the config.
    pub const STATUS: u64 = 1 << 16;
    /// `VIRTIO_NET_F_CTRL_VQ`: a control queue.
    pub const CTRL_VQ: u64 = 1 << 17;
    /// `VIRTIO_NET_F_MQ`: several queue pairs.
    pub const MQ: u64 = 1 << 22;
    /// `VIRTIO_NET_F_HASH_REPORT`: the RSS hash in every Rx header.
    pub const HASH_REPORT: u64 = 1 << 57;
    /// `VIRTIO_NET_F_RSS`: Toeplitz RSS with a key and indirection table.
    pub const RSS: u64 = 1 << 60;
    /// `VIRTIO_F_VERSION_1`: the modern (1.0+) interface.
    pub const VERSION_1: u64 = 1 << 32;
    /// `VIRTIO_F_ACCESS_PLATFORM`: the device's DMA goes through the
    /// platform's IOMMU (bus addresses are IOVAs).
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    /// `VIRTIO_F_RING_RESET` (virtio 1.2): one queue can be reset and
    /// re-enabled while the others run.
    pub const RING_RESET: u64 = 1 << 40;
}

/// Device status bits (2.1).
mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FEATURES_OK: u8 = 8;
    pub const DEVICE_NEEDS_RESET: u8 = 0x40;
    pub const FAILED: u8 = 0x80;
}

/// Offsets in `struct virtio_pci_common_cfg` (4.1.4.3).
mod common {
    pub const DEVICE_FEATURE_SELECT: usize = 0;
    pub const DEVICE_FEATURE: usize = 4;
    pub const DRIVER_FEATURE_SELECT: usize = 8;
    pub const DRIVER_FEATURE: usize = 12;
    pub const CONFIG_MSIX_VECTOR: usize = 16;
    pub const NUM_QUEUES: usize = 18;
    pub const DEVICE_STATUS: usize = 20;
    pub const QUEUE_SELECT: usize = 22;
    pub const QUEUE_SIZE: usize = 24;
    pub const QUEUE_MSIX_VECTOR: usize = 26;
    pub const QUEUE_ENABLE: usize = 28;
    pub const QUEUE_NOTIFY_OFF: usize = 30;
    pub const QUEUE_DESC: usize = 32;
    pub const QUEUE_DRIVER: usize = 40;
    pub const QUEUE_DEVICE: usize = 48;
    /// `queue_reset` (virtio 1.2, with `VIRTIO_F_RING_RESET`).
    pub const QUEUE_RESET: usize = 58;
}

/// Offsets in `struct virtio_net_config` (5.1.4).
mod net_cfg {
    pub const MAC: usize = 0;
    pub const STATUS: usize = 6;
    pub const MAX_VIRTQUEUE_PAIRS: usize = 8;
    pub const RSS_MAX_KEY_SIZE: usize = 17;
    pub const RSS_MAX_INDIRECTION_TABLE_LENGTH: usize = 18;
    pub const SUPPORTED_HASH_TYPES: usize = 20;
    /// `VIRTIO_NET_S_LINK_UP` in `status`.
    pub const S_LINK_UP: u16 = 1;
}
