//! The baseline: an idiomatic tokio line-echo server, one task per
//! connection, `read_until` + `write_all`, multi-thread runtime. Listens
//! with a backlog of 1024, as the other servers of a comparison do
//! (`TcpListener::bind` would use 128).
//!
//! `tokio-echo <port> [--persistent]`: one message per connection (the
//! course's protocol) unless `--persistent`.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(12345);
    let persistent = args.next().as_deref() == Some("--persistent");
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([0, 0, 0, 0], port).into())?;
    let listener = socket.listen(1024)?;
    loop {
        let (socket, _) = listener.accept().await?;
        tokio::spawn(async move {
            let (reader, mut writer) = socket.into_split();
            let mut reader = BufReader::new(reader);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if writer.write_all(&line).await.is_err() || !persistent {
                    break;
                }
            }
        });
    }
}
