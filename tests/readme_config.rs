//! The configuration README.md documents is one the agent accepts, so the
//! README cannot drift from the code.

#[test]
fn the_readme_configuration_is_valid() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("README has a Configuration section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the section has a toml block");
    let config = nvabgp::config::Config::parse(toml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.asn, 65001);
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.routes.len(), 1);
    assert_eq!(config.health_routes.len(), 2);
    assert!(config.kernel.learned.install && config.kernel.pin_default);
}
