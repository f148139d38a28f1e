use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    ez_cli::output::install_guard("ezctl");
    ez_cli::log::init_from_env();
    let cli = ez_cli::EzctlCli::parse();
    match ez_cli::run_ezctl(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ezctl: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
