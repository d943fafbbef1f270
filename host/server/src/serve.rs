//! `drhost serve`: start the host and its admin API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use drhost_api::{ApiConfig, Auth, ConfiguredUser};

use crate::app::Host;
use crate::config::HostConfig;
use crate::tls::TlsListener;

/// Command-line overrides of the configuration.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub listen: Option<std::net::SocketAddr>,
    pub state_dir: Option<PathBuf>,
}

/// Runs the host until Ctrl-C / SIGTERM.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let mut config = HostConfig::load(options.config.as_deref())?;
    if let Some(listen) = options.listen {
        config.listen = listen;
    }
    if let Some(state_dir) = options.state_dir {
        config.state_dir = state_dir;
    }
    config.resolve_paths();
    config.check_listen().map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create state dir {}", config.state_dir.display()))?;
    if config.demo && crate::demo::ensure_demo_deployment(&config.state_dir)? {
        tracing::info!(dir = %config.state_dir.join("demo").display(), "created the demo deployment");
    }

    let (auth, generated) = Auth::load_or_init(
        &config.state_dir,
        std::env::var("DRHOST_ADMIN_PASSWORD").ok(),
    )?;
    if let Some(password) = generated {
        // Printed once, on the first start, so the operator can log in.
        println!("drhost: created user 'admin' with password: {password}");
    }
    let configured = config
        .users
        .iter()
        .map(|user| {
            Ok(ConfiguredUser {
                username: user.name.clone(),
                role: user.role,
                password: user.read_password().map_err(anyhow::Error::msg)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let changes = auth
        .sync_users(&configured)
        .context("cannot set up the configured users")?;
    for (change, names) in [
        ("added", &changes.added),
        ("changed (their tokens are revoked)", &changes.changed),
        ("removed (with their tokens)", &changes.removed),
    ] {
        if !names.is_empty() {
            tracing::info!(users = ?names, "users {change}");
        }
    }
    let host = Host::start(config.clone()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // After binding: with port 0 the default public URL names the port chosen.
    let public_url = config.public_url(address);
    tracing::info!(%public_url, "absolute URLs in answers start with the public URL");
    let router = drhost_api::router(
        ApiConfig {
            context: config.context.clone(),
            public_url,
            https: !config.plain_http,
            ..ApiConfig::default()
        },
        host.clone() as Arc<dyn drhost_api::DrOps>,
        Arc::new(auth),
    );
    if config.plain_http {
        println!(
            "drhost: serving http://{address}/{}/admin (plain HTTP on loopback; state in {})",
            config.context,
            config.state_dir.display()
        );
        // Peers' addresses feed the login and passcode throttles.
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await?;
        host.flush_job_records();
        return Ok(());
    }
    let certificate = config.certificate_source();
    let tls = TlsListener::new(listener, certificate.server_config()?)?;
    println!(
        "drhost: serving https://{address}/{}/admin (certificate {}; state in {})",
        config.context,
        certificate.cert_path().display(),
        config.state_dir.display()
    );
    // `tap_io` gives the listener the peer-address plumbing axum provides
    // for wrapped listeners; the tap itself turns off Nagle's algorithm.
    let tls = tls.tap_io(|stream| {
        let _ = stream.get_ref().0.set_nodelay(true);
    });
    axum::serve(
        tls,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    host.flush_job_records();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
