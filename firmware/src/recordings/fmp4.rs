//! Reads what a fragmented MP4 holds: how long its pictures last, counted fragment by
//! fragment, and where its last complete fragment ends. A clip cut short by a crash or a power
//! cut is read this way when the camera starts again.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contents {
    /// Seconds of the video track in complete fragments.
    pub duration_s: f64,
    /// Where the last complete box ends: what follows is a fragment cut short.
    pub complete_len: u64,
    pub fragments: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Fmp4Error {
    #[error("not an MP4 file")]
    NotMp4,
    #[error("the header (moov) is missing or cut short")]
    NoHeader,
    #[error("no video track")]
    NoVideo,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.data.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let hi = u64::from(self.u32()?);
        Some(hi << 32 | u64::from(self.u32()?))
    }

    /// The next box: its type, its payload and the offset just past it; `None` when the
    /// data ends (or the box is cut short).
    fn next_box(&mut self) -> Option<([u8; 4], &'a [u8])> {
        let start = self.at;
        let size = u64::from(self.u32()?);
        let kind: [u8; 4] = self.take(4)?.try_into().ok()?;
        let (header, size) = match size {
            1 => (16, self.u64()?),
            0 => (8, (self.data.len() - start) as u64),
            n => (8, n),
        };
        let size = usize::try_from(size).ok()?;
        if size < header {
            return None;
        }
        self.at = start;
        let whole = self.take(size)?;
        Some((kind, &whole[header..]))
    }
}

/// Each child box of `payload`, in order.
fn children(payload: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut r = Reader::new(payload);
    std::iter::from_fn(|| r.next_box()).collect()
}

fn child<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(payload)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, p)| p)
}

/// (version, flags, the rest) of a full box.
fn full(payload: &[u8]) -> Option<(u8, u32, Reader<'_>)> {
    let mut r = Reader::new(payload);
    let vf = r.u32()?;
    Some(((vf >> 24) as u8, vf & 0x00ff_ffff, r))
}

struct Track {
    timescale: u32,
    default_duration: u32,
}

/// The video track's id and timescale, and each track's default sample duration (trex).
fn header(moov: &[u8]) -> Option<(u32, HashMap<u32, Track>)> {
    let mut video = None;
    let mut tracks = HashMap::new();
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let (version, _, mut tkhd) = full(child(trak, b"tkhd")?)?;
        tkhd.take(if version == 1 { 16 } else { 8 })?;
        let id = tkhd.u32()?;
        let mdia = child(trak, b"mdia")?;
        let (version, _, mut mdhd) = full(child(mdia, b"mdhd")?)?;
        mdhd.take(if version == 1 { 16 } else { 8 })?;
        let timescale = mdhd.u32()?;
        let (_, _, mut hdlr) = full(child(mdia, b"hdlr")?)?;
        hdlr.take(4)?;
        if hdlr.take(4)? == b"vide" && video.is_none() {
            video = Some(id);
        }
        tracks.insert(
            id,
            Track {
                timescale,
                default_duration: 0,
            },
        );
    }
    if let Some(mvex) = child(moov, b"mvex") {
        for (kind, trex) in children(mvex) {
            if &kind != b"trex" {
                continue;
            }
            let (_, _, mut r) = full(trex)?;
            let id = r.u32()?;
            r.take(4)?;
            let duration = r.u32()?;
            if let Some(t) = tracks.get_mut(&id) {
                t.default_duration = duration;
            }
        }
    }
    Some((video?, tracks))
}

