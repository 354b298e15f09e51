//! How the generator's device and subscriber connections reach the hub:
//! its address, the certificate to trust (a CA file, or any certificate on
//! loopback) and the client name.

use crate::Args;
use anyhow::{Context, Result};
use tongguan::client::ClientOptions;
use tongguan::tls::Trust;

/// The options of a connection with `token`.
pub(crate) fn options(args: &Args, token: String) -> Result<ClientOptions> {
    let trust = match &args.ca {
        Some(p) => Trust::pem_file(p).with_context(|| format!("reading {}", p.display()))?,
        None => Trust::AnyOnLoopback,
    };
    Ok(ClientOptions {
        hub: args.hub,
        server_name: "localhost".into(),
        trust,
        token,
        client_name: format!("loadgen/{}", env!("CARGO_PKG_VERSION")),
        identity: None,
    })
}
