//! Ownership of devices (docs/DESIGN.md 4, "Ownership and reclaim"): one claim
//! per device at a time, released when its holder drops it or dies; and
//! the DMA files of dead owners reclaimed when a program takes a device.

use ixy_driver::claim::{self, Claim};
use ixy_driver::{ErrorKind, InitConfig, OpenOptions, Owned};
use sim::{Lab, LabConfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in the child process that `holder_child` turns into a holder.
const ENV_HOLD: &str = "IXY_TEST_CLAIM_HOLD";

/// A fresh lock directory for one test.
fn lock_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ixy-claim-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_second_claim_names_the_holder_until_the_first_is_dropped() {
    let dir = lock_dir("second");
    let first = Claim::take_in(&dir, "sim:claimlab/0", "first-program").expect("first claim");
    assert_eq!(first.device(), "sim:claimlab/0");
    let e = Claim::take_in(&dir, "sim:claimlab/0", "second-program").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy);
    assert!(e.is_user_error(), "exit code 2");
    assert_eq!(
        e.to_string(),
        format!(
            "sim:claimlab/0 is in use by pid {} (first-program)",
            std::process::id()
        )
    );
    // Other ports of the lab are free.
    let _other = Claim::take_in(&dir, "sim:claimlab/1", "second-program").expect("port 1");
    drop(first);
    let again = Claim::take_in(&dir, "sim:claimlab/0", "second-program").expect("released");
    let text = std::fs::read_to_string(again.path()).expect("lock file");
    assert_eq!(text, format!("{} second-program\n", std::process::id()));
    // Letting go removes the file; one left by a dead holder is reused.
    let path = again.path().to_path_buf();
    drop(again);
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn claims_taken_and_dropped_concurrently_never_overlap() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = lock_dir("race");
    let holders = AtomicUsize::new(0);
    let taken = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (dir, holders, taken) = (&dir, &holders, &taken);
            s.spawn(move || {
                for _ in 0..1000 {
                    let Ok(claim) = Claim::take_in(dir, "sim:racelab/0", &format!("t{t}")) else {
                        continue;
                    };
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    taken.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    drop(claim);
                }
            });
        }
    });
    assert!(taken.load(Ordering::SeqCst) > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_spelling_of_a_device_is_the_same_claim() {
    let dir = lock_dir("spelling");
    let _long = Claim::take_in(&dir, "0000:03:00.0", "p").expect("claim");
    let e = Claim::take_in(&dir, "03:00.0", "q").unwrap_err();
    assert!(
        e.to_string().starts_with("0000:03:00.0 is in use by pid "),
        "{e}"
    );
    let _upper = Claim::take_in(&dir, "ABCD:EF:0A.1", "p").expect("claim");
    assert!(Claim::take_in(&dir, "abcd:ef:0a.1", "q").is_err());
    let _sim = Claim::take_in(&dir, "sim:my-lab/2", "p").expect("claim");
    assert!(Claim::take_in(&dir, "sim:my-lab/02", "q").is_err());
    let e = Claim::take_in(&dir, "sim:bad", "q").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("lock dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0000:03:00.0.lock",
            "abcd:ef:0a.1.lock",
            "sim-my-lab-port-2.lock"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn canonical_names_and_duplicates() {
    assert_eq!(claim::canonical("03:00.0").unwrap(), "0000:03:00.0");
    assert_eq!(claim::canonical("0000:03:00.0").unwrap(), "0000:03:00.0");
    assert_eq!(claim::canonical("ABCD:EF:0A.1").unwrap(), "abcd:ef:0a.1");
    assert_eq!(claim::canonical("sim:L/00").unwrap(), "sim:L/0");
    assert_eq!(claim::canonical("sim:L/7").unwrap(), "sim:L/7");
    let specs = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        claim::check_distinct(&specs(&["sim:L/0", "sim:L/1"])).unwrap(),
        ["sim:L/0", "sim:L/1"]
    );
    for dup in [
        &["sim:L/0", "sim:L/0"][..],
        &["sim:L/0", "sim:L/00"],
        &["03:00.0", "0000:03:00.0"],
    ] {
        let e = claim::check_distinct(&specs(dup)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{dup:?}");
        let line = e.to_string();
        assert!(
            line.contains("is given twice") && !line.contains('\n'),
            "{line}"
        );
    }
}

/// Not a test of its own: in the child process that
/// `a_claim_dies_with_its_holder` starts (the env var set), it takes the
/// claim named by the env var and waits to be killed.
#[test]
fn holder_child() {
    let Ok(spec) = std::env::var(ENV_HOLD) else {
        return;
    };
    let _claim = Claim::take(&spec, "holder").expect("the holder's claim");
    println!("holding");
    // Until the test kills this process (park may return spuriously).
    loop {
        std::thread::park();
    }
}

#[test]
fn a_claim_dies_with_its_holder() {
    let dir = lock_dir("sigkill");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "holder_child", "--nocapture", "--test-threads=1"])
        .env(ENV_HOLD, "sim:holdlab/3")
        .env(claim::ENV_LOCK_DIR, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let stdout = child.stdout.take().expect("stdout");
    let held = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("holding"));
    assert!(held, "the child took the claim");
    // $IXY_LOCK_DIR chose the directory; the file names the holder.
    let lock = dir.join("sim-holdlab-port-3.lock");
    assert_eq!(
        std::fs::read_to_string(&lock).expect("lock file"),
        format!("{} holder\n", child.id())
    );
    let e = Claim::take_in(&dir, "sim:holdlab/3", "me").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("sim:holdlab/3 is in use by pid {} (holder)", child.id())
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    Claim::take_in(&dir, "sim:holdlab/3", "me").expect("the kernel released the lock");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pid that no process has: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("true");
    let pid = c.id();
    c.wait().expect("reaped");
    pid
}

fn sanitized(device: &str) -> String {
    device
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Plants a DMA file `ixy-DEVICE-TAG-PID-0` and maps it in the lab's
/// IOMMU table, as a process `pid` that died would have left it.
fn plant(dir: &Path, table: &sim::iommu::Table, device: &str, tag: &str, pid: u32) -> PathBuf {
    let path = dir.join(format!("ixy-{}-{tag}-{pid}-0", sanitized(device)));
    // One page of hugetlbfs (where write() is not supported) or of /dev/shm.
    let len = ixy_driver::memory::HUGE_PAGE as u64;
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(len))
        .expect("plant a DMA file");
    let iova = table.alloc_iova(len);
    table.map(iova, len, &path, 0).expect("IOMMU entry");
    path
}

/// Removes the planted files, also when an assertion fails.
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[test]
fn taking_a_device_reclaims_the_memory_of_dead_owners_only() {
    let name = format!("drv-reclaim-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.root = PathBuf::from(ixy_driver::simdev::DEFAULT_DIR);
    cfg.line_rate = false;
    let lab = Lab::start(cfg).expect("lab");
    let dev0 = format!("sim:{name}/0");
    let dev1 = format!("sim:{name}/1");
    // Where the devices' DMA memory goes.
    let probe = ixy_driver::Device::open(&dev0, &OpenOptions::default()).expect("open");
    let dir = probe.dma().dir.clone();
    drop(probe);
    let table = sim::iommu::Table::open(&lab.iommu_path()).expect("IOMMU table");
    let dead = dead_pid();
    let orphans = [
        plant(&dir, &table, &dev0, "w1-rxring1", dead),
        plant(&dir, &table, &dev0, "pool", dead),
    ];
    let live = plant(&dir, &table, &dev0, "w0-pool", std::process::id());
    let other_port = plant(&dir, &table, &dev1, "pool", dead);
    let _planted = Planted(
        orphans
            .iter()
            .chain([&live, &other_port])
            .cloned()
            .collect(),
    );

    let specs = [dev0.clone()];
    let link = InitConfig {
        link_timeout: Duration::ZERO,
        ..InitConfig::default()
    };
    let owned = Owned::take(&specs, &OpenOptions::default(), &link, "test").expect("take");
    let mapped: Vec<PathBuf> = table.entries().into_iter().map(|e| e.path).collect();
    for orphan in &orphans {
        assert!(!orphan.exists(), "{} reclaimed", orphan.display());
        assert!(!mapped.contains(orphan), "{} unmapped", orphan.display());
    }
    for kept in [&live, &other_port] {
        assert!(kept.exists(), "{} kept", kept.display());
        assert!(mapped.contains(kept), "{} still mapped", kept.display());
    }
    // The owner holds the device: a second taker is refused, before reset.
    let e = Owned::take(&specs, &OpenOptions::default(), &link, "again").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    drop(owned);
    lab.stop();
}

#[test]
fn the_same_device_twice_is_refused_before_anything_is_opened() {
    let specs = [
        "sim:nolab-dup/0".to_string(),
        "sim:nolab-dup/00".to_string(),
    ];
    let e = Owned::take(&specs, &OpenOptions::default(), &InitConfig::default(), "t").unwrap_err();
    // Not "lab does not exist": the duplicate is found first.
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("given twice"), "{e}");
}
