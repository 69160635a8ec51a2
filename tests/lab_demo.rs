//! `nvabgp lab --fast` end to end, as `scripts/demo.sh` runs it (BIRD as
//! the Route Server stand-ins): exit 0, every act's key lines in the
//! narration, and no namespace left behind.
//!
//! Needs root, iproute2, tcpdump and BIRD 2; skips loudly without them
//! (fails on CI).

use std::process::Command;
use std::time::Duration;

use nvabgp::lab::daemons::Implementation;
use nvabgp::lab::process::run_unchecked;
use nvabgp::lab::{SkipReason, require_implementation, require_root};

/// The demo bounds each of its own waits; this bounds the whole run (a
/// healthy one takes about ten seconds).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Whether some line of `text` contains every one of `parts`.
fn has_line(text: &str, parts: &[&str]) -> bool {
    text.lines().any(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn the_lab_demo_shows_the_whole_job_and_cleans_up() {
    let test = "the_lab_demo_shows_the_whole_job_and_cleans_up";
    let ready = require_root().and_then(|()| require_implementation(Implementation::Bird));
    let ready = ready.and_then(|()| {
        Command::new("tcpdump")
            .arg("--version")
            .output()
            .map(drop)
            .map_err(|_| SkipReason("tcpdump is not installed".into()))
    });
    if let Err(reason) = ready {
        reason.skip_or_fail(test);
        return;
    }

    let mut command = Command::new(env!("CARGO_BIN_EXE_nvabgp"));
    command.args(["lab", "--fast"]);
    let (status, out, err) = run_unchecked(&mut command, RUN_LIMIT).unwrap();
    let context = format!("exit: {status}\n-- stdout\n{out}\n-- stderr\n{err}");
    assert!(status.success(), "{context}");

    // Act 3: sessions, ECMP over both instances, what the receivers hold.
    for peer in ["ars-0", "ars-1"] {
        assert!(
            has_line(&out, &[peer, "65515", "Established"]),
            "{peer} not Established\n{context}"
        );
    }
    for vnet in ["10.1.0.0/16", "10.2.0.0/16"] {
        assert!(
            has_line(&out, &["*", vnet, "10.1.1.4", "ars-0"]),
            "{vnet} best path via ars-0 missing\n{context}"
        );
    }
    assert!(
        out.lines()
            .filter(|l| l.trim_start().starts_with('=') && l.contains("10.1.1.5  ars-1"))
            .count()
            >= 2,
        "no ECMP paths via ars-1\n{context}"
    );
    for rs in ["10.1.1.4", "10.1.1.5"] {
        assert!(
            out.contains(&format!("Route Server {rs} (BIRD) has from the NVA:")),
            "{context}"
        );
        // The VIP on its best candidate, then moved in one UPDATE, the
        // anycast route withdrawn, and the VIP back after preemption.
        for update in [
            "UPDATE  nlri 100.64.0.1/32  next_hop 10.1.2.12  as_path 65001",
            "UPDATE  withdrawn 9.9.9.9/32",
            "UPDATE  nlri 100.64.0.1/32  next_hop 10.1.2.11  as_path 65001",
        ] {
            assert!(
                out.contains(&format!("to {rs}: {update}")),
                "{rs}: no `{update}` on the wire\n{context}"
            );
        }
    }
    assert!(
        has_line(
            &out,
            &["0.0.0.0/0", "next hop 10.1.2.4", "65001:10 no-advertise"]
        ),
        "{context}"
    );
    assert!(
        has_line(&out, &["100.64.0.1/32", "next hop 10.1.2.11"]),
        "{context}"
    );
    assert!(has_line(&out, &["no 9.9.9.9/32"]), "{context}");
    // The kernel: pinned routes via the virtual router, the spoke learned
    // through it (the VNet covers the Route Server subnet: the trap policy
    // decides, and the demo reports either way).
    assert!(!out.contains("NOT SHOWN"), "{context}");
    assert!(
        has_line(&out, &["10.1.1.0/24 via 10.1.2.1", "metric 20"]),
        "{context}"
    );
    assert!(
        has_line(&out, &["10.2.0.0/16", "via 10.1.2.1", "metric 20"]),
        "{context}"
    );
    assert!(
        has_line(&out, &["kernel", "pinned", "10.2.0.0/16 installed"]),
        "{context}"
    );

    // Act 5: the summary, a graceful stop, nothing left behind.
    assert!(
        has_line(
            &out,
            &[
                "failover",
                "10.1.2.11 -> 10.1.2.12",
                "one UPDATE per Route Server"
            ]
        ),
        "{context}"
    );
    assert!(
        out.contains("nvabgp stopped on SIGTERM (exit status: 0)"),
        "{context}"
    );
    assert!(out.contains("nvabgp lab: done in"), "{context}");
    let namespaces: Vec<&str> = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("cleaned up: namespaces "))
        .and_then(|l| l.strip_suffix(" removed"))
        .unwrap_or_else(|| panic!("no cleanup line\n{context}"))
        .split(", ")
        .collect();
    assert_eq!(namespaces.len(), 3, "{context}");
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for ns in namespaces {
        assert!(
            !listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "{ns} left behind"
        );
    }
}
