//! DMA memory on hugepages with physical addresses (the sysfs backend's
//! way): needs root and hugepages, which CI sets up
//! (`scripts/setup-hugepages.sh`). `IXY_HUGEPAGES=off` skips it, for
//! machines that have neither.

use ixy_driver::memory::{hugetlbfs_mount, DmaContext, Mapper, HUGE_PAGE};
use ixy_driver::Mempool;

#[test]
fn hugepage_translation_is_stable_and_2mib_aligned() {
    if std::env::var(ixy_driver::memory::ENV_HUGEPAGES).is_ok_and(|v| v == "off") {
        eprintln!("IXY_HUGEPAGES=off: not testing physical hugepage memory");
        return;
    }
    let dir = hugetlbfs_mount()
        .expect("a hugetlbfs mount: run scripts/setup-hugepages.sh (or set IXY_HUGEPAGES=off)");
    let ctx = DmaContext {
        mapper: Mapper::Physical,
        dir,
        huge: true,
        device: "pagemap-test".into(),
    };
    let region = ctx
        .alloc("pagemap", 2 * HUGE_PAGE)
        .expect("two hugepages (as root)");
    let path = region.path().to_path_buf();
    for page in 0..2 {
        let phys = region.bus_addr(page * HUGE_PAGE);
        assert_ne!(phys, 0);
        assert_eq!(
            phys % HUGE_PAGE as u64,
            0,
            "a hugepage starts on a 2 MiB boundary"
        );
        assert_eq!(
            region.bus_addr(page * HUGE_PAGE + 4096),
            phys + 4096,
            "contiguous within the page"
        );
    }
    // The same memory translated again gives the same addresses.
    let pagemap = std::fs::File::open("/proc/self/pagemap").unwrap();
    for page in 0..2 {
        let virt = region.as_ptr() as usize + page * HUGE_PAGE;
        assert_eq!(
            ixy_driver::memory::virt_to_phys(&pagemap, virt).unwrap(),
            region.bus_addr(page * HUGE_PAGE)
        );
    }
    // A mempool on top: buffers never cross a page, so each has one address.
    let pool = Mempool::new(&ctx, "pagemap-pool", 2048, 2048).unwrap();
    assert_eq!(pool.capacity(), 2048);
    drop(region);
    assert!(!path.exists(), "the region's file is removed");
}
