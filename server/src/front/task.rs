//! A connection's one task: its session (reading and handling requests)
//! and its writer (draining the outbox), side by side.
//!
//! One task, not two, because a task is the largest part of what an idle
//! connection costs (memory per idle connection, S4). Side by side, each
//! polled only when its own waker fired: a `join` would poll the session's
//! every wait (its deadline, the shutdown, the close) on each batch the
//! writer is woken for, and fan-out wakes writers all the time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pin_project_lite::pin_project! {
    /// Runs `session` and `writer` in one task until both have ended.
    pub struct Connection<S, W> {
        #[pin]
        session: Option<S>,
        #[pin]
        writer: Option<W>,
        session_woken: Arc<Side>,
        writer_woken: Arc<Side>,
        // Made once: each poll of a side hands it its own waker.
        session_waker: Waker,
        writer_waker: Waker,
    }
}

/// One side's wake-up: noted, and passed on to the task.
struct Side {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Side {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<S, W> Connection<S, W>
where
    S: Future<Output = ()>,
    W: Future<Output = ()>,
{
    pub fn new(session: S, writer: W) -> Self {
        let side = || {
            Arc::new(Side {
                // Both are polled the first time.
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            })
        };
        let (session_woken, writer_woken) = (side(), side());
        Self {
            session: Some(session),
            writer: Some(writer),
            session_waker: Waker::from(Arc::clone(&session_woken)),
            writer_waker: Waker::from(Arc::clone(&writer_woken)),
            session_woken,
            writer_woken,
        }
    }
}

impl<S, W> Future for Connection<S, W>
where
    S: Future<Output = ()>,
    W: Future<Output = ()>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        // Registered before the flags are read: a wake after the read
        // wakes this task again.
        this.session_woken.task.register(cx.waker());
        this.writer_woken.task.register(cx.waker());
        poll_side(
            this.session.as_mut(),
            this.session_woken,
            this.session_waker,
        );
        poll_side(this.writer.as_mut(), this.writer_woken, this.writer_waker);
        if this.session.is_none() && this.writer.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Polls one side if it was woken, and drops it once it has ended.
fn poll_side<F: Future<Output = ()>>(mut side: Pin<&mut Option<F>>, woken: &Side, waker: &Waker) {
    if woken.woken.swap(false, Ordering::AcqRel)
        && let Some(f) = side.as_mut().as_pin_mut()
        && f.poll(&mut Context::from_waker(waker)).is_ready()
    {
        side.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// What a test side shows and is told.
    #[derive(Default)]
    struct Probe {
        polls: AtomicUsize,
        done: AtomicBool,
        waker: std::sync::Mutex<Option<Waker>>,
    }

    impl Probe {
        fn polls(&self) -> usize {
            self.polls.load(Ordering::SeqCst)
        }

        fn wake(&self, done: bool) {
            self.done.store(done, Ordering::SeqCst);
            self.waker.lock().unwrap().take().unwrap().wake();
        }
    }

    /// A side that counts its polls and ends when told.
    struct Counted(Arc<Probe>);

    impl Future for Counted {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.polls.fetch_add(1, Ordering::SeqCst);
            *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.0.done.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn each_side_is_polled_only_when_woken_and_both_must_end() {
        let (s, w) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
        let mut task = Box::pin(Connection::new(
            Counted(Arc::clone(&s)),
            Counted(Arc::clone(&w)),
        ));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert_eq!((s.polls(), w.polls()), (1, 1));
        // Polled without a wake-up: neither side is.
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert_eq!((s.polls(), w.polls()), (1, 1));
        // Waking the writer polls the writer alone.
        for _ in 0..3 {
            w.wake(false);
            assert!(task.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!((s.polls(), w.polls()), (1, 4));
        // The session ends; the task waits for the writer.
        s.wake(true);
        assert!(task.as_mut().poll(&mut cx).is_pending());
        w.wake(true);
        assert!(task.as_mut().poll(&mut cx).is_ready());
        assert_eq!((s.polls(), w.polls()), (2, 5));
    }
}
