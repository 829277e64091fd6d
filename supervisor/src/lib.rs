//! `ixy-supervisor` as a library: validate the command line, initialise the
//! devices with RSS, fork the workers, supervise and stop them
//! (docs/DESIGN.md 7). The `ixy-supervisor` binary is [`main`] with the
//! built-in apps; a program of your own is [`main`] with a factory of
//! your app, and gets the whole command line (`--workers`, `--device`,
//! `--cores`, `--rss-key`, `--debug-worker`, `--duration`, …), the
//! restarts, the stats files and the summary:
//!
//! ```no_run
//! use ixy_supervisor::{App, Outputs, Packet};
//!
//! /// Sends every packet back out of the port it came in on.
//! struct Echo;
//!
//! impl App for Echo {
//!     fn name(&self) -> &'static str {
//!         "echo"
//!     }
//!     fn ports(&self) -> usize {
//!         1
//!     }
//!     fn process<'a>(&mut self, port: usize, packets: &mut Vec<Packet<'a>>, out: &mut Outputs<'a, '_>) {
//!         out.send_all(port, packets);
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     ixy_supervisor::main(ixy_supervisor::factory("echo", 1, |_worker| Echo))
//! }
//! ```
//!
//! Everything an app needs is re-exported here; the crates behind it are
//! [`driver`] and [`worker`].

// The one unsafe operation, fork, is allowed in `process` alone.
#![deny(unsafe_code)]

pub mod budget;
pub mod cli;
pub mod process;
pub mod rundir;
pub mod summary;
pub mod supervise;

pub use cli::{Args, Config};
/// The driver crate (`ixy-driver`), for what the re-exports above leave out.
pub use driver;
pub use driver::{Mempool, Packet};
/// The worker runtime crate (`ixy-worker`): stats files, the built-in apps.
pub use worker;
pub use worker::app::FnFactory;
pub use worker::{factory, App, AppFactory, Outputs, WorkerInfo};

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

/// Runs a validated configuration with the apps `factory` makes to the
/// end; returns the exit code.
pub fn run<F: AppFactory>(cfg: Config, factory: F) -> driver::Result<i32> {
    let debug = cfg.debug_worker;
    let sup = supervise::Supervisor::new(cfg, factory)?;
    match debug {
        Some(k) => sup.run_debug_worker(k),
        None => sup.run(),
    }
}

/// The whole program: parses and checks the command line (`--help` shows
/// it; a bad argument is one line and exit status 2), sets up logging
/// (`RUST_LOG`, millisecond timestamps) and runs the apps `factory` makes
/// under supervision until SIGINT, SIGTERM or `--duration`. Returns the
/// exit status: 0, 1 when a worker was given up, 2 for bad input or an
/// app that cannot run, 3 when a device was lost. Call it from `main`.
pub fn main<F: AppFactory>(factory: F) -> ExitCode {
    main_with_args(factory, std::env::args_os().collect())
}

/// [`main`] on the command line `args` (the program's name first) rather
/// than the process's: for a program that takes options of its own out
/// of its command line before handing the rest to the supervisor
/// (`ixy-pcap`).
pub fn main_with_args<F: AppFactory>(mut factory: F, args: Vec<std::ffi::OsString>) -> ExitCode {
    let program = args
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(
            || "ixy-supervisor".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let mut command = Args::command().name(program.clone()).bin_name(&program);
    if program != "ixy-supervisor" {
        command = command.after_help(format!(
            "Runs the app {:?} on every worker.\nExample:\n  {program} --workers 2 --device sim:demo/0 --oversubscribe",
            factory.name()
        ));
    }
    let args = match command
        .try_get_matches_from(args)
        .and_then(|m| Args::from_arg_matches(&m))
    {
        Ok(a) => a,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            // Help and version go to stdout with status 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, not clap's usage block (docs/DESIGN.md 10).
            let text = e.render().to_string();
            let message = text.split("\n\n").next().unwrap_or("invalid arguments");
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!(
                "{program}: {}; see --help",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let level = if args.debug_worker.is_some() {
        "debug"
    } else {
        "info"
    };
    // Millisecond timestamps: link changes and restarts are logged with them.
    // A second initialisation (a test calling main twice) keeps the first.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .try_init();
    let cfg = match args.validate(&mut factory) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{program}: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(cfg, factory) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}
