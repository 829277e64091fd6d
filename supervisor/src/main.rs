//! `ixy-supervisor` (issue 4). Until it exists it says so and exits 2.

fn main() {
    eprintln!("ixy-supervisor: not available in this build yet (see issue 4); use ixy-sim");
    std::process::exit(2);
}
