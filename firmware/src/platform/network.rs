//! The host's network as the operating system has it set up (read only): interfaces, DNS,
//! the default gateways, NTP servers, the hostname. Nothing here changes the network.

use std::net::Ipv4Addr;

/// A network interface with its IPv4 addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    /// Address and prefix length.
    pub ipv4: Vec<(String, u8)>,
    pub mtu: u32,
}

/// The non-loopback interfaces with an IPv4 address, `primary` first (Home Assistant keys
/// the camera on the first interface's MAC).
pub fn interfaces(primary: Option<&str>) -> Vec<Interface> {
    let mut nics: Vec<Interface> = Vec::new();
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        if iface.is_loopback() {
            continue;
        }
        let if_addrs::IfAddr::V4(v4) = &iface.addr else {
            continue;
        };
        let entry = (v4.ip.to_string(), prefix_len(v4.netmask));
        if let Some(nic) = nics.iter_mut().find(|n| n.name == iface.name) {
            nic.ipv4.push(entry);
            continue;
        }
        let sys = |f: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{}/{f}", iface.name))
                .unwrap_or_default()
        };
        nics.push(Interface {
            mac: sys("address").trim().to_string(),
            mtu: sys("mtu").trim().parse().unwrap_or(1500),
            name: iface.name,
            ipv4: vec![entry],
        });
    }
    if let Some(primary) = primary {
        nics.sort_by_key(|n| n.name != primary);
    }
    nics
}

fn prefix_len(mask: Ipv4Addr) -> u8 {
    u32::from(mask).count_ones() as u8
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "babymonitor".into())
}

/// The IPv4 name servers of `/etc/resolv.conf`.
pub fn dns_servers() -> Vec<String> {
    name_servers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

fn name_servers(conf: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| s.parse::<Ipv4Addr>().is_ok())
        .collect()
}

pub fn gateways() -> Vec<String> {
    default_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// /proc/net/route: destination 0 is the default route; addresses are little-endian hex.
fn default_routes(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[1] == "00000000")
                .then(|| u32::from_str_radix(f[2], 16).ok())
                .flatten()
        })
        .filter(|g| *g != 0)
        .map(|g| Ipv4Addr::from(g.swap_bytes()).to_string())
        .collect()
}

pub fn ntp_servers() -> Vec<String> {
    // chrony on the image; nothing to report when the host keeps time some other way.
    let conf = std::fs::read_to_string("/etc/chrony/chrony.conf")
        .or_else(|_| std::fs::read_to_string("/etc/chrony.conf"))
        .unwrap_or_default();
    conf.lines()
        .filter_map(|l| {
            l.strip_prefix("pool ")
                .or_else(|| l.strip_prefix("server "))
        })
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_and_default_routes_are_read_from_the_system_files() {
        let resolv = "# made by dhcpcd\nnameserver 192.168.1.1\nnameserver fe80::1\nsearch lan\n";
        assert_eq!(name_servers(resolv), ["192.168.1.1"]);
        let route = "Iface\tDestination\tGateway \tFlags\n\
                     wlan0\t00000000\t0101A8C0\t0003\n\
                     wlan0\t0001A8C0\t00000000\t0001\n";
        assert_eq!(default_routes(route), ["192.168.1.1"]);
    }
}