/// The duration, in the track's units, of track `id`'s samples in one `moof`.
fn fragment_duration(moof: &[u8], id: u32, default: u32) -> Option<u64> {
    let mut total = 0u64;
    for (kind, traf) in children(moof) {
        if &kind != b"traf" {
            continue;
        }
        let (_, flags, mut tfhd) = full(child(traf, b"tfhd")?)?;
        if tfhd.u32()? != id {
            continue;
        }
        if flags & 0x1 != 0 {
            tfhd.take(8)?;
        }
        if flags & 0x2 != 0 {
            tfhd.take(4)?;
        }
        let default = if flags & 0x8 != 0 {
            tfhd.u32()?
        } else {
            default
        };
        for (kind, trun) in children(traf) {
            if &kind != b"trun" {
                continue;
            }
            let (_, flags, mut r) = full(trun)?;
            let count = r.u32()?;
            if flags & 0x1 != 0 {
                r.take(4)?;
            }
            if flags & 0x4 != 0 {
                r.take(4)?;
            }
            for _ in 0..count {
                let duration = if flags & 0x100 != 0 {
                    r.u32()?
                } else {
                    default
                };
                total += u64::from(duration);
                for bit in [0x200, 0x400, 0x800] {
                    if flags & bit != 0 {
                        r.take(4)?;
                    }
                }
            }
        }
    }
    Some(total)
}

/// Header boxes bigger than this are not believed (a damaged size field).
const MAX_HEADER_BOX: u64 = 16 << 20;

/// One top-level box's type, where its payload starts and its total size; `None` at the end
/// of the data or where a header is cut short.
fn box_at(f: &mut (impl Read + Seek), at: u64, len: u64) -> Option<([u8; 4], u64, u64)> {
    f.seek(SeekFrom::Start(at)).ok()?;
    let mut head = [0u8; 16];
    let avail = (len.checked_sub(at)?).min(16) as usize;
    if avail < 8 {
        return None;
    }
    f.read_exact(&mut head[..avail]).ok()?;
    let size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    let kind = [head[4], head[5], head[6], head[7]];
    let (header, size) = match size {
        1 if avail >= 16 => (16, u64::from_be_bytes(head[8..16].try_into().ok()?)),
        1 => return None,
        0 => (8, len - at),
        n => (8, n),
    };
    (size >= header).then_some((kind, at + header, size))
}

fn read_payload(f: &mut (impl Read + Seek), from: u64, to: u64) -> Option<Vec<u8>> {
    if to - from > MAX_HEADER_BOX {
        return None;
    }
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut payload = vec![0u8; (to - from) as usize];
    f.read_exact(&mut payload).ok()?;
    Some(payload)
}

/// What a fragmented MP4 of `len` bytes holds. Only the header and the fragments' indexes
/// are read, never the pictures.
pub fn inspect(f: &mut (impl Read + Seek), len: u64) -> Result<Contents, Fmp4Error> {
    let mut at = 0u64;
    let mut complete_len = 0u64;
    let mut video: Option<(u32, HashMap<u32, Track>)> = None;
    let mut units = 0u64;
    let mut fragments = 0;
    // A moof counts once its mdat is complete too.
    let mut pending: Option<u64> = None;
    let mut first = true;
    while let Some((kind, payload_at, size)) = box_at(f, at, len) {
        let Some(end) = at.checked_add(size).filter(|&e| e <= len) else {
            break;
        };
        if first && &kind != b"ftyp" {
            return Err(Fmp4Error::NotMp4);
        }
        first = false;
        match &kind {
            b"moov" => {
                let payload = read_payload(f, payload_at, end).ok_or(Fmp4Error::NoHeader)?;
                video = Some(header(&payload).ok_or(Fmp4Error::NoVideo)?);
            }
            b"moof" => {
                let (id, tracks) = video.as_ref().ok_or(Fmp4Error::NoHeader)?;
                let default = tracks.get(id).map_or(0, |t| t.default_duration);
                // A muxer may write one moof per track before their mdat: the video's
                // samples add up over them.
                let d = read_payload(f, payload_at, end)
                    .and_then(|p| fragment_duration(&p, *id, default));
                pending = match (pending, d) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
            }
            b"mdat" => {
                if let Some(d) = pending.take() {
                    units += d;
                    fragments += 1;
                }
            }
            _ => {}
        }
        // A moof is complete only with its mdat.
        if &kind != b"moof" {
            complete_len = end;
        }
        at = end;
    }
    if first {
        return Err(Fmp4Error::NotMp4);
    }
    let (id, tracks) = video.ok_or(Fmp4Error::NoHeader)?;
    let timescale = tracks.get(&id).map_or(1, |t| t.timescale.max(1));
    Ok(Contents {
        duration_s: units as f64 / f64::from(timescale),
        complete_len,
        fragments,
    })
}

