//! `ixy-supervisor`: the supervisor library's [`ixy_supervisor::main`]
//! with the built-in apps (`--app forward|reflect|sink`); see
//! `ixy-supervisor --help` and docs/DESIGN.md 7.

fn main() -> std::process::ExitCode {
    ixy_supervisor::main(worker::apps::BuiltIns::default())
}
