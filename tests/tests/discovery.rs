//! WS-Discovery between two network namespaces joined by a veth pair: an NVR finds exactly this
//! camera, with its scopes and an address it can reach; Hello on start, Bye on stop. Multicast
//! never leaves the namespaces the test makes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use babymonitor_e2e::{ADMIN, Daemon, Setup};

const CAM_IP: &str = "10.77.0.1";
const NVR_IP: &str = "10.77.0.2";
/// A second NVR, on the same link as the first.
const NVR2_IP: &str = "10.77.0.3";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces and a veth pair, removed on drop (also when the test fails).
struct Net {
    cam: String,
    nvr: String,
    /// The NVR's end of the veth pair.
    nvr_dev: String,
    children: Vec<Child>,
}

impl Net {
    fn create(tag: &str) -> Option<Self> {
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if !is_root || !sh(&["ip", "netns", "list"]) {
            // Said loudly: the test then passes without having checked anything.
            eprintln!("SKIPPED: network namespaces need root and iproute2");
            return None;
        }
        let id = format!("{}{tag}", std::process::id() % 100_000);
        let (va, vb) = (format!("bmv{id}a"), format!("bmv{id}b"));
        let net = Self {
            cam: format!("bmcam{id}"),
            nvr: format!("bmnvr{id}"),
            nvr_dev: vb.clone(),
            children: Vec::new(),
        };
        let steps: Vec<Vec<String>> = vec![
            vec!["ip", "netns", "add", &net.cam],
            vec!["ip", "netns", "add", &net.nvr],
            vec![
                "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
            ],
            vec!["ip", "link", "set", &va, "netns", &net.cam],
            vec!["ip", "link", "set", &vb, "netns", &net.nvr],
            vec![
                "ip",
                "-n",
                &net.cam,
                "addr",
                "add",
                &format!("{CAM_IP}/24"),
                "dev",
                &va,
            ],
            vec![
                "ip",
                "-n",
                &net.nvr,
                "addr",
                "add",
                &format!("{NVR_IP}/24"),
                "dev",
                &vb,
            ],
            vec!["ip", "-n", &net.cam, "link", "set", &va, "up"],
            vec!["ip", "-n", &net.nvr, "link", "set", &vb, "up"],
            vec!["ip", "-n", &net.cam, "link", "set", "lo", "up"],
            vec!["ip", "-n", &net.nvr, "link", "set", "lo", "up"],
            vec![
                "ip",
                "-n",
                &net.cam,
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                &va,
            ],
            vec![
                "ip",
                "-n",
                &net.nvr,
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                &vb,
            ],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            assert!(sh(&args), "failed: {}", args.join(" "));
        }
        Some(net)
    }

    fn exec(&self, ns: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]);
        c
    }

    fn python(&self, args: &[&str]) -> Command {
        let mut c = self.exec(&self.nvr);
        c.arg(root().join(".venv/bin/python"))
            .arg(root().join("tests/python/discover.py"))
            .args(args);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace also removes the veth end inside it.
        sh(&["ip", "netns", "del", &self.cam]);
        sh(&["ip", "netns", "del", &self.nvr]);
    }
}

/// The camera as on a home network: its own address, the standard ports, discovery and the
/// detectors on as shipped.
fn camera_setup() -> Setup {
    Setup::new()
        .small()
        .set("device", "name = \"Baby's room\"")
        .set("onvif", "discovery = true")
        .set("sound", "enabled = true")
        .set("motion", "enabled = true")
        .users(&[(ADMIN.0, ADMIN.1, "admin")])
        .ports(8554, 8080)
        .arg("--listen")
        .arg(CAM_IP)
        .ready_when_logged("WS-Discovery listening")
}

impl Net {
    /// Starts the daemon in the camera's namespace. Declare it after the `Net`: it must stop
    /// before the namespaces go.
    fn camera(&self, setup: Setup) -> Daemon {
        setup.within(&["ip", "netns", "exec", &self.cam]).start()
    }
}

