//! The three namespaces and two veth pairs of the lab.

use std::fmt;
use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::process::{self, COMMAND_TIME_LIMIT, wait_for};
use super::{Error, NAME_PREFIX, Result};

/// Interface names inside the namespaces. They can be fixed because both
/// ends of every veth are created directly inside our own namespaces
/// (`ip link add ... netns A type veth peer ... netns B`): the kernel
/// checks names per namespace, so they never meet the host's or another
/// topology's interfaces.
pub const NVA_INTERFACE: &str = "nva0";
/// The virtual router's interface towards the NVA.
pub const VR_NVA_INTERFACE: &str = "vr-nva";
/// The virtual router's interface towards the Route Servers.
pub const VR_RS_INTERFACE: &str = "vr-rs";
/// The Route Servers' interface.
pub const RS_INTERFACE: &str = "rs0";

/// One of the three namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// The network virtual appliance (where nvabgp runs).
    Nva,
    /// The "Azure virtual router": forwards between the two subnets.
    VirtualRouter,
    /// The two Route Server instances.
    RouteServer,
}

impl Node {
    const ALL: [Node; 3] = [Node::Nva, Node::VirtualRouter, Node::RouteServer];

    fn suffix(self) -> &'static str {
        match self {
            Node::Nva => "nva",
            Node::VirtualRouter => "vr",
            Node::RouteServer => "rs",
        }
    }

    fn index(self) -> usize {
        match self {
            Node::Nva => 0,
            Node::VirtualRouter => 1,
            Node::RouteServer => 2,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// Addresses of the lab. The defaults are those of the diagram in the
/// module documentation: the NVA subnet 10.1.2.0/24, the RouteServerSubnet
/// 10.1.1.0/24, each subnet's router at `.1` (as in Azure) and the Route
/// Server instances at `.4` and `.5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyOptions {
    /// The NVA's address.
    pub nva_address: Ipv4Addr,
    /// The virtual router's address in the NVA subnet (the NVA's default gateway).
    pub nva_gateway: Ipv4Addr,
    /// Length of the NVA subnet.
    pub nva_prefix_len: u8,
    /// The two Route Server instances.
    pub rs_addresses: [Ipv4Addr; 2],
    /// The virtual router's address in the Route Server subnet.
    pub rs_gateway: Ipv4Addr,
    /// Length of the Route Server subnet.
    pub rs_prefix_len: u8,
    /// Give the NVA a default route via `nva_gateway`, as an Azure VM has.
    pub nva_default_route: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        Self {
            nva_address: Ipv4Addr::new(10, 1, 2, 4),
            nva_gateway: Ipv4Addr::new(10, 1, 2, 1),
            nva_prefix_len: 24,
            rs_addresses: [Ipv4Addr::new(10, 1, 1, 4), Ipv4Addr::new(10, 1, 1, 5)],
            rs_gateway: Ipv4Addr::new(10, 1, 1, 1),
            rs_prefix_len: 24,
            nva_default_route: true,
        }
    }
}

static TOPOLOGIES: AtomicU32 = AtomicU32::new(0);

/// The lab's namespaces and links; removed (with every process still
/// running inside) on drop, also when a test panics.
#[derive(Debug)]
pub struct Topology {
    options: TopologyOptions,
    /// Indexed by [`Node::index`]. Only namespaces that were created.
    namespaces: [Option<String>; 3],
}

