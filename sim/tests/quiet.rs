//! The IOMMU warns when a DMA faults, not before: a driver may delete a
//! region's file while it unmaps it (`sim/README.md` 4.4), and a region the
//! model could not map is no fault until a DMA goes there. Its own test
//! binary: it installs a logger that records what the model says.

use ixy_sim::harness::Dma;
use ixy_sim::iommu::{Table, Translator};
use std::sync::Mutex;

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            WARNINGS.lock().unwrap().push(r.args().to_string());
        }
    }

    fn flush(&self) {}
}

#[test]
fn an_unmappable_region_is_reported_at_its_first_dma_not_before() {
    log::set_logger(&Recorder).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let dir = std::env::temp_dir().join(format!("ixy-quiet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table_path = dir.join("iommu");
    let _table = Table::create(&table_path).unwrap();
    let file = dir.join("region");
    let dma = Dma::new(&table_path, &file, 4096).unwrap();
    // The driver deletes the file before the model has mapped the entry.
    std::fs::remove_file(&file).unwrap();
    let mut model = Translator::new(Table::open(&table_path).unwrap());
    model.refresh();
    assert!(
        WARNINGS.lock().unwrap().is_empty(),
        "no DMA, no warning: {:?}",
        WARNINGS.lock().unwrap()
    );
    // A DMA there faults, and the model says why, once.
    assert!(!model.write(dma.iova() + 8, &[1, 2, 3]), "an IOMMU fault");
    assert!(!model.write(dma.iova(), &[1]), "still a fault");
    let warnings = WARNINGS.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("could not be mapped") && warnings[0].contains("region"),
        "{warnings:?}"
    );
    drop(dma);
    let _ = std::fs::remove_dir_all(&dir);
}
