//! Decode-throughput harness.
//!
//!   cargo run --release --bin bench -- corpus/updates.bin [options]
//!
//! For every candidate compiled in (see src/cands/mod.rs): one untimed
//! validation/warm-up pass whose tally must equal corpus/<stem>.expect, then
//! `--rounds` timed runs (candidates interleaved round-robin, order rotated
//! each round, so load from other jobs hits everyone alike). A "run" repeats
//! full passes over the corpus until at least `--min-ms` elapsed and reports
//! the per-pass time. Then one untimed pass with allocation counting on.
//!
//! Options:
//!   --only a,b      run only these candidates (names as printed; `none` = load corpus only)
//!   --skip a,b      leave these out
//!   --rounds N      timed runs per candidate (default 5)
//!   --min-ms N      minimum wall time of one run (default 300)
//!   --no-alloc      skip the allocation-counting pass
//!   --rss           also measure peak RSS per candidate (child process under /usr/bin/time -v)
//!   --perf          also count user-space instructions and cycles per pass with `perf stat` (child
//!                   processes; difference to a child that only loads the corpus); without
//!                   hardware counters, instructions only under `valgrind --tool=callgrind`
//!   --json PATH     write machine-readable results
//!   --md PATH       write the markdown table
//!   --quiet         print only the table
//!   --list          list compiled-in candidates and exit

use codec_bench::alloc::{self, AllocStats};
use codec_bench::{Candidate, CheckLevel, Expect, PassResult, cands, index_messages};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

struct Opts {
    corpus: PathBuf,
    only: Option<Vec<String>>,
    skip: Vec<String>,
    rounds: usize,
    min_ms: u64,
    alloc: bool,
    rss: bool,
    perf: bool,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    quiet: bool,
    list: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        corpus: PathBuf::new(),
        only: None,
        skip: vec![],
        rounds: 5,
        min_ms: 300,
        alloc: true,
        rss: false,
        perf: false,
        json: None,
        md: None,
        quiet: false,
        list: false,
    };
    let mut args = std::env::args().skip(1);
    let list = |s: String| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| die(&format!("{a} needs a value")));
        match a.as_str() {
            "--only" => o.only = Some(list(val())),
            "--skip" => o.skip = list(val()),
            "--rounds" => o.rounds = val().parse().unwrap_or_else(|_| die("bad --rounds")),
            "--min-ms" => o.min_ms = val().parse().unwrap_or_else(|_| die("bad --min-ms")),
            "--no-alloc" => o.alloc = false,
            "--rss" => o.rss = true,
            "--perf" => o.perf = true,
            "--json" => o.json = Some(val().into()),
            "--md" => o.md = Some(val().into()),
            "--quiet" => o.quiet = true,
            "--list" => o.list = true,
            "-h" | "--help" => {
                let src = include_str!("bench.rs");
                for l in src.lines().take_while(|l| l.starts_with("//!")) {
                    println!("{}", l.trim_start_matches("//!").strip_prefix(' ').unwrap_or(""));
                }
                std::process::exit(0);
            }
            s if s.starts_with("--") => die(&format!("unknown option {s}")),
            s => o.corpus = s.into(),
        }
    }
    if o.corpus.as_os_str().is_empty() && !o.list {
        die("usage: bench <corpus.bin> [options]  (--help)");
    }
    o.rounds = o.rounds.max(1);
    o
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

struct Row {
    name: &'static str,
    package: String,
    status: String,
    ok: bool,
    /// per-pass seconds of each timed run
    runs: Vec<f64>,
    reps: u32,
    alloc: Option<AllocStats>,
    rss_kb: Option<u64>,
    /// (instructions, cycles) per pass, from perf stat (cycles: none
    /// under the callgrind fallback)
    perf: Option<(f64, Option<f64>)>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn minmax(v: &[f64]) -> (f64, f64) {
    let mn = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let mx = v.iter().cloned().fold(0.0, f64::max);
    (mn, mx)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "?".into())
}

fn check(c: &dyn Candidate, r: &PassResult, e: &Option<Expect>, msgs: usize) -> (bool, String) {
    if r.errors > 0 {
        let (i, msg) = r.first_error.clone().unwrap_or_default();
        let mut msg = msg.replace(['\n', '|'], " ");
        msg.truncate(160);
        return (
            false,
            format!("FAILED on {}/{} messages; first (msg #{i}): {msg}", r.errors, msgs),
        );
    }
    let Some(e) = e else { return (true, "ok (no .expect file to check against)".into()) };
    if c.check_level() == CheckLevel::None {
        (true, "n/a (decodes nothing)".into())
    } else if c.check_level() == CheckLevel::Counts {
        if r.tally.counts_only() == e.tally.counts_only() {
            (true, "ok (counts)".into())
        } else {
            (false, format!("MISMATCH: {}", r.tally.diff(&e.tally).join("; ")))
        }
    } else if r.tally == e.tally {
        (true, "ok".into())
    } else {
        (false, format!("MISMATCH: {}", r.tally.diff(&e.tally).join("; ")))
    }
}