impl Topology {
    /// Builds the topology with unique namespace names
    /// (`nbl<pid>-<n>-nva|vr|rs`), after removing leftovers of killed runs,
    /// and checks that the NVA reaches both Route Server addresses through
    /// the virtual router.
    pub fn up(options: TopologyOptions) -> Result<Self> {
        cleanup_leftovers();
        let n = TOPOLOGIES.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NAME_PREFIX}{}-{n}", std::process::id());
        let mut topology = Self {
            options,
            namespaces: [None, None, None],
        };
        // On any error below, dropping `topology` removes what was built.
        for node in Node::ALL {
            let name = format!("{base}-{}", node.suffix());
            ip(&["netns", "add", &name])?;
            topology.namespaces[node.index()] = Some(name);
        }
        topology.build()?;
        Ok(topology)
    }

    fn build(&self) -> Result<()> {
        let o = &self.options;
        let (nva, vr, rs) = (
            self.namespace(Node::Nva).to_string(),
            self.namespace(Node::VirtualRouter).to_string(),
            self.namespace(Node::RouteServer).to_string(),
        );
        for ns in [&nva, &vr, &rs] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // IPv4 only (Azure Route Server has no IPv6); also spares us DAD delays.
            self.sysctl_in(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
            self.sysctl_in(ns, "net.ipv6.conf.default.disable_ipv6", "1")?;
        }
        ip(&[
            "link",
            "add",
            NVA_INTERFACE,
            "netns",
            &nva,
            "type",
            "veth",
            "peer",
            "name",
            VR_NVA_INTERFACE,
            "netns",
            &vr,
        ])?;
        ip(&[
            "link",
            "add",
            RS_INTERFACE,
            "netns",
            &rs,
            "type",
            "veth",
            "peer",
            "name",
            VR_RS_INTERFACE,
            "netns",
            &vr,
        ])?;
        let with_len = |a: Ipv4Addr, len: u8| format!("{a}/{len}");
        ip(&[
            "-n",
            &nva,
            "addr",
            "add",
            &with_len(o.nva_address, o.nva_prefix_len),
            "dev",
            NVA_INTERFACE,
        ])?;
        ip(&[
            "-n",
            &vr,
            "addr",
            "add",
            &with_len(o.nva_gateway, o.nva_prefix_len),
            "dev",
            VR_NVA_INTERFACE,
        ])?;
        ip(&[
            "-n",
            &vr,
            "addr",
            "add",
            &with_len(o.rs_gateway, o.rs_prefix_len),
            "dev",
            VR_RS_INTERFACE,
        ])?;
        for a in o.rs_addresses {
            ip(&[
                "-n",
                &rs,
                "addr",
                "add",
                &with_len(a, o.rs_prefix_len),
                "dev",
                RS_INTERFACE,
            ])?;
        }
        for (ns, dev) in [
            (&nva, NVA_INTERFACE),
            (&vr, VR_NVA_INTERFACE),
            (&vr, VR_RS_INTERFACE),
            (&rs, RS_INTERFACE),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        self.sysctl_in(&vr, "net.ipv4.ip_forward", "1")?;
        ip(&[
            "-n",
            &rs,
            "route",
            "add",
            "default",
            "via",
            &o.rs_gateway.to_string(),
        ])?;
        if o.nva_default_route {
            ip(&[
                "-n",
                &nva,
                "route",
                "add",
                "default",
                "via",
                &o.nva_gateway.to_string(),
            ])?;
        } else {
            // Still reach the Route Servers (the static route Azure guidance asks for).
            let subnet = rs_subnet(o);
            ip(&[
                "-n",
                &nva,
                "route",
                "add",
                &subnet,
                "via",
                &o.nva_gateway.to_string(),
            ])?;
        }
        for target in o.rs_addresses {
            wait_for(
                &format!("{target} to answer ping from the NVA"),
                Duration::from_secs(10),
                || Ok(self.ping(Node::Nva, target)?.then_some(())),
            )?;
        }
        Ok(())
    }

    fn sysctl_in(&self, ns: &str, key: &str, value: &str) -> Result<()> {
        process::run(
            Command::new("ip").args([
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ]),
            COMMAND_TIME_LIMIT,
        )
        .map(drop)
    }

    /// The addresses this topology was built with.
    pub fn options(&self) -> &TopologyOptions {
        &self.options
    }

    /// The NVA's address.
    pub fn nva_address(&self) -> Ipv4Addr {
        self.options.nva_address
    }

    /// The two Route Server instances' addresses.
    pub fn rs_addresses(&self) -> [Ipv4Addr; 2] {
        self.options.rs_addresses
    }

    /// The name of `node`'s namespace.
    pub fn namespace(&self, node: Node) -> &str {
        self.namespaces[node.index()].as_deref().unwrap_or("")
    }

    /// The names of all three namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces.iter().flatten().cloned().collect()
    }

    /// A command that runs `program` inside `node`'s namespace
    /// (`ip netns exec NAME program`), for long-running processes.
    pub fn command(&self, node: Node, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.namespace(node), program]);
        command
    }

    /// Runs `args` (program first) inside `node`'s namespace and returns
    /// its output whatever its exit status; bounded by
    /// [`COMMAND_TIME_LIMIT`].
    pub fn exec(&self, node: Node, args: &[&str]) -> Result<Output> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| Error::Unsupported("exec: empty command".into()))?;
        let mut command = self.command(node, program);
        command.args(rest);
        let (status, stdout, stderr) = process::run_unchecked(&mut command, COMMAND_TIME_LIMIT)?;
        Ok(Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        })
    }

    /// [`Topology::exec`] in the NVA namespace.
    pub fn nva_exec(&self, args: &[&str]) -> Result<Output> {
        self.exec(Node::Nva, args)
    }

    /// [`Topology::exec`] in the Route Server namespace.
    pub fn rs_exec(&self, args: &[&str]) -> Result<Output> {
        self.exec(Node::RouteServer, args)
    }

    /// [`Topology::exec`] in the virtual router namespace.
    pub fn vr_exec(&self, args: &[&str]) -> Result<Output> {
        self.exec(Node::VirtualRouter, args)
    }

    /// One ICMP echo from `from` to `to` with a 1 s wait: `Ok(true)` if it
    /// was answered, `Ok(false)` if not, `Err` if ping could not run.
    pub fn ping(&self, from: Node, to: Ipv4Addr) -> Result<bool> {
        let to = to.to_string();
        let output = self.exec(from, &["ping", "-n", "-q", "-c", "1", "-W", "1", &to])?;
        match output.status.code() {
            Some(0) => Ok(true),
            // ping's "no reply" exit code.
            Some(1) => Ok(false),
            _ => Err(Error::Command {
                command: format!("ping {to} in {from}"),
                status: output.status.to_string(),
                output: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            }),
        }
    }

    /// Removes the topology now and reports what could not be removed
    /// (dropping does the same silently).
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let mut first_error = None;
        for slot in self.namespaces.iter_mut() {
            if let Some(name) = slot.take() {
                if let Err(e) = remove_namespace(&name) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

fn rs_subnet(o: &TopologyOptions) -> String {
    let len = o.rs_prefix_len.min(32);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    format!("{}/{len}", Ipv4Addr::from(u32::from(o.rs_gateway) & mask))
}

fn ip(args: &[&str]) -> Result<()> {
    process::run(Command::new("ip").args(args), COMMAND_TIME_LIMIT).map(drop)
}

/// Kills every process inside namespace `name` (they can only be ours: we
/// created it), then deletes it; its veth ends go with it.
fn remove_namespace(name: &str) -> Result<()> {
    for _ in 0..3 {
        let pids = process::run(
            Command::new("ip").args(["netns", "pids", name]),
            COMMAND_TIME_LIMIT,
        )
        .unwrap_or_default();
        let pids: Vec<u32> = pids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = process::signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ip(&["netns", "del", name])
}

/// The namespaces that exist now (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = process::run(
        Command::new("ip").args(["netns", "list"]),
        COMMAND_TIME_LIMIT,
    )?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The creator PID encoded in one of our names (`<prefix><pid>-...`).
fn creator_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Removes namespaces and runtime directories left by lab runs that were
/// killed before they could clean up: those named with our prefix whose
/// creator PID no longer exists. Processes still running in such a
/// namespace are killed first. Objects of live runs are never touched.
/// Best effort; returns the names of the namespaces removed.
pub fn cleanup_leftovers() -> Vec<String> {
    let mut removed = Vec::new();
    for name in list_namespaces().unwrap_or_default() {
        if let Some(pid) = creator_pid(&name, NAME_PREFIX) {
            if !process::pid_exists(pid) && remove_namespace(&name).is_ok() {
                removed.push(name);
            }
        }
    }
    let prefix = process::runtime_dir_prefix();
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = creator_pid(&name, &prefix) {
                if !process::pid_exists(pid) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creator_pid_is_read_from_our_names_only() {
        assert_eq!(creator_pid("nbl1234-0-nva", "nbl"), Some(1234));
        assert_eq!(creator_pid("nbl1234-10-rs", "nbl"), Some(1234));
        assert_eq!(creator_pid("nblx-0-rs", "nbl"), None);
        assert_eq!(creator_pid("lab-nva", "nbl"), None);
        assert_eq!(creator_pid("nbl1234", "nbl"), None);
        assert_eq!(
            creator_pid("nvabgp-lab-nbl77-3-rs-10-1-1-4", "nvabgp-lab-nbl"),
            Some(77)
        );
    }

    #[test]
    fn rs_subnet_clears_host_bits() {
        let o = TopologyOptions::default();
        assert_eq!(rs_subnet(&o), "10.1.1.0/24");
        let o = TopologyOptions {
            rs_prefix_len: 27,
            rs_gateway: Ipv4Addr::new(192, 168, 7, 33),
            ..TopologyOptions::default()
        };
        assert_eq!(rs_subnet(&o), "192.168.7.32/27");
    }

    #[test]
    fn default_names_fit_interface_limits() {
        for name in [
            NVA_INTERFACE,
            VR_NVA_INTERFACE,
            VR_RS_INTERFACE,
            RS_INTERFACE,
        ] {
            assert!(name.len() <= 15, "{name}");
        }
    }
}
