//! Streaming benchmark: first-frame latency, CPU and memory by number of viewers, bitrate.
//!
//! `cargo run --release -p babymonitor-e2e --bin bench` (set BABYMONITOR_BIN to the release
//! daemon, `target/release/babymonitor`). Prints a Markdown table for docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use anyhow::Context;
use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{Daemon, Setup};
use gst::prelude::*;

const RUNNING: &str = "babymonitor_capture_running{source=\"video\"}";

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12) // utime + stime
}

/// Percent of one core the daemon used over `window`.
fn cpu_percent(daemon: &Daemon, window: Duration) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(daemon.pid());
    let start = Instant::now();
    std::thread::sleep(window);
    let used = (cpu_ticks(daemon.pid()) - before) as f64 / ticks_per_s;
    100.0 * used / start.elapsed().as_secs_f64()
}

/// From starting an RTSP client (OPTIONS, DESCRIBE, SETUP, PLAY) to its first decoded picture.
fn first_decoded_frame(url: &str) -> anyhow::Result<Duration> {
    let pipeline = gst::parse::launch(&format!(
        "rtspsrc location=\"{url}\" protocols=tcp latency=0 ! rtph264depay ! h264parse ! avdec_h264 ! appsink name=out sync=false max-buffers=1"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("out")
        .context("sink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow::anyhow!("sink"))?;
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10));
    let took = start.elapsed();
    pipeline.set_state(gst::State::Null)?;
    sample.context("no decoded frame within 10 s")?;
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gst::init()?;
    let daemon = Setup::new().set("media", "idle_grace_s = 1").start();
    let url = daemon.url("/stream");
    let rounds = 7;

    // Idle: nothing captured.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_cpu = tokio::task::block_in_place(|| cpu_percent(&daemon, Duration::from_secs(10)));
    let idle_rss = daemon.rss_kib();

    // Cold start: the camera is stopped when the client asks.
    let mut cold = Vec::new();
    for _ in 0..rounds {
        daemon
            .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 0.0)
            .await;
        let u = url.clone();
        cold.push(
            tokio::task::spawn_blocking(move || first_decoded_frame(&u))
                .await??
                .as_secs_f64()
                * 1000.0,
        );
    }

    // Warm: another viewer keeps the camera running.
    let keeper_url = url.clone();
    let keeper = tokio::spawn(async move {
        watch(&keeper_url, Via::Tcp, Duration::from_secs(120), usize::MAX).await
    });
    daemon
        .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut warm = Vec::new();
    for _ in 0..rounds {
        let u = url.clone();
        warm.push(
            tokio::task::spawn_blocking(move || first_decoded_frame(&u))
                .await??
                .as_secs_f64()
                * 1000.0,
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // One viewer (the keeper), then ten.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let one_cpu = tokio::task::block_in_place(|| cpu_percent(&daemon, Duration::from_secs(15)));
    let one_rss = daemon.rss_kib();
    let mut more = Vec::new();
    for _ in 0..9 {
        let u = url.clone();
        more.push(tokio::spawn(async move {
            watch(&u, Via::Tcp, Duration::from_secs(25), usize::MAX).await
        }));
    }
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(10), |v| {
            v >= 10.0
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ten_cpu = tokio::task::block_in_place(|| cpu_percent(&daemon, Duration::from_secs(15)));
    let ten_rss = daemon.rss_kib();
    for m in more {
        let _ = m.await;
    }
    keeper.abort();

    // Bitrate on the wire, per stream.
    let main = watch(
        &daemon.url("/stream"),
        Via::Tcp,
        Duration::from_secs(10),
        usize::MAX,
    )
    .await?;
    let sub = watch(
        &daemon.url("/sub"),
        Via::Tcp,
        Duration::from_secs(10),
        usize::MAX,
    )
    .await?;
    let kbps = |r: &babymonitor_e2e::rtsp::Received| {
        let span = r.video.last().map(|v| v.0).unwrap_or(1.0).max(0.1);
        r.video_bytes as f64 * 8.0 / span / 1000.0
    };

    drop(daemon);
    // The defaults of a real camera: sound and motion alerts on, nobody watching.
    let watchful = Setup::new()
        .set("sound", "enabled = true")
        .set("motion", "enabled = true")
        .start();
    watchful
        .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let detect_cpu =
        tokio::task::block_in_place(|| cpu_percent(&watchful, Duration::from_secs(10)));

    println!("| measure | value |");
    println!("|---|---|");
    println!("| idle CPU (nobody watching, 10 s) | {idle_cpu:.2} % of a core |");
    println!("| idle RSS | {:.1} MB |", idle_rss as f64 / 1024.0);
    println!(
        "| CPU with sound and motion alerts on, nobody watching (10 s) | {detect_cpu:.1} % of a core |"
    );
    println!(
        "| DESCRIBE to first decoded frame, camera idle (median of {rounds}) | {:.0} ms (min {:.0}, max {:.0}) |",
        median(cold.clone()),
        cold.iter().cloned().fold(f64::MAX, f64::min),
        cold.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "| DESCRIBE to first decoded frame, camera running (median of {rounds}) | {:.0} ms (min {:.0}, max {:.0}) |",
        median(warm.clone()),
        warm.iter().cloned().fold(f64::MAX, f64::min),
        warm.iter().cloned().fold(0.0, f64::max)
    );
    println!("| CPU with 1 TCP viewer (15 s) | {one_cpu:.1} % of a core |");
    println!(
        "| CPU with 10 TCP viewers (15 s) | {ten_cpu:.1} % of a core ({:.2}x one viewer) |",
        ten_cpu / one_cpu
    );
    println!(
        "| RSS with 1 / 10 viewers | {:.1} / {:.1} MB |",
        one_rss as f64 / 1024.0,
        ten_rss as f64 / 1024.0
    );
    println!(
        "| video bitrate on the wire, main 1280x720@15 | {:.0} kbit/s |",
        kbps(&main)
    );
    println!(
        "| video bitrate on the wire, sub 640x360@15 | {:.0} kbit/s |",
        kbps(&sub)
    );
    Ok(())
}
