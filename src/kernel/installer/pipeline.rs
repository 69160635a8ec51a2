//! The installer's writer thread, which keeps the kernel busy.
//!
//! The kernel does its work for a route request inside the `sendmsg` that
//! carries it, on the calling thread. Planned, encoded, sent and recorded
//! on one thread, a full table costs the kernel's time plus ours, one
//! after the other (about 1.4 s of kernel time and 0.7 s of ours for a
//! million routes, bench/kernel). With a writer thread doing the
//! `sendmsg` calls on a socket of its own, the installer plans and encodes
//! round N+2, and records the outcomes of round N, while the kernel takes
//! round N+1: the total comes close to the kernel's time alone. Two rounds
//! are handed over at a time so that the writer always has the next one
//! at hand; with one, it waited while the installer recorded the last
//! (as long, in all, as the kernel's own time for a full table).
//!
//! Only rounds of one taken batch go through here: their prefixes are
//! distinct, so planning a round never reads the state of a prefix still
//! in flight. The installer [drains](super::Installer::drain) the pipeline
//! before anything else reads or writes what it knows of the kernel.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::Op;
use crate::kernel::netlink::{Encoded, Encoder, Outcome, RouteSocket};

/// Rounds handed to the writer and not yet recorded, at most.
const DEPTH: usize = 2;

/// A round of route requests on its way to the kernel and back.
pub(super) struct Job {
    encoded: Encoded,
    outcomes: Vec<Outcome>,
}

impl Job {
    /// One outcome per request, in request order (once back).
    pub(super) fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }
}

/// The writer thread and the round it holds.
pub(super) struct Pipeline {
    /// Numbers the requests of the writer's socket (which sends nothing
    /// else).
    encoder: Encoder,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Job>,
    thread: Option<JoinHandle<()>>,
    /// The operations of the rounds with the writer, oldest first, each
    /// in request order.
    in_flight: VecDeque<Vec<Op>>,
    /// Buffers of finished rounds, reused.
    spare: Vec<Job>,
}

impl Pipeline {
    /// Starts the writer thread on `socket`, whose routes carry
    /// `protocol`.
    pub(super) fn start(socket: RouteSocket, protocol: u8) -> io::Result<Self> {
        // Neither side ever blocks on a full channel: at most DEPTH rounds
        // are out.
        let (jobs, inbox) = sync_channel::<Job>(DEPTH);
        let (outbox, done) = sync_channel::<Job>(DEPTH);
        let thread = std::thread::Builder::new()
            .name("nvabgp-netlink".into())
            .spawn(move || {
                let mut socket = socket;
                // Ends when the installer drops its sender.
                while let Ok(mut job) = inbox.recv() {
                    socket.transmit(&job.encoded, &mut job.outcomes);
                    if outbox.send(job).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            encoder: Encoder::new(protocol),
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: VecDeque::with_capacity(DEPTH),
            spare: Vec::new(),
        })
    }

    /// Encodes `ops` on the calling thread (the writer may be busy with
    /// the round before).
    pub(super) fn encode(&mut self, ops: &[Op]) -> Job {
        let mut job = self.spare.pop().unwrap_or_else(|| Job {
            encoded: Encoded::default(),
            outcomes: Vec::new(),
        });
        self.encoder
            .encode_requests(&super::requests(ops), &mut job.encoded);
        job
    }

    /// True when another round can be handed over without finishing one.
    pub(super) fn has_room(&self) -> bool {
        self.in_flight.len() < DEPTH
    }

    /// Hands a round to the writer; call only when [`Self::has_room`].
    /// `Err` gives the operations back when the writer is gone; they were
    /// not sent.
    pub(super) fn submit(&mut self, job: Job, ops: Vec<Op>) -> Result<(), Vec<Op>> {
        let Some(jobs) = self.jobs.as_ref().filter(|_| self.has_room()) else {
            return Err(ops);
        };
        match jobs.send(job) {
            Ok(()) => {
                self.in_flight.push_back(ops);
                Ok(())
            }
            Err(_) => Err(ops),
        }
    }

    /// Waits for the oldest round in flight, if any: its operations and
    /// their outcomes. Should the writer be gone, every request of the
    /// round counts as unanswered (`ETIMEDOUT`), so the installer sends
    /// them again itself.
    pub(super) fn finish(&mut self) -> Option<(Vec<Op>, Job)> {
        let ops = self.in_flight.pop_front()?;
        let job = self.done.recv().unwrap_or_else(|_| Job {
            encoded: Encoded::default(),
            outcomes: vec![Err(libc::ETIMEDOUT); ops.len()],
        });
        Some((ops, job))
    }

    /// Gives a finished round's buffers back for the next rounds.
    pub(super) fn recycle(&mut self, job: Job) {
        if self.spare.len() <= DEPTH {
            self.spare.push(job);
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // The writer ends once its inbox is closed.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
