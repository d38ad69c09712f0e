//! A JPEG of the picture now, from the running capture: what `/snapshot.jpg`, the MQTT camera
//! entity and push notifications all send.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;

use crate::media::{Hub, JpegEncoder, Source, clock_now};

/// A picture this recent counts as "now" (one frame at 15 fps is 67 ms).
const FRESH: Duration = Duration::from_millis(500);
/// The encoder gets this long for one picture.
const ENCODE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("no picture from the camera")]
    NoPicture,
    #[error("{0}")]
    Encoder(&'static str),
    #[error("the snapshot task failed")]
    Task,
}

/// A JPEG `width` pixels wide (the height keeps the main stream's shape). The capture is
/// asked for video while it runs, so a camera nobody watches starts for it, waiting at most
/// `start_timeout` for a picture.
pub async fn take(
    hub: &Arc<Hub>,
    jpeg: JpegEncoder,
    main: (u32, u32),
    width: u32,
    start_timeout: Duration,
) -> Result<Bytes, SnapshotError> {
    let (width, height) = JpegEncoder::size_for(main, width);
    let demand = hub.demand_of(&[Source::Video]);
    let hub2 = Arc::clone(hub);
    let encoded = tokio::task::spawn_blocking(move || {
        let not_before = clock_now().saturating_sub(FRESH.as_nanos() as u64);
        let frame = hub2
            .frame_since(not_before, start_timeout)
            .ok_or(SnapshotError::NoPicture)?;
        let bytes = jpeg
            .encode(&frame, width, height, ENCODE_TIMEOUT)
            .map_err(SnapshotError::Encoder)?;
        Ok(Bytes::from(bytes))
    })
    .await;
    drop(demand);
    let bytes = encoded.map_err(|_| SnapshotError::Task)??;
    hub.stats.snapshots.fetch_add(1, Relaxed);
    Ok(bytes)
}
