use std::path::PathBuf;

use clap::{Parser, Subcommand};
use drhost::cli::ClientCommand;
use drhost::serve::{ServeOptions, serve};

/// drhost: disaster-recovery backups with sandboxed WebAssembly stages.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the host and its admin API (the default).
    Serve {
        /// Configuration file; without it the embedded defaults (a demo deployment) are used.
        #[arg(long, env = "DRHOST_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:6443.
        #[arg(long, env = "DRHOST_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Directory for jobs, stores, users and caches.
        #[arg(long, env = "DRHOST_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Client commands: they talk to a running host over its admin API.
    #[command(flatten)]
    Client(ClientCommand),
}

fn main() -> anyhow::Result<()> {
    let options = match Cli::parse().command {
        Some(Command::Client(command)) => {
            // A client: no runtime, no log; the error is what the operator reads.
            if let Err(error) = drhost::cli::run(command) {
                eprintln!("drhost: {error:#}");
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Serve {
            config,
            listen,
            state_dir,
        }) => ServeOptions {
            config,
            listen,
            state_dir,
        },
        None => ServeOptions::default(),
    };
    // Before the runtime starts its threads: see `drhost::malloc`.
    drhost::malloc::tune();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

async fn run(options: ServeOptions) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    serve(options).await
}
