//! The `babymonitor` command.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::error;

use babymonitor::platform::{first_boot, syslog};
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
    /// Log to the system log (/dev/log) instead of stderr.
    #[arg(long, global = true)]
    syslog: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply babymonitor.toml from the boot partition (the SD-card image runs this at boot).
    FirstBoot {
        /// The boot partition, where the owner put babymonitor.toml.
        #[arg(long, value_name = "DIR", default_value = "/boot")]
        boot: PathBuf,
        /// The data partition; /etc on the device links into its etc/.
        #[arg(long, value_name = "DIR", default_value = "/data")]
        data: PathBuf,
        /// The time zone database.
        #[arg(long, value_name = "DIR", default_value = "/usr/share/zoneinfo")]
        zoneinfo: PathBuf,
    },
    /// The daemon's clip decoder: decodes an upload in a process of its own, under limits.
    #[command(hide = true)]
    DecodeClip {
        /// The mixer's sample rate.
        #[arg(long)]
        rate: u32,
        file: PathBuf,
    },
    /// RAUC's custom bootloader backend over the simulated boot environment (`get-primary`,
    /// `set-primary A|B`, `get-state A|B`, `set-state A|B good|bad`), and `boot` (a simulated
    /// power-on: choose a slot as U-Boot does) and `show`.
    #[command(hide = true)]
    BootEnv {
        /// The boot environment file (`<data_dir>/update/boot-env` with --simulate).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The HTTP route table, one route a line: method (`*` for any), path pattern, who may use
    /// it, and whether plain HTTP serves it (`http+https`) or only HTTPS (`https`). The
    /// end-to-end tests try every line.
    #[command(hide = true)]
    Routes,
    /// The ONVIF operations, one a line: service path, namespace, name, access class. Anything
    /// else is refused; the end-to-end tests try every line as every role.
    #[command(hide = true)]
    Operations,
}

fn main() -> ExitCode {
    babymonitor::platform::allocator::tune();
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{}", config::DEFAULT_CONFIG);
        return ExitCode::SUCCESS;
    }
    if let Some(Command::DecodeClip { rate, file }) = &cli.command {
        // No logging set up: what GStreamer says on stderr goes to the daemon's log.
        return babymonitor::audio::decode_clip_child(file, *rate);
    }
    if let Some(Command::BootEnv { file, args }) = &cli.command {
        // RAUC reads what this prints: nothing else goes to stdout.
        return match babymonitor::update::boot_env_command(file, args) {
            Ok(Some(out)) => {
                println!("{}", out.trim_end());
                ExitCode::SUCCESS
            }
            Ok(None) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("boot-env: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Routes) = &cli.command {
        for (method, pattern, need, transport) in babymonitor::serve::http::declared_routes() {
            let method = method.as_ref().map_or("*", |m| m.as_str());
            let transport = match transport {
                babymonitor::serve::http::Transport::Https => "https",
                babymonitor::serve::http::Transport::Any => "http+https",
            };
            println!(
                "{method} {pattern} {} {transport}",
                format!("{need:?}").to_lowercase()
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Operations) = &cli.command {
        for (service, ns, name, access) in onvif::service::declared_operations() {
            println!("{} {ns} {name} {access:?}", service.path());
        }
        return ExitCode::SUCCESS;
    }
    init_logging(cli.syslog);
    if let Some(Command::FirstBoot {
        boot,
        data,
        zoneinfo,
    }) = cli.command
    {
        let paths = first_boot::Paths {
            boot,
            data,
            zoneinfo,
        };
        return match first_boot::run(&paths) {
            Ok(outcome) => {
                tracing::info!(?outcome, "first-boot setup");
                ExitCode::SUCCESS
            }
            Err(e) => {
                error!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
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

fn init_logging(syslog: bool) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    if syslog {
        match syslog::Syslog::connect(std::path::Path::new(syslog::DEV_LOG), "babymonitor") {
            Ok(writer) => {
                // syslogd stamps the time itself.
                tracing_subscriber::fmt()
                    .with_writer(writer)
                    .with_ansi(false)
                    .without_time()
                    .with_env_filter(filter())
                    .init();
                return;
            }
            Err(e) => eprintln!("babymonitor: no system log ({e}), logging to stderr"),
        }
    }
    // Colours only for a person at a terminal, not for init scripts and log files.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter())
        .init();
}
