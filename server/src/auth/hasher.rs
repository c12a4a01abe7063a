//! The password-hashing pool: a few dedicated threads, each with one argon2
//! memory buffer it keeps for its whole life, fed by a queue that is fair
//! between client addresses.
//!
//! Why not `spawn_blocking`: every argon2 run needs a 19 MiB buffer. Run on
//! tokio's blocking pool (hundreds of threads), each thread allocated its own
//! and glibc kept each one in that thread's arena: a login storm grew natterd
//! to gigabytes and never gave it back. Here the memory is fixed at
//! `threads × buffer`, allocated once.
//!
//! Why fair: hashing is the most expensive thing a peer can make the server
//! do, and many connections from one address could otherwise fill the queue
//! ahead of everyone. Jobs are queued per key (the client's address) and the
//! workers take one job from each waiting key in turn, so an honest login
//! from elsewhere waits for at most one job per busy address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use tokio::sync::oneshot;

/// The largest argon2 memory cost a stored hash may ask for (KiB): eight
/// times the default. A hash that asks for more is refused rather than
/// allowed to grow a worker's buffer without bound.
const MAX_M_COST_KIB: u32 = 8 * Params::DEFAULT_M_COST;

/// Why hashing failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// argon2 refused its inputs or parameters.
    #[error("argon2 refused the input: {0}")]
    Argon2(String),
    /// The pool is gone (the server is shutting down).
    #[error("the hashing pool has stopped")]
    Stopped,
}

/// One piece of work for the pool.
enum Work {
    /// Does `password` match `hash`? `None` verifies against a dummy hash,
    /// so that a login for an unknown name costs as much as for a known one.
    Verify {
        hash: Option<String>,
        password: String,
        done: oneshot::Sender<bool>,
    },
    /// A new PHC string for `password`.
    Hash {
        password: String,
        done: oneshot::Sender<Result<String, HashError>>,
    },
}

impl Work {
    /// Nobody waits for the answer any more (the connection went away):
    /// the job is skipped, which also tells nobody anything.
    fn abandoned(&self) -> bool {
        match self {
            Self::Verify { done, .. } => done.is_closed(),
            Self::Hash { done, .. } => done.is_closed(),
        }
    }
}

/// Jobs waiting, per key, and the order in which keys get their next turn.
#[derive(Default)]
struct FairQueue {
    jobs: HashMap<IpAddr, VecDeque<Work>>,
    turns: VecDeque<IpAddr>,
    stopped: bool,
}

impl FairQueue {
    fn push(&mut self, key: IpAddr, work: Work) {
        let queue = self.jobs.entry(key).or_default();
        if queue.is_empty() {
            self.turns.push_back(key);
        }
        queue.push_back(work);
    }

    /// The next key's oldest job; the key goes to the back of the line if it
    /// has more.
    fn pop(&mut self) -> Option<Work> {
        let key = self.turns.pop_front()?;
        let queue = self.jobs.get_mut(&key)?;
        let work = queue.pop_front();
        if queue.is_empty() {
            self.jobs.remove(&key);
        } else {
            self.turns.push_back(key);
        }
        work
    }

    fn waiting(&self) -> usize {
        self.jobs.values().map(VecDeque::len).sum()
    }
}

struct Inner {
    queue: Mutex<FairQueue>,
    ready: Condvar,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pool's handle. Dropping it stops the workers once the queue is empty
/// of jobs anyone still waits for.
pub struct Hasher {
    inner: Arc<Inner>,
    threads: usize,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("threads", &self.threads)
            .field("waiting", &self.inner.lock().waiting())
            .finish()
    }
}

impl Hasher {
    /// Starts `threads` workers (at least one).
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let inner = Arc::new(Inner {
            queue: Mutex::new(FairQueue::default()),
            ready: Condvar::new(),
        });
        for n in 0..threads {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name(format!("natterd-hash-{n}"))
                .spawn(move || work_loop(&inner))?;
        }
        Ok(Self { inner, threads })
    }

    /// How many workers run, and so how many argon2 buffers exist.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn submit(&self, key: IpAddr, work: Work) {
        self.inner.lock().push(key, work);
        self.inner.ready.notify_one();
    }

    /// Whether `password` matches the PHC string `hash`, or, for `None`, a
    /// dummy hash (the same cost, never a match). Queued under `key`.
    pub async fn verify(&self, key: IpAddr, hash: Option<String>, password: String) -> bool {
        let (done, answer) = oneshot::channel();
        self.submit(
            key,
            Work::Verify {
                hash,
                password,
                done,
            },
        );
        answer.await.unwrap_or(false)
    }

    /// A new argon2id PHC string for `password`, queued under `key`.
    ///
    /// # Errors
    /// When argon2 refuses the input, or the pool has stopped.
    pub async fn hash(&self, key: IpAddr, password: String) -> Result<String, HashError> {
        let (done, answer) = oneshot::channel();
        self.submit(key, Work::Hash { password, done });
        answer.await.unwrap_or(Err(HashError::Stopped))
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        self.inner.lock().stopped = true;
        self.inner.ready.notify_all();
    }
}