/// [`inspect`] on a file.
pub fn inspect_file(path: &std::path::Path) -> std::io::Result<Result<Contents, Fmp4Error>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    Ok(inspect(&mut std::io::BufReader::new(&mut f), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn fullbox(kind: &[u8; 4], flags: u32, rest: &[u8]) -> Vec<u8> {
        let mut p = flags.to_be_bytes().to_vec();
        p.extend_from_slice(rest);
        boxed(kind, &p)
    }

    fn be(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn trak(id: u32, timescale: u32, handler: &[u8; 4]) -> Vec<u8> {
        let tkhd = fullbox(b"tkhd", 0, &be(&[0, 0, id, 0, 0]));
        let mdhd = fullbox(b"mdhd", 0, &be(&[0, 0, timescale, 0, 0]));
        let mut h = be(&[0]);
        h.extend_from_slice(handler);
        let hdlr = fullbox(b"hdlr", 0, &h);
        let mdia = boxed(b"mdia", &[mdhd, hdlr].concat());
        boxed(b"trak", &[tkhd, mdia].concat())
    }

    /// A moof of `count` samples of `duration` for track `id`, durations written per sample.
    fn moof(id: u32, count: u32, duration: u32) -> Vec<u8> {
        let tfhd = fullbox(b"tfhd", 0, &be(&[id]));
        let mut run = be(&[count]);
        for _ in 0..count {
            run.extend(be(&[duration, 100]));
        }
        let trun = fullbox(b"trun", 0x300, &run);
        boxed(b"moof", &boxed(b"traf", &[tfhd, trun].concat()))
    }

    fn file(fragments: u32) -> Vec<u8> {
        let moov = boxed(
            b"moov",
            &[trak(1, 90_000, b"vide"), trak(2, 16_000, b"soun")].concat(),
        );
        let mut f = [boxed(b"ftyp", b"isomiso6"), moov].concat();
        for _ in 0..fragments {
            // One second of 15 fps video, and sound that must not count.
            f.extend(moof(1, 15, 6000));
            f.extend(moof(2, 10, 1600));
            f.extend(boxed(b"mdat", &[0u8; 64]));
        }
        f
    }

    fn look(data: &[u8]) -> Result<Contents, Fmp4Error> {
        inspect(&mut std::io::Cursor::new(data), data.len() as u64)
    }

    #[test]
    fn counts_the_video_of_complete_fragments() {
        let f = file(3);
        let c = look(&f).expect("mp4");
        assert_eq!(c.fragments, 3);
        assert!((c.duration_s - 3.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.complete_len, f.len() as u64);
    }

    #[test]
    fn a_fragment_cut_short_is_not_counted_and_is_where_the_file_ends() {
        let whole = file(3);
        let two = file(2).len();
        let cut = &whole[..whole.len() - 10];
        let c = look(cut).expect("mp4");
        assert_eq!(c.fragments, 2);
        assert!((c.duration_s - 2.0).abs() < 1e-9);
        // The third fragment's moofs are whole but its mdat is not: the good part ends
        // with the second fragment.
        assert_eq!(c.complete_len, two as u64);
    }

    #[test]
    fn what_is_no_mp4_is_said() {
        assert_eq!(look(b""), Err(Fmp4Error::NotMp4));
        assert_eq!(look(&boxed(b"moov", &[])), Err(Fmp4Error::NotMp4));
        assert_eq!(look(&boxed(b"ftyp", b"isom")), Err(Fmp4Error::NoHeader));
        let no_video = [
            boxed(b"ftyp", b"isom"),
            boxed(b"moov", &trak(2, 16_000, b"soun")),
        ]
        .concat();
        assert_eq!(look(&no_video), Err(Fmp4Error::NoVideo));
        // Random bytes after a header never panic.
        let mut f = file(1);
        f.extend((0..500u32).map(|i| (i * 37 % 251) as u8));
        assert!(look(&f).is_ok());
    }
}
