//! What leaves this host for the cluster, in the order it was queued: frames for other
//! hosts, and names given up. One task publishes them over the host's one NATS connection,
//! so frames from this host reach each other host in the order they were sent (NATS keeps
//! a connection's order to each subscriber).
//!
//! Frames queued one after another for the same host go out together, as one NATS message
//! (a *batch*, marked by the [`BATCH`] header: each frame as a 4-byte big-endian length and
//! its bytes), up to the server's `max_payload`: under load, the cost of a NATS message is
//! paid once per batch, not once per frame. A lone frame goes out as it is.

use std::sync::Arc;

use crate::registry::Registry;

/// One item for the outbound task.
pub(crate) enum Outbound {
    /// A wire frame for the host whose inbox is `subject`.
    Frame { subject: String, frame: bytes::Bytes },
    /// A name this host gave up.
    Release(String),
    /// Told once everything queued before it is done.
    Drained(tokio::sync::oneshot::Sender<()>),
}

/// Frames queued and not yet published, at most: past it, a send is refused with
/// `mailbox-full` (the connection cannot keep up) rather than queued without bound.
pub(crate) const QUEUE: usize = 16 * 1024;

/// The header that names the host a frame comes from (the receiver checks that the host
/// may send as the frame's sender).
pub(crate) const ORIGIN: &str = "Airssys-Host";

/// The header that marks a message holding a batch of frames.
pub(crate) const BATCH: &str = "Airssys-Batch";

/// Frames in one batch, at most (a receiver takes no more from one message).
pub(crate) const MAX_BATCH: usize = 1024;

/// Bytes of a message's headers, at most: the header block, `Airssys-Batch` and
/// `Airssys-Host` without the host's id.
const HEADER_ROOM: usize = 128;

/// The largest frame (or batch) a host sends in one message: the server's limit, less its
/// headers (NATS counts them against the limit too).
pub(crate) fn frame_room(max_payload: usize, host: &str) -> usize {
    max_payload.saturating_sub(HEADER_ROOM + host.len())
}

/// Publish what is queued, in order, until every sender is gone; every message says it
/// comes from `host`, and holds at most `max_payload` bytes.
pub(crate) async fn run(
    client: async_nats::Client,
    registry: Arc<Registry>,
    host: String,
    max_payload: usize,
    mut queue: tokio::sync::mpsc::Receiver<Outbound>,
) {
    let mut origin = async_nats::HeaderMap::new();
    origin.insert(ORIGIN, host.as_str());
    let mut batched = origin.clone();
    batched.insert(BATCH, "1");
    let room = frame_room(max_payload, &host);
    let mut next = None;
    loop {
        let item = match next.take() {
            Some(item) => item,
            None => match queue.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        match item {
            Outbound::Frame { subject, frame } => {
                // The frames queued right behind it for the same host join it.
                let mut frames = vec![frame];
                let mut size = 4 + frames[0].len();
                while frames.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(Outbound::Frame { subject: s, frame })
                            if s == subject && size + 4 + frame.len() <= room =>
                        {
                            size += 4 + frame.len();
                            frames.push(frame);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let (headers, payload) = if frames.len() == 1 {
                    (origin.clone(), frames.swap_remove(0))
                } else {
                    (batched.clone(), batch(&frames, size))
                };
                if let Err(e) = client.publish_with_headers(subject.clone(), headers, payload).await
                {
                    tracing::warn!(error = %e, "frames for another host were not published");
                    // Too large for the server after all (its limit changed on a reconnect,
                    // say): each frame on its own.
                    if frames.len() > 1 {
                        for frame in frames {
                            let sent =
                                client.publish_with_headers(subject.clone(), origin.clone(), frame);
                            if let Err(e) = sent.await {
                                tracing::warn!(error = %e, "a frame for another host was not published");
                            }
                        }
                    }
                }
            }
            Outbound::Release(name) => registry.release(&name).await,
            Outbound::Drained(done) => {
                let _ = client.flush().await;
                let _ = done.send(());
            }
        }
    }
    let _ = client.flush().await;
}

/// Frames as one batch: each a 4-byte big-endian length, then its bytes.
fn batch(frames: &[bytes::Bytes], size: usize) -> bytes::Bytes {
    let mut out = Vec::with_capacity(size);
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        out.extend_from_slice(frame);
    }
    out.into()
}

/// The frames of a batch, in order, and what is left after the last whole frame (empty
/// unless the batch is malformed: a length that runs past the end).
/// At most [`MAX_BATCH`] frames are taken; the rest counts as left over.
pub(crate) fn unbatch(mut payload: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut frames = Vec::new();
    while payload.len() >= 4 && frames.len() < MAX_BATCH {
        let (head, body) = payload.split_at(4);
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(frame) = body.get(..len) else { break };
        frames.push(frame);
        payload = &body[len..];
    }
    (frames, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_a_broken_one_leaves_its_rest() {
        let frames: Vec<bytes::Bytes> =
            [&b"a"[..], b"", b"hello"].iter().map(|f| bytes::Bytes::copy_from_slice(f)).collect();
        let batch = batch(&frames, 64);
        let (got, rest) = unbatch(&batch);
        assert_eq!(got, [&b"a"[..], b"", b"hello"]);
        assert!(rest.is_empty());
        // Cut short, or a length past the end: the whole frames before it, then the rest.
        let (got, rest) = unbatch(&batch[..batch.len() - 2]);
        assert_eq!(got, [&b"a"[..], b""]);
        assert_eq!(rest, &batch[9..batch.len() - 2]);
        let (got, rest) = unbatch(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(got.is_empty());
        assert_eq!(rest.len(), 5);
        let (got, rest) = unbatch(&[0, 0]);
        assert!(got.is_empty() && rest == [0, 0]);
    }
}