/// One worker: takes jobs in fair order with its own buffer, until stopped.
fn work_loop(inner: &Inner) {
    let mut memory = Memory::default();
    loop {
        let work = {
            let mut queue = inner.lock();
            loop {
                if let Some(work) = queue.pop() {
                    break work;
                }
                if queue.stopped {
                    return;
                }
                queue = inner
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if work.abandoned() {
            continue;
        }
        match work {
            Work::Verify {
                hash,
                password,
                done,
            } => {
                let matched = if let Some(hash) = hash {
                    memory.verify(&hash, &password)
                } else {
                    // Same work as a real check; the answer is always no.
                    let dummy = dummy_hash(&mut memory);
                    memory.verify(dummy, &password);
                    false
                };
                let _ = done.send(matched);
            }
            Work::Hash { password, done } => {
                let _ = done.send(memory.hash(&password));
            }
        }
    }
}

/// A dummy hash with the default parameters, made once by whichever worker
/// first needs it.
fn dummy_hash(memory: &mut Memory) -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| memory.hash("natter-dummy-password").unwrap_or_default())
}

/// A worker's argon2 buffer, grown to the largest parameters seen (the
/// default ones, in practice) and kept.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn blocks_for(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }

    /// An argon2id PHC string for `password`, with a random salt: the same
    /// string `Argon2::default().hash_password` makes.
    fn hash(&mut self, password: &str) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
        let params = Params::default();
        let mut raw_salt = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut raw_salt)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        argon
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.blocks_for(&params),
            )
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .map_err(|e: argon2::password_hash::Error| HashError::Argon2(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| HashError::Argon2(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash`. An unreadable hash,
    /// or one asking for more memory than [`MAX_M_COST_KIB`], never matches.
    fn verify(&mut self, hash: &str, password: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
            parsed.salt,
            parsed.hash,
        ) else {
            return false;
        };
        if params.m_cost() > MAX_M_COST_KIB {
            tracing::warn!(
                m_cost = params.m_cost(),
                "a stored password hash asks for too much memory"
            );
            return false;
        }
        let version = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from);
        let Ok(version) = version else {
            return false;
        };
        let mut raw_salt = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut raw_salt) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        if argon
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.blocks_for(&params),
            )
            .is_err()
        {
            return false;
        }
        // `Output`'s equality is constant-time.
        Output::new(&out).is_ok_and(|actual| actual == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn pool_hashes_agree_with_the_argon2_crate() {
        let mut memory = Memory::default();
        let ours = memory.hash("correct horse").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // The crate's own verifier accepts our strings, and ours accepts the
        // crate's (the admin CLI hashes with it).
        assert!(crate::auth::verify_password(&ours, "correct horse"));
        let theirs = crate::auth::hash_password("correct horse").unwrap();
        assert!(memory.verify(&theirs, "correct horse"));
        assert!(!memory.verify(&theirs, "wrong horse"));
        assert!(!memory.verify("garbage", "correct horse"));
        // One buffer, reused: its size is the default parameters' need.
        assert_eq!(memory.blocks.len(), Params::default().block_count());
    }

    #[test]
    fn greedy_memory_costs_are_refused() {
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$\
                      AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let mut memory = Memory::default();
        assert!(!memory.verify(greedy, "x"));
        assert!(memory.blocks.is_empty());
    }

    #[test]
    fn the_queue_takes_turns_between_keys() {
        let mut queue = FairQueue::default();
        let mut answers = Vec::new();
        let mut push = |queue: &mut FairQueue, key: u8, tag: &str| {
            let (done, rx) = oneshot::channel();
            queue.push(
                ip(key),
                Work::Hash {
                    password: tag.to_owned(),
                    done,
                },
            );
            answers.push(rx);
        };
        // A flood of five from .1, then one honest job from .2.
        for n in 0..5 {
            push(&mut queue, 1, &format!("flood{n}"));
        }
        push(&mut queue, 2, "honest");
        let order: Vec<String> = std::iter::from_fn(|| queue.pop())
            .map(|w| match w {
                Work::Hash { password, .. } => password,
                Work::Verify { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(order[..2], ["flood0", "honest"]);
        assert_eq!(order.len(), 6);
        assert_eq!(queue.waiting(), 0);
    }

    #[tokio::test]
    async fn the_pool_verifies_hashes_and_stops() {
        let pool = Hasher::start(2).unwrap();
        let hash = pool.hash(ip(1), "correct horse".into()).await.unwrap();
        assert!(
            pool.verify(ip(1), Some(hash.clone()), "correct horse".into())
                .await
        );
        assert!(!pool.verify(ip(2), Some(hash), "wrong".into()).await);
        assert!(!pool.verify(ip(2), None, "correct horse".into()).await);
        drop(pool);
    }
}
