//! The two roles of the lab's daemons: the pair of Route Server stand-ins
//! and the NVA-side speaker.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_proto::Prefix;

use super::{
    Announcement, BgpSpeaker, Implementation, NVA_AS, Neighbor, ROUTE_SERVER_AS, ReceivedRoute,
    SpeakerConfig, Timers, spawn,
};
use crate::lab::{Node, Result, Topology};

/// How to run the Route Server stand-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteServerOptions {
    /// Their AS (65515, as Azure's).
    pub asn: u32,
    /// The NVA's AS.
    pub nva_as: u32,
    /// Session timers.
    pub timers: Timers,
    /// TCP MD5 key for the sessions.
    pub password: Option<String>,
    /// Only accept connections (Azure does not document which side opens).
    pub passive: bool,
    /// Routes both instances announce; a `None` next hop becomes each
    /// instance's own address, as Azure Route Server advertises VNet
    /// prefixes.
    pub announcements: Vec<Announcement>,
    /// Graceful restart as a restarting speaker, with this restart time
    /// ([`SpeakerConfig::graceful_restart`]; FRR only).
    pub graceful_restart: Option<u16>,
}

impl Default for RouteServerOptions {
    /// Azure-like: AS 65515, Azure timers, and the VNet prefix 10.1.0.0/16,
    /// which covers the Route Servers themselves (the recursive-next-hop
    /// trap an NVA must survive).
    fn default() -> Self {
        Self {
            asn: ROUTE_SERVER_AS,
            nva_as: NVA_AS,
            timers: Timers::AZURE,
            password: None,
            passive: false,
            announcements: vec![Announcement::new(Prefix::V4(0x0A01_0000, 16))],
            graceful_restart: None,
        }
    }
}

/// The two Route Server stand-ins, one per Route Server address.
#[derive(Debug)]
pub struct RouteServers {
    instances: Vec<Box<dyn BgpSpeaker>>,
    nva_address: Ipv4Addr,
}

impl RouteServers {
    /// Starts both instances in `topology`'s Route Server namespace, each
    /// with one session to the NVA.
    pub fn start(
        implementation: Implementation,
        topology: &Topology,
        options: &RouteServerOptions,
    ) -> Result<Self> {
        Self::start_with(topology, options, |config| spawn(implementation, config))
    }

    /// Like [`RouteServers::start`], with `start` creating and starting each
    /// instance from its configuration (for speakers [`spawn`] cannot
    /// create, such as [`super::Nvabgp`]).
    pub fn start_with(
        topology: &Topology,
        options: &RouteServerOptions,
        mut start: impl FnMut(SpeakerConfig) -> Result<Box<dyn BgpSpeaker>>,
    ) -> Result<Self> {
        let mut instances = Vec::new();
        for address in topology.rs_addresses() {
            let config = SpeakerConfig {
                name: format!("rs-{address}"),
                namespace: topology.namespace(Node::RouteServer).to_string(),
                router_id: address,
                local_address: address,
                local_as: options.asn,
                gateway: topology.options().rs_gateway,
                neighbors: vec![Neighbor {
                    address: topology.nva_address(),
                    remote_as: options.nva_as,
                    password: options.password.clone(),
                }],
                timers: options.timers,
                passive: options.passive,
                announcements: options.announcements.clone(),
                graceful_restart: options.graceful_restart,
            };
            instances.push(start(config)?);
        }
        Ok(Self {
            instances,
            nva_address: topology.nva_address(),
        })
    }

    /// The instances, in the order of the topology's Route Server addresses.
    pub fn instances(&self) -> &[Box<dyn BgpSpeaker>] {
        &self.instances
    }

    /// Instance `index` (0 or 1).
    pub fn instance(&self, index: usize) -> Option<&dyn BgpSpeaker> {
        self.instances.get(index).map(|i| &**i)
    }

    /// Instance `index` (0 or 1), for per-instance actions (kill, withdraw).
    pub fn instance_mut(&mut self, index: usize) -> Option<&mut Box<dyn BgpSpeaker>> {
        self.instances.get_mut(index)
    }

