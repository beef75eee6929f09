//! A node that answers with an endless body (announced or streamed) cannot fill the client's
//! memory: the client stops at `MAX_RESPONSE_BYTES` and treats the node as failed.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trustmeter_api_client::{ClientError, MAX_RESPONSE_BYTES, NodeClient};

/// A node on a socket that answers every request with `head` and then `chunks` chunks of 1 MiB.
async fn hostile_node(head: &'static str, chunks: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..chunks {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if s.write_all(frame.as_bytes()).await.is_err()
                        || s.write_all(&chunk).await.is_err()
                        || s.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = s.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    url
}

fn refused_as_too_large(r: Result<trustmeter_api_client::ChainStatus, ClientError>) {
    match r {
        Err(ClientError::Unreachable { last, .. }) => assert!(last.contains("larger than"), "{last}"),
        other => panic!("expected the node to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn an_endless_streamed_body_is_cut_at_the_limit() {
    let chunks = MAX_RESPONSE_BYTES / (1 << 20) + 8;
    let url =
        hostile_node("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n", chunks)
            .await;
    let client = NodeClient::new(vec![url], Duration::from_secs(30)).unwrap();
    refused_as_too_large(client.status().await);
}

#[tokio::test]
async fn an_announced_huge_body_is_refused_before_reading_it() {
    let url =
        hostile_node("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n", 0)
            .await;
    let client = NodeClient::new(vec![url], Duration::from_secs(30)).unwrap();
    refused_as_too_large(client.status().await);
}
