//! Streaming benchmark, side by side with a plain gst-rtsp-server program: first-frame latency,
//! CPU and memory by number of viewers, bitrate.
//!
//! `bench/streaming.sh [preset]` builds both and runs this (set BABYMONITOR_BIN to the release daemon and
//! PLAIN_RTSP_BIN to the release `plain_rtsp`). `BENCH_X264_PRESET` picks the x264 preset both
//! use (default superfast, the daemon's default). Prints Markdown tables for docs/BENCHMARKS.md.
//! `BENCH_OURS_ONLY=1` measures only the daemon, to compare two builds of it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{Daemon, Setup};
use gst::prelude::*;

const RUNNING: &str = "babymonitor_capture_running{source=\"video\"}";
const ROUNDS: usize = 9;
/// Rounds of one viewer then ten for the CPU figures, and how long each is measured.
const CPU_ROUNDS: usize = 3;
const CPU_WINDOW: Duration = Duration::from_secs(15);

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

/// Percent of one core the process used over `window`.
fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    let start = Instant::now();
    std::thread::sleep(window);
    let used = (cpu_ticks(pid) - before) as f64 / ticks_per_s;
    100.0 * used / start.elapsed().as_secs_f64()
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// From starting an RTSP client (OPTIONS, DESCRIBE, SETUP, PLAY) to its first decoded picture.
/// Pictures decoded without their key frame (grey smears) do not count: a viewer that joins a
/// shared stream in the middle of a group of pictures sees its first real picture at the next
/// key frame.
fn first_decoded_frame(url: &str) -> anyhow::Result<Duration> {
    let pipeline = gst::parse::launch(&format!(
        "rtspsrc location=\"{url}\" protocols=tcp latency=0 ! rtph264depay ! h264parse ! avdec_h264 output-corrupt=false ! appsink name=out sync=false max-buffers=1"
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

/// A server under test.
enum Server {
    Ours(Daemon),
    Plain(Child, String),
}

impl Server {
    fn pid(&self) -> u32 {
        match self {
            Server::Ours(d) => d.pid(),
            Server::Plain(c, _) => c.id(),
        }
    }

    fn url(&self) -> String {
        match self {
            Server::Ours(d) => d.url("/stream"),
            Server::Plain(_, url) => url.clone(),
        }
    }

    /// Waits until nothing is captured: the next viewer starts the camera.
    async fn wait_idle(&self) {
        match self {
            Server::Ours(d) => {
                d.wait_metric(RUNNING, Duration::from_secs(10), |v| v == 0.0)
                    .await;
            }
            // A shared media goes with its last client (TEARDOWN); give it time to go.
            Server::Plain(..) => tokio::time::sleep(Duration::from_millis(1500)).await,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Plain(child, _) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Default)]
struct Figures {
    idle_cpu: f64,
    idle_rss: f64,
    cold: Vec<f64>,
    warm: Vec<f64>,
    one_cpu: f64,
    ten_cpu: f64,
    /// Median over the rounds of ten viewers' CPU over one's in the same round.
    ten_ratio: f64,
    one_rss: f64,
    ten_rss: f64,
    kbps: f64,
}

async fn first_frame(url: &str) -> anyhow::Result<f64> {
    let u = url.to_string();
    Ok(tokio::task::spawn_blocking(move || first_decoded_frame(&u))
        .await??
        .as_secs_f64()
        * 1000.0)
}

async fn measure(server: &Server) -> anyhow::Result<Figures> {
    let url = server.url();
    let pid = server.pid();
    let mut f = Figures::default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.idle_cpu = tokio::task::block_in_place(|| cpu_percent(pid, Duration::from_secs(5)));
    f.idle_rss = rss_mb(pid);

    for _ in 0..ROUNDS {
        server.wait_idle().await;
        f.cold.push(first_frame(&url).await?);
    }

    // Another viewer keeps the camera running.
    let keeper_url = url.clone();
    let keeper = tokio::spawn(async move {
        watch(&keeper_url, Via::Tcp, Duration::from_secs(120), usize::MAX).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..ROUNDS {
        f.warm.push(first_frame(&url).await?);
        // Off the key frame the last joiner asked for: the next joins mid-picture-group.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // CPU moves between windows on this VM (the encoder's work changes with each key frame,
    // the host's load): the ratio is taken within each round, one viewer then ten, and the
    // median of the rounds is reported.
    let mut one = Vec::new();
    let mut ten = Vec::new();
    let mut ratios = Vec::new();
    let mut received = Vec::new();
    for round in 0..CPU_ROUNDS {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let one_cpu = tokio::task::block_in_place(|| cpu_percent(pid, CPU_WINDOW));
        if round == 0 {
            f.one_rss = rss_mb(pid);
        }
        let mut more = Vec::new();
        for _ in 0..9 {
            let u = url.clone();
            more.push(tokio::spawn(async move {
                watch(
                    &u,
                    Via::Tcp,
                    CPU_WINDOW + Duration::from_secs(5),
                    usize::MAX,
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        let ten_cpu = tokio::task::block_in_place(|| cpu_percent(pid, CPU_WINDOW));
        if round == 0 {
            f.ten_rss = rss_mb(pid);
        }
        for m in more {
            received.push(m.await??);
        }
        eprintln!(
            "round {round}: 1 viewer {one_cpu:.1} %, 10 viewers {ten_cpu:.1} % ({:.2}x)",
            ten_cpu / one_cpu
        );
        one.push(one_cpu);
        ten.push(ten_cpu);
        ratios.push(ten_cpu / one_cpu);
    }
    f.one_cpu = median(one);
    f.ten_cpu = median(ten);
    f.ten_ratio = median(ratios);
    keeper.abort();
    let r = &received[0];
    let span = r.video.last().map(|v| v.0).unwrap_or(1.0).max(0.1);
    f.kbps = r.video_bytes as f64 * 8.0 / span / 1000.0;
    let due = (CPU_WINDOW.as_secs_f64() * 15.0 * 0.9) as usize;
    anyhow::ensure!(
        received.iter().all(|r| r.video.len() > due),
        "a viewer of ten got fewer than 15 fps: {:?}",
        received.iter().map(|r| r.video.len()).collect::<Vec<_>>()
    );
    Ok(f)
}

fn spread(v: &[f64]) -> String {
    format!(
        "{:.0} ms ({:.0}-{:.0})",
        median(v.to_vec()),
        v.iter().cloned().fold(f64::MAX, f64::min),
        v.iter().cloned().fold(0.0, f64::max)
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gst::init()?;
    let preset = std::env::var("BENCH_X264_PRESET").unwrap_or_else(|_| "superfast".into());
    let plain_bin = std::env::var("PLAIN_RTSP_BIN").unwrap_or_else(|_| {
        babymonitor_e2e::binary()
            .with_file_name("plain_rtsp")
            .to_string_lossy()
            .into_owned()
    });

    let ours = Server::Ours(
        Setup::new()
            .set("media", "idle_grace_s = 1")
            .set("video", &format!("x264_preset = \"{preset}\""))
            // The same picture as plain's: the simulated camera's overlays are not streaming.
            .set("video", "test_overlay = false")
            .start(),
    );
    let ours_f = measure(&ours).await?;
    drop(ours);
    if std::env::var_os("BENCH_OURS_ONLY").is_some() {
        // For comparing builds of ours: no plain server, no tables.
        let o = &ours_f;
        println!(
            "ours: first frame idle {} running {}; CPU 1 viewer {:.1} %, 10 viewers {:.1} % ({:.2}x); RSS {:.1} / {:.1} MB",
            spread(&o.cold),
            spread(&o.warm),
            o.one_cpu,
            o.ten_cpu,
            o.ten_ratio,
            o.one_rss,
            o.ten_rss
        );
        return Ok(());
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&plain_bin)
        .args([&port.to_string(), "1280", "720", "15", "2000", &preset])
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {plain_bin}"))?;
    let plain = Server::Plain(child, format!("rtsp://127.0.0.1:{port}/stream"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let plain_f = measure(&plain).await?;
    drop(plain);

    // The defaults of a real camera: sound and motion alerts on, nobody watching.
    let watchful = Setup::new()
        .set("sound", "enabled = true")
        .set("motion", "enabled = true")
        .set("video", &format!("x264_preset = \"{preset}\""))
        .start();
    watchful
        .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let detect_cpu =
        tokio::task::block_in_place(|| cpu_percent(watchful.pid(), Duration::from_secs(10)));

    let (o, p) = (&ours_f, &plain_f);
    println!("x264 preset: {preset}\n");
    println!("| figure | plain gst-rtsp-server | babymonitor | target | |");
    println!("|---|---|---|---|---|");
    println!(
        "| first decoded frame, camera idle (median of {ROUNDS}, min-max) | {} | {} | no slower than plain | {} |",
        spread(&p.cold),
        spread(&o.cold),
        verdict(median(o.cold.clone()) <= median(p.cold.clone()))
    );
    println!(
        "| first decoded frame, camera running (median of {ROUNDS}, min-max) | {} | {} | < 80 ms | {} |",
        spread(&p.warm),
        spread(&o.warm),
        verdict(median(o.warm.clone()) < 80.0)
    );
    println!(
        "| CPU, 1 viewer (median of {CPU_ROUNDS} rounds of {} s) | {:.1} % | {:.1} % ({:.2}x plain) | within 1.3x plain | {} |",
        CPU_WINDOW.as_secs(),
        p.one_cpu,
        o.one_cpu,
        o.one_cpu / p.one_cpu,
        verdict(o.one_cpu <= 1.3 * p.one_cpu)
    );
    println!(
        "| CPU, 10 viewers (median; ratio: median of the rounds' ratios) | {:.1} % ({:.2}x one) | {:.1} % ({:.2}x one) | at most 1.15x one | {} |",
        p.ten_cpu,
        p.ten_ratio,
        o.ten_cpu,
        o.ten_ratio,
        verdict(o.ten_ratio <= 1.15)
    );
    println!(
        "| RSS, 1 / 10 viewers | {:.1} / {:.1} MB | {:.1} / {:.1} MB | 10 viewers at most plain + 10 % | {} |",
        p.one_rss,
        p.ten_rss,
        o.one_rss,
        o.ten_rss,
        verdict(o.ten_rss <= 1.1 * p.ten_rss)
    );
    println!(
        "| idle CPU / RSS | {:.2} % / {:.1} MB | {:.2} % / {:.1} MB | | |",
        p.idle_cpu, p.idle_rss, o.idle_cpu, o.idle_rss
    );
    println!(
        "| video bit rate on the wire (configured 2000 kbit/s) | {:.0} kbit/s | {:.0} kbit/s | | |",
        p.kbps, o.kbps
    );
    println!(
        "| babymonitor with sound and motion alerts on, nobody watching | | {detect_cpu:.1} % CPU | | |"
    );
    Ok(())
}