    /// The NVA address both instances peer with.
    pub fn nva_address(&self) -> Ipv4Addr {
        self.nva_address
    }

    /// Waits until both instances' sessions with the NVA are Established.
    pub fn wait_established(&self, timeout: Duration) -> Result<()> {
        for instance in &self.instances {
            instance.wait_established(self.nva_address, timeout)?;
        }
        Ok(())
    }

    /// Announces a route on both instances.
    pub fn announce(&mut self, announcement: &Announcement) -> Result<()> {
        for instance in &mut self.instances {
            instance.announce(announcement.clone())?;
        }
        Ok(())
    }

    /// Withdraws a route on both instances.
    pub fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        for instance in &mut self.instances {
            instance.withdraw(prefix)?;
        }
        Ok(())
    }

    /// Waits until both instances received `prefix` from the NVA; returns
    /// the two routes.
    pub fn wait_route(&self, prefix: Prefix, timeout: Duration) -> Result<Vec<ReceivedRoute>> {
        self.instances
            .iter()
            .map(|i| i.wait_route(self.nva_address, prefix, timeout))
            .collect()
    }

    /// Waits until neither instance has `prefix` from the NVA.
    pub fn wait_route_gone(&self, prefix: Prefix, timeout: Duration) -> Result<()> {
        for instance in &self.instances {
            instance.wait_route_gone(self.nva_address, prefix, timeout)?;
        }
        Ok(())
    }

    /// Both instances' diagnostics.
    pub fn diagnostics(&self) -> String {
        self.instances
            .iter()
            .map(|i| i.diagnostics())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How to run a daemon as the NVA-side speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvaSpeakerOptions {
    /// The NVA's AS.
    pub asn: u32,
    /// The Route Servers' AS.
    pub rs_as: u32,
    /// Session timers.
    pub timers: Timers,
    /// TCP MD5 key for the sessions.
    pub password: Option<String>,
    /// Only accept connections.
    pub passive: bool,
    /// Static routes to announce (`None` next hop: the NVA's address).
    pub announcements: Vec<Announcement>,
}

impl Default for NvaSpeakerOptions {
    fn default() -> Self {
        Self {
            asn: NVA_AS,
            rs_as: ROUTE_SERVER_AS,
            timers: Timers::AZURE,
            password: None,
            passive: false,
            announcements: Vec::new(),
        }
    }
}

/// The configuration of the NVA-side speaker in `topology`: the NVA's
/// address and namespace, a session to each Route Server address.
pub fn nva_speaker_config(topology: &Topology, options: &NvaSpeakerOptions) -> SpeakerConfig {
    SpeakerConfig {
        name: "nva".to_string(),
        namespace: topology.namespace(Node::Nva).to_string(),
        router_id: topology.nva_address(),
        local_address: topology.nva_address(),
        local_as: options.asn,
        gateway: topology.options().nva_gateway,
        neighbors: topology
            .rs_addresses()
            .into_iter()
            .map(|address| Neighbor {
                address,
                remote_as: options.rs_as,
                password: options.password.clone(),
            })
            .collect(),
        timers: options.timers,
        passive: options.passive,
        announcements: options.announcements.clone(),
        graceful_restart: None,
    }
}

/// Starts `implementation` in the NVA namespace, peering with both Route
/// Server addresses.
pub fn start_nva_speaker(
    implementation: Implementation,
    topology: &Topology,
    options: &NvaSpeakerOptions,
) -> Result<Box<dyn BgpSpeaker>> {
    spawn(implementation, nva_speaker_config(topology, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_server_options_are_azure_like() {
        let o = RouteServerOptions::default();
        assert_eq!(o.asn, 65515);
        assert_eq!(
            o.timers,
            Timers {
                hold: 180,
                keepalive: 60,
                connect_retry: 5
            }
        );
        assert_eq!(o.announcements[0].prefix.to_string(), "10.1.0.0/16");
    }
}
