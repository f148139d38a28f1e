//! Diagnostic log for both commands: off unless `EZ_LOG` is set (`EZ_LOG=debug`,
//! `EZ_LOG=ez_executor=debug`, any `tracing` filter). Lines go to stderr with the time since
//! start, so they never mix with `--json` events on stdout. An unparsable filter is said once
//! and ignored: the command still runs.

/// Installs the stderr logger when `EZ_LOG` is set; does nothing otherwise.
pub fn init_from_env() {
    let Ok(spec) = std::env::var("EZ_LOG") else {
        return;
    };
    match tracing_subscriber::EnvFilter::try_new(&spec) {
        Ok(filter) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_timer(tracing_subscriber::fmt::time::uptime())
                .with_writer(std::io::stderr)
                .try_init();
        }
        Err(e) => eprintln!("EZ_LOG={spec:?} is not a log filter ({e}); logging stays off"),
    }
}
