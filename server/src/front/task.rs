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
        if this.session_woken.woken.swap(false, Ordering::AcqRel)
            && let Some(session) = this.session.as_mut().as_pin_mut()
            && session
                .poll(&mut Context::from_waker(this.session_waker))
                .is_ready()
        {
            this.session.set(None);
        }
        if this.writer_woken.woken.swap(false, Ordering::AcqRel)
            && let Some(writer) = this.writer.as_mut().as_pin_mut()
            && writer
                .poll(&mut Context::from_waker(this.writer_waker))
                .is_ready()
        {
            this.writer.set(None);
        }
        if this.session.is_none() && this.writer.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A side that counts its polls and ends when told.
    struct Counted {
        polls: Arc<AtomicUsize>,
        done: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Counted {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.done.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    fn counted() -> (
        Counted,
        Arc<AtomicUsize>,
        Arc<AtomicBool>,
        Arc<std::sync::Mutex<Option<Waker>>>,
    ) {
        let (p, d, w) = (Arc::default(), Arc::default(), Arc::default());
        (
            Counted {
                polls: Arc::clone(&p),
                done: Arc::clone(&d),
                waker: Arc::clone(&w),
            },
            p,
            d,
            w,
        )
    }

    #[tokio::test]
    async fn each_side_is_polled_only_when_woken_and_both_must_end() {
        let (s, s_polls, s_done, s_waker) = counted();
        let (w, w_polls, w_done, w_waker) = counted();
        let task = tokio::spawn(Connection::new(s, w));
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(20));
        settle().await;
        assert_eq!(
            (
                s_polls.load(Ordering::SeqCst),
                w_polls.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
        // Waking the writer polls the writer alone.
        for _ in 0..3 {
            w_waker.lock().unwrap().take().unwrap().wake();
            settle().await;
        }
        assert_eq!(
            (
                s_polls.load(Ordering::SeqCst),
                w_polls.load(Ordering::SeqCst)
            ),
            (1, 4)
        );
        // The session ends; the task waits for the writer.
        s_done.store(true, Ordering::SeqCst);
        s_waker.lock().unwrap().take().unwrap().wake();
        settle().await;
        assert!(!task.is_finished());
        w_done.store(true, Ordering::SeqCst);
        w_waker.lock().unwrap().take().unwrap().wake();
        task.await.unwrap();
        assert_eq!(s_polls.load(Ordering::SeqCst), 2);
    }
}
