//! The `babymonitor` command.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing::error;

use babymonitor::{config, daemon};

#[derive(Parser, Debug)]
#[command(version, about = "Baby monitor firmware: an ONVIF/RTSP IP camera")]
struct Cli {
    /// Configuration file (TOML). Default: /etc/babymonitor/config.toml if it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run on any Linux machine with simulated hardware (test picture and sound).
    #[arg(long)]
    simulate: bool,
    /// Print the commented default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Address to listen on. Default: 127.0.0.1 with --simulate, else 0.0.0.0.
    #[arg(long, value_name = "ADDR")]
    listen: Option<IpAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{}", config::DEFAULT_CONFIG);
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let options = daemon::Options {
        config: cli.config,
        simulate: cli.simulate,
        listen: cli.listen,
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(2)
        }
    }
}
