use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    ez_cli::output::install_guard("ezdown");
    ez_cli::log::init_from_env();
    let cli = ez_cli::ezdown::EzdownCli::parse();
    match ez_cli::ezdown::run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ezdown: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