fn main() {
    let o = parse_opts();
    let say = |s: String| {
        if !o.quiet {
            eprintln!("{s}");
        }
    };

    if o.list {
        let empty: &'static [u8] = &[];
        for c in cands::all(empty) {
            println!("{:<18} {}", c.name(), c.package());
        }
        return;
    }

    let data = std::fs::read(&o.corpus).unwrap_or_else(|e| die(&format!("{}: {e}", o.corpus.display())));
    let corpus: &'static [u8] = Box::leak(data.into_boxed_slice());
    let idx = index_messages(corpus).unwrap_or_else(|e| die(&e));
    let expect_path = o.corpus.with_extension("expect");
    let expect = std::fs::read_to_string(&expect_path).ok().map(|s| Expect::parse(&s).unwrap_or_else(|e| die(&e)));
    if let Some(e) = &expect {
        if e.bytes != corpus.len() as u64 || e.messages != idx.len() as u64 {
            die(&format!("{} does not describe {}", expect_path.display(), o.corpus.display()));
        }
    } else {
        say(format!("warning: {} missing; results will not be validated", expect_path.display()));
    }
    let prefixes = expect.as_ref().map(|e| e.tally.prefixes());

    let mut cs: Vec<Box<dyn Candidate>> = cands::all(corpus)
        .into_iter()
        .filter(|c| o.only.as_ref().is_none_or(|only| only.iter().any(|n| n == c.name())))
        .filter(|c| !o.skip.iter().any(|n| n == c.name()))
        .collect();
    if let Some(only) = &o.only {
        for n in only {
            if n != "none" && !cs.iter().any(|c| c.name() == n) {
                die(&format!("no candidate named {n:?} in this build (see --list)"));
            }
        }
    }

    let load_start = loadavg();
    say(format!(
        "corpus {}: {} bytes, {} messages, {} prefixes; cpu: {}; loadavg {}",
        o.corpus.display(),
        corpus.len(),
        idx.len(),
        prefixes.map_or("?".into(), |p| p.to_string()),
        cpu_model(),
        load_start
    ));

    // 1. validation + warm-up
    let target = Duration::from_millis(o.min_ms);
    let mut rows: Vec<Row> = Vec::new();
    for c in cs.iter_mut() {
        let t0 = Instant::now();
        let r = c.pass(corpus, &idx);
        let dt = t0.elapsed();
        let (ok, status) = check(c.as_ref(), &r, &expect, idx.len());
        // a second warm-up pass for the fast ones, then size the repetitions
        let reps = if dt < target {
            let t0 = Instant::now();
            std::hint::black_box(c.pass(corpus, &idx));
            let dt = t0.elapsed().max(Duration::from_micros(1));
            (target.as_secs_f64() / dt.as_secs_f64()).ceil().max(1.0) as u32
        } else {
            1
        };
        say(format!("{:<18} warm-up {:>9.3} ms  reps/run {:>4}  {}", c.name(), dt.as_secs_f64() * 1e3, reps, status));
        let timed = r.errors < idx.len() as u64; // nothing to time if every message failed
        rows.push(Row {
            name: c.name(),
            package: c.package(),
            status,
            ok,
            runs: vec![],
            reps: if timed { reps } else { 0 },
            alloc: None,
            rss_kb: None,
            perf: None,
        });
    }

    // 2. timed runs, round-robin with rotating order
    let n = cs.len();
    for round in 0..o.rounds {
        for k in 0..n {
            let i = (k + round) % n;
            if rows[i].reps == 0 {
                continue;
            }
            let c = &mut cs[i];
            let t0 = Instant::now();
            for _ in 0..rows[i].reps {
                std::hint::black_box(c.pass(corpus, &idx));
            }
            let per_pass = t0.elapsed().as_secs_f64() / rows[i].reps as f64;
            rows[i].runs.push(per_pass);
        }
        say(format!("round {}/{} done (loadavg {})", round + 1, o.rounds, loadavg()));
    }

    // 3. allocation counting (untimed)
    if o.alloc {
        for (c, row) in cs.iter_mut().zip(rows.iter_mut()) {
            if row.reps == 0 {
                continue; // failed everywhere: would only count error strings
            }
            let (_, s) = alloc::count(|| c.pass(corpus, &idx));
            row.alloc = Some(s);
        }
    }

    // 4. instructions / cycles per pass (perf stat), each candidate in its own process
    let timed_names: Vec<&'static str> = rows.iter().filter(|r| r.reps > 0).map(|r| r.name).collect();
    if o.perf {
        const PERF_ROUNDS: usize = 4; // child does 1 warm-up pass + PERF_ROUNDS passes
        // Hardware counters first; where the VM exposes none (perf prints
        // "<not supported>"), count instructions under valgrind's callgrind,
        // which is exact and load-independent but gives no cycles.
        let perf_counts = |name: &str| -> Option<(f64, Option<f64>)> {
            let err = child(&["perf", "stat", "-x", ",", "-e", "instructions:u,cycles:u", "--"], &o.corpus, name, PERF_ROUNDS)?;
            let get = |ev: &str| {
                err.lines()
                    .find(|l| l.split(',').nth(2).is_some_and(|e| e.starts_with(ev)))
                    .and_then(|l| l.split(',').next())
                    .and_then(|v| v.trim().parse::<f64>().ok())
            };
            Some((get("instructions")?, Some(get("cycles")?)))
        };
        let callgrind_counts = |name: &str| -> Option<(f64, Option<f64>)> {
            let err = child(
                &["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--"],
                &o.corpus,
                name,
                PERF_ROUNDS,
            )?;
            // "==123== Collected : 456789"
            let n = err
                .lines()
                .find_map(|l| l.split_once("Collected :").map(|(_, v)| v.trim().to_string()))?
                .parse::<f64>()
                .ok()?;
            Some((n, None))
        };
        let (counter, base) = match perf_counts("none") {
            Some(b) => (&perf_counts as &dyn Fn(&str) -> Option<(f64, Option<f64>)>, Some(b)),
            None => {
                say("perf stat unavailable (no hardware counters?); counting instructions with valgrind --tool=callgrind".into());
                (&callgrind_counts as &dyn Fn(&str) -> Option<(f64, Option<f64>)>, callgrind_counts("none"))
            }
        };
        match base {
            None => say("neither perf stat nor valgrind works; skipping --perf".into()),
            Some((i0, c0)) => {
                for name in &timed_names {
                    if let Some((i, c)) = counter(name) {
                        let passes = (PERF_ROUNDS + 1) as f64;
                        let r = rows.iter_mut().find(|r| r.name == *name).unwrap();
                        let cycles = c.zip(c0).map(|(c, c0)| (c - c0) / passes);
                        r.perf = Some(((i - i0) / passes, cycles));
                    }
                }
            }
        }
    }

    // 5. peak RSS per candidate, each in its own process
    if o.rss {
        let mut names: Vec<&'static str> = vec!["none"];
        names.extend(timed_names.iter().copied());
        for name in names {
            let kb = child(&["/usr/bin/time", "-v"], &o.corpus, name, 1).and_then(|err| {
                err.lines()
                    .find(|l| l.contains("Maximum resident set size"))
                    .and_then(|l| l.rsplit(':').next())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            if name == "none" {
                say(format!("peak RSS with corpus loaded and no candidate: {} kB", kb.map_or("?".into(), |k| k.to_string())));
                rows.push(Row {
                    name: "none",
                    package: "(corpus loaded, nothing decoded)".into(),
                    status: "-".into(),
                    ok: true,
                    runs: vec![],
                    reps: 0,
                    alloc: None,
                    rss_kb: kb,
                    perf: None,
                });
            } else if let Some(r) = rows.iter_mut().find(|r| r.name == name) {
                r.rss_kb = kb;
            }
        }
    }

    let load_end = loadavg();
    let (md, json) = report(&o, corpus.len(), idx.len(), prefixes, &rows, &load_start, &load_end);
    print!("{md}");
    if let Some(p) = &o.md {
        std::fs::write(p, &md).unwrap_or_else(|e| die(&format!("{}: {e}", p.display())));
    }
    if let Some(p) = &o.json {
        std::fs::write(p, &json).unwrap_or_else(|e| die(&format!("{}: {e}", p.display())));
    }
}

/// Run this binary on one candidate under `wrapper`; returns its stderr.
fn child(wrapper: &[&str], corpus: &std::path::Path, name: &str, rounds: usize) -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(&exe)
        .arg(corpus)
        .args(["--only", name, "--rounds", &rounds.to_string(), "--min-ms", "0", "--no-alloc", "--quiet"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn fmt_rate(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn report(
    o: &Opts,
    bytes: usize,
    msgs: usize,
    prefixes: Option<u64>,
    rows: &[Row],
    load_start: &str,
    load_end: &str,
) -> (String, String) {
    let walk = rows.iter().find(|r| r.name == "walk" && !r.runs.is_empty()).map(|r| median(&r.runs));
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\ncorpus: {} ({bytes} bytes, {msgs} messages, {} prefixes); {} timed runs per candidate, each >= {} ms; loadavg start {load_start}, end {load_end}\n",
        o.corpus.display(),
        prefixes.map_or("?".into(), |p| p.to_string()),
        o.rounds,
        o.min_ms
    );
    let _ = writeln!(
        md,
        "| candidate | package | check | messages/s (median) | prefixes/s (median) | MB/s median [min..max] | time/pass median [min..max] ms | × walk time | instr/msg | IPC | allocs/msg | alloc bytes/msg | peak live heap | peak RSS |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut json = String::from("{\n");
    let _ = writeln!(
        json,
        "  \"corpus\": {:?}, \"bytes\": {bytes}, \"messages\": {msgs}, \"prefixes\": {}, \"rounds\": {}, \"min_ms\": {}, \"loadavg_start\": {load_start:?}, \"loadavg_end\": {load_end:?},\n  \"candidates\": [",
        o.corpus.display().to_string(),
        prefixes.unwrap_or(0),
        o.rounds,
        o.min_ms
    );
    let mut first = true;
    for r in rows {
        let (al, ab, ap) = match r.alloc {
            Some(a) => (
                format!("{:.2}", a.allocs as f64 / msgs as f64),
                format!("{:.0}", a.bytes as f64 / msgs as f64),
                format!("{:.1} kB", a.peak_live as f64 / 1024.0),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let rss = r.rss_kb.map_or("-".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
        let (ipm, ipc) = match r.perf {
            Some((i, c)) => (format!("{:.0}", i / msgs as f64), c.map_or("-".into(), |c| format!("{:.2}", i / c))),
            None => ("-".into(), "-".into()),
        };
        let check = if r.ok { r.status.clone() } else { format!("**{}**", r.status) };
        if r.runs.is_empty() {
            let _ = writeln!(md, "| {} | {} | {} | - | - | - | - | - | {ipm} | {ipc} | {al} | {ab} | {ap} | {rss} |", r.name, r.package, check);
        } else {
            let med = median(&r.runs);
            let (mn, mx) = minmax(&r.runs);
            let ratio = walk.map_or("-".into(), |w| format!("{:.1}", med / w));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.1} [{:.1}..{:.1}] | {:.2} [{:.2}..{:.2}] | {} | {ipm} | {ipc} | {al} | {ab} | {ap} | {rss} |",
                r.name,
                r.package,
                check,
                fmt_rate(msgs as f64 / med),
                prefixes.map_or("?".into(), |p| fmt_rate(p as f64 / med)),
                bytes as f64 / med / 1e6,
                bytes as f64 / mx / 1e6,
                bytes as f64 / mn / 1e6,
                med * 1e3,
                mn * 1e3,
                mx * 1e3,
                ratio
            );
        }
        if !first {
            json.push_str(",\n");
        }
        first = false;
        let runs: Vec<String> = r.runs.iter().map(|x| format!("{x:.9}")).collect();
        let _ = write!(
            json,
            "    {{\"name\": {:?}, \"package\": {:?}, \"ok\": {}, \"status\": {:?}, \"reps_per_run\": {}, \"pass_seconds\": [{}], \"allocs\": {}, \"alloc_bytes\": {}, \"peak_live_heap\": {}, \"peak_rss_kb\": {}, \"instructions_per_pass\": {}, \"cycles_per_pass\": {}}}",
            r.name,
            r.package,
            r.ok,
            r.status,
            r.reps,
            runs.join(", "),
            r.alloc.map_or("null".into(), |a| a.allocs.to_string()),
            r.alloc.map_or("null".into(), |a| a.bytes.to_string()),
            r.alloc.map_or("null".into(), |a| a.peak_live.to_string()),
            r.rss_kb.map_or("null".into(), |k| k.to_string()),
            r.perf.map_or("null".into(), |p| format!("{:.0}", p.0)),
            r.perf.and_then(|p| p.1).map_or("null".into(), |c| format!("{c:.0}"))
        );
    }
    json.push_str("\n  ]\n}\n");
    (md, json)
}