/// A number from /proc/<pid>/status (`VmRSS` in kB, `Threads`).
fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn wait_for_log(log: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            Instant::now() < deadline,
            "no \"{text}\" in the log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_nvr_finds_exactly_this_camera_and_hears_hello_and_bye() {
    let Some(mut net) = Net::create("d") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let listener_out = dir.path().join("listen.json");
    let listener_err = dir.path().join("listen.err");
    let listener = net
        .python(&["listen", "25"])
        .stdout(std::fs::File::create(&listener_out).expect("out"))
        .stderr(std::fs::File::create(&listener_err).expect("err"))
        .spawn()
        .expect("listener");
    net.children.push(listener);
    // The Hello goes out once, at start: the listener must have joined the group before.
    wait_for_log(&listener_err, "listening");

    let daemon = net.camera(camera_setup());

    let out = net.python(&["search", "4"]).output().expect("search");
    let found: String = String::from_utf8_lossy(&out.stdout).into_owned();
    let services: Vec<Service> =
        serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}"));
    assert_eq!(
        services.len(),
        1,
        "expected exactly this camera: {found}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cam = &services[0];
    assert!(cam.epr.starts_with("urn:uuid:"), "{found}");
    assert!(
        cam.types
            .iter()
            .any(|t| t == "{http://www.onvif.org/ver10/network/wsdl}NetworkVideoTransmitter"),
        "{found}"
    );
    // (WSDiscovery shows scopes partly percent-decoded; the raw reply below is checked exactly.)
    for scope in [
        "onvif://www.onvif.org/Profile/Streaming",
        "onvif://www.onvif.org/name/Baby",
        "onvif://www.onvif.org/MacAddress/",
    ] {
        assert!(
            cam.scopes.iter().any(|s| s.starts_with(scope)),
            "missing {scope}: {found}"
        );
    }
    // Both schemes: an NVR that speaks TLS takes the https one.
    assert_eq!(
        cam.xaddrs,
        vec![
            format!("http://{CAM_IP}:8080/onvif/device_service"),
            format!(
                "https://{CAM_IP}:{}/onvif/device_service",
                daemon.https_port
            ),
        ],
        "{found}"
    );

    // A probe for a type we are not gets no answer; one for ours does, naming the probe.
    let out = net
        .python(&["probe", CAM_IP, "urn:example:printers", "Printer", "1.5"])
        .output()
        .expect("probe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"replies\": []"),
        "answered a probe for printers: {text}"
    );
    let out = net
        .python(&[
            "probe",
            CAM_IP,
            "http://www.onvif.org/ver10/device/wsdl",
            "Device",
            "1.5",
        ])
        .output()
        .expect("probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .split("\"message_id\": \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default();
    assert!(
        text.contains(&format!("RelatesTo>{id}<")),
        "no ProbeMatch for our own type: {text}"
    );
    assert!(
        text.contains("onvif://www.onvif.org/name/Baby%27s%20room"),
        "the room name is not a clean URI: {text}"
    );

    daemon.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let heard = std::fs::read_to_string(&listener_out).unwrap_or_default();
        if heard.contains("\"action\": \"Hello\"") && heard.contains("\"action\": \"Bye\"") {
            assert!(
                heard.contains(&format!("http://{CAM_IP}:8080/onvif/device_service")),
                "{heard}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Hello and Bye not both heard: {heard}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_camera_switched_to_non_discoverable_stays_quiet() {
    let Some(net) = Net::create("q") else {
        return;
    };
    let _daemon = net.camera(camera_setup().set("onvif", "discovery = false"));
    let out = net.python(&["search", "3"]).output().expect("search");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "a non-discoverable camera answered"
    );
}

#[test]
fn a_zoneminder_style_prober_that_rebinds_its_socket_hears_every_answer() {
    let Some(net) = Net::create("z") else {
        return;
    };
    let daemon = net.camera(camera_setup());
    // ZoneMinder sends each Probe from port 3702, closes that socket and binds 3702 again to
    // listen; an answer sent before the second bind is lost.
    let out = net.python(&["rebind", "20", "5"]).output().expect("rebind");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        result["answered"],
        20,
        "probes answered before the prober could listen: {text}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
}

#[test]
fn a_probe_flood_from_one_address_does_not_silence_the_camera() {
    let Some(net) = Net::create("f") else {
        return;
    };
    assert!(
        sh(&[
            "ip",
            "-n",
            &net.nvr,
            "addr",
            "add",
            &format!("{NVR2_IP}/24"),
            "dev",
            &net.nvr_dev
        ]),
        "second NVR address"
    );
    let daemon = net.camera(camera_setup());
    let pid = daemon.pid();
    // The daemon starts its capture threads after discovery; measure once they are all there.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut threads = status_field(pid, "Threads");
    let mut same = 0;
    while same < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = status_field(pid, "Threads");
        same = if now == threads { same + 1 } else { 0 };
        threads = now;
    }
    let rss = status_field(pid, "VmRSS");

    let out = net
        .python(&["flood", "5000", NVR_IP, NVR2_IP])
        .output()
        .expect("flood");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(result["asked"].as_u64().is_some_and(|n| n >= 3), "{text}");
    assert_eq!(
        result["answered"],
        result["asked"],
        "the other NVR went unanswered during the flood: {text}\n{}",
        daemon.log()
    );
    assert!(
        result["flood_answers"].as_u64().is_some_and(|n| n < 250),
        "the flood was answered in kind: {text}"
    );

    // Afterwards the flooding address itself is answered again, and the daemon kept nothing.
    let out = net
        .python(&[
            "probe",
            CAM_IP,
            "http://www.onvif.org/ver10/network/wsdl",
            "NetworkVideoTransmitter",
            "2",
        ])
        .output()
        .expect("probe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ProbeMatches"),
        "no answer after the flood: {text}"
    );
    let (rss_after, threads_after) = (status_field(pid, "VmRSS"), status_field(pid, "Threads"));
    assert!(
        threads_after <= threads + 2,
        "threads {threads} -> {threads_after}"
    );
    assert!(
        rss_after <= rss + 16 * 1024,
        "resident memory {rss} kB -> {rss_after} kB"
    );
}

/// One service as discover.py prints it.
#[derive(Debug, serde::Deserialize)]
struct Service {
    epr: String,
    types: Vec<String>,
    scopes: Vec<String>,
    xaddrs: Vec<String>,
}
