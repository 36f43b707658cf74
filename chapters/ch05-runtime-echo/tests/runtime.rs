//! The runtime's traps, one test each, named after what it guards against.
//! Every one of them is a mistake some published toy runtime makes.

#![cfg(target_os = "linux")]
// The helpers below are not themselves #[test]s; a failed call in them is
// a failed test all the same.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::future::poll_fn;
use std::io::Write;
use std::net;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use ch05_runtime_echo::runtime::net::{TcpListener, TcpStream};
use ch05_runtime_echo::runtime::{Aborted, Runtime, sleep, spawn, timeout, yield_now};
use echo_conformance::process::{DEADLINE, eventually};

/// A connected pair of plain std sockets on loopback.
fn socket_pair() -> (net::TcpStream, net::TcpStream) {
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

/// A future that counts its polls, returns `Pending` until `ready_after`
/// polls, and fails the test if it is polled after it returned `Ready`.
struct Counted {
    polls: Rc<Cell<u32>>,
    ready_after: u32,
    on_poll: Box<dyn FnMut(&mut Context<'_>)>,
}

impl Future for Counted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polls = self.polls.get() + 1;
        self.polls.set(polls);
        assert!(polls <= self.ready_after, "polled after it returned Ready");
        (self.on_poll)(cx);
        if polls == self.ready_after {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_wake_during_its_own_poll_polls_the_task_once_more() {
    let runtime = Runtime::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    let counted = Counted {
        polls: Rc::clone(&polls),
        ready_after: 2,
        // Woken while running, on every poll: after the first, that means
        // one more poll; after the last (Ready), none.
        on_poll: Box::new(|cx| cx.waker().wake_by_ref()),
    };
    runtime.block_on(counted).unwrap();
    assert_eq!(polls.get(), 2);
}

/// Where a [`Counted`] future leaves its latest waker for the test.
type WakerSlot = Rc<Cell<Option<Waker>>>;

/// A task that counts its polls, keeps its latest waker where the test can
/// reach it, and is ready after `ready_after` polls.
fn counted_task(ready_after: u32) -> (Rc<Cell<u32>>, WakerSlot, Counted) {
    let polls = Rc::new(Cell::new(0));
    let waker: WakerSlot = Rc::default();
    let keep = Rc::clone(&waker);
    let task = Counted {
        polls: Rc::clone(&polls),
        ready_after,
        on_poll: Box::new(move |cx| keep.set(Some(cx.waker().clone()))),
    };
    (polls, waker, task)
}

#[test]
fn a_thousand_wakes_queue_the_task_once() {
    let runtime = Runtime::new().unwrap();
    let (polls, waker, counted) = counted_task(3);
    let seen = Rc::clone(&polls);
    runtime
        .block_on(async move {
            let task = spawn(counted);
            yield_now().await; // the task's first poll
            assert_eq!(seen.get(), 1);
            let waker = waker.take().unwrap();
            for _ in 0..1000 {
                waker.wake_by_ref();
            }
            yield_now().await;
            assert_eq!(seen.get(), 2, "1000 wakes, one poll");
            waker.wake();
            task.await.unwrap();
        })
        .unwrap();
    assert_eq!(polls.get(), 3);
}

#[test]
fn a_wake_after_completion_does_nothing() {
    let runtime = Runtime::new().unwrap();
    let (polls, waker, counted) = counted_task(1);
    runtime
        .block_on(async move {
            spawn(counted).await.unwrap();
            let waker = waker.take().unwrap();
            // From this thread and from another: `Counted` panics if polled.
            waker.wake_by_ref();
            thread::spawn(move || waker.wake()).join().unwrap();
            yield_now().await;
            yield_now().await;
        })
        .unwrap();
    assert_eq!(polls.get(), 1);
    assert_eq!(runtime.tasks(), 0);
}

#[test]
fn an_aborted_task_is_never_polled_again_and_drops_what_it_owns() {
    let runtime = Runtime::new().unwrap();
    let (server, _client) = socket_pair();
    runtime
        .block_on(async move {
            let task = spawn(async move {
                let stream = TcpStream::from_std(server).unwrap();
                let mut buf = [0; 1];
                // Waits for the socket and for a timer at once.
                let _ = timeout(Duration::from_secs(600), stream.read(&mut buf)).await;
                unreachable!("the client never sends");
            });
            yield_now().await; // the task registers its socket and timer
            task.abort();
            assert_eq!(task.await, Err(Aborted));
        })
        .unwrap();
    assert_eq!(runtime.tasks(), 0);
    assert_eq!(runtime.sources(), 0, "the task's socket was deregistered");
    assert_eq!(runtime.timers(), 0, "the task's timer was removed");
}

#[test]
fn a_future_moved_to_another_task_is_woken_through_the_newest_waker() {
    let runtime = Runtime::new().unwrap();
    let (server, mut client) = socket_pair();
    runtime
        .block_on(async move {
            let stream = Rc::new(TcpStream::from_std(server).unwrap());
            // The future is polled once in task A, which leaves A's waker
            // with the reactor, then handed to task B.
            let readable: Pin<Box<dyn Future<Output = std::io::Result<()>>>> = {
                let stream = Rc::clone(&stream);
                Box::pin(async move { stream.readable().await })
            };
            let (to_b, from_a) = mpsc::channel();
            spawn(async move {
                let mut readable = readable;
                let polled = poll_fn(|cx| Poll::Ready(readable.as_mut().poll(cx))).await;
                assert!(polled.is_pending(), "nothing was sent yet");
                to_b.send(readable).unwrap();
                // Task A ends here; a wake through its waker reaches no one.
            })
            .await
            .unwrap();
            let task_b = spawn(async move { from_a.recv().unwrap().await });
            yield_now().await; // B polls the future: its waker replaces A's
            client.write_all(b"x").unwrap();
            let woken = timeout(DEADLINE, task_b).await;
            woken.expect("the wake went to task A").unwrap().unwrap();
        })
        .unwrap();
}

// ANCHOR: lost_wakeup
#[test]
fn readiness_that_comes_while_no_task_waits_for_it_is_kept() {
    let runtime = Runtime::new().unwrap();
    let (server, mut client) = socket_pair();
    client.write_all(b"early").unwrap();
    runtime
        .block_on(async move {
            let stream = TcpStream::from_std(server).unwrap();
            // Registering a socket that has data produces an edge, which
            // the reactor sees during this sleep, when no task waits on the
            // socket: no waker to call. Edge-triggered epoll will not tell
            // us again, so the reactor must remember it.
            sleep(Duration::from_millis(1)).await;
            let mut buf = [0; 5];
            let read = timeout(DEADLINE, stream.read(&mut buf)).await;
            assert_eq!(read.expect("the edge was lost").unwrap(), 5);
            assert_eq!(&buf, b"early");
        })
        .unwrap();
}

#[test]
fn data_that_comes_after_would_block_wakes_the_reader() {
    let runtime = Runtime::new().unwrap();
    let (server, mut client) = socket_pair();
    runtime
        .block_on(async move {
            let stream = TcpStream::from_std(server).unwrap();
            let reader = spawn(async move {
                let mut buf = [0; 4];
                let n = stream.read(&mut buf).await.unwrap();
                buf[..n].to_vec()
            });
            // The reader has tried, found nothing and left its waker.
            yield_now().await;
            client.write_all(b"late").unwrap();
            let read = timeout(DEADLINE, reader).await;
            assert_eq!(read.expect("the reader was not woken").unwrap(), b"late");
        })
        .unwrap();
}
// ANCHOR_END: lost_wakeup

// ANCHOR: end_of_stream
#[test]
fn end_of_stream_that_comes_with_the_last_bytes_is_not_lost() {
    let runtime = Runtime::new().unwrap();
    let (server, mut client) = socket_pair();
    // The last bytes and the FIN arrive before anyone reads: one edge.
    client.write_all(b"last").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    runtime
        .block_on(async move {
            let stream = TcpStream::from_std(server).unwrap();
            let mut buf = [0; 64];
            // A short read: it clears the readiness...
            assert_eq!(stream.read(&mut buf).await.unwrap(), 4);
            // ...but not the end of stream, which no new edge will announce.
            let eof = timeout(DEADLINE, stream.read(&mut buf)).await;
            assert_eq!(eof.expect("the end of stream was lost").unwrap(), 0);
        })
        .unwrap();
}
// ANCHOR_END: end_of_stream

// ANCHOR: cross_thread
#[test]
fn a_waker_called_on_another_thread_wakes_the_sleeping_loop() {
    let (result, received) = mpsc::channel();
    // The runtime runs on a thread of its own, so that a hang fails the
    // test at the deadline instead of hanging it.
    thread::spawn(move || {
        let runtime = Runtime::new().unwrap();
        let done = runtime.block_on(async {
            // SAFETY: gettid has no preconditions.
            let runtime_thread = unsafe { libc::gettid() };
            let mut sent = false;
            poll_fn(|cx| {
                if sent {
                    return Poll::Ready(());
                }
                sent = true;
                let waker = cx.waker().clone();
                thread::spawn(move || {
                    // Wake only once the runtime's thread is asleep in
                    // epoll_wait, with no timer to end the wait.
                    eventually("the runtime thread sleeps in epoll_wait", || {
                        sleeps_in_epoll_wait(runtime_thread)
                    });
                    waker.wake();
                });
                Poll::Pending
            })
            .await
        });
        let _ = result.send(done.is_ok());
    });
    assert_eq!(received.recv_timeout(DEADLINE), Ok(true));
}

/// Whether thread `tid` of this process is blocked in one of the
/// epoll_wait system calls, from `/proc/self/task/TID/syscall`.
fn sleeps_in_epoll_wait(tid: libc::pid_t) -> bool {
    let syscall =
        std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
    let number: i64 = syscall
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1);
    [
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ]
    .contains(&number)
}
// ANCHOR_END: cross_thread

#[test]
fn a_million_cancelled_sleeps_leave_no_timer_behind() {
    let runtime = Runtime::new().unwrap();
    runtime
        .block_on(async {
            for _ in 0..1_000_000 {
                // Polled once (so it registers its timer), then dropped.
                let mut sleep = std::pin::pin!(sleep(Duration::from_secs(60)));
                let polled = poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
                assert!(polled.is_pending());
            }
        })
        .unwrap();
    assert_eq!(runtime.timers(), 0);
}

#[test]
fn a_timeout_whose_operation_is_ready_makes_no_timer() {
    let runtime = Runtime::new().unwrap();
    runtime
        .block_on(async {
            let made = timeout(Duration::from_secs(60), async { 7 }).await;
            assert_eq!(made, Ok(7));
        })
        .unwrap();
    assert_eq!(runtime.timers(), 0);
}

// ANCHOR: starvation
/// Task A reads, one byte at a time, a socket that always has more (64 KiB
/// are waiting); task B only wants to run once. How many reads does A make
/// before B gets its turn?
fn reads_before_the_other_task_runs(budget: Option<u32>) -> u32 {
    let runtime = Runtime::with_budget(budget).unwrap();
    let (server, mut client) = socket_pair();
    client.write_all(&[0; 64 * 1024]).unwrap();
    drop(client);
    runtime
        .block_on(async move {
            let stream = TcpStream::from_std(server).unwrap();
            stream.readable().await.unwrap();
            let reads = Rc::new(Cell::new(0));
            let counter = Rc::clone(&reads);
            let a = spawn(async move {
                let mut byte = [0; 1];
                while stream.read(&mut byte).await.unwrap() == 1 {
                    counter.set(counter.get() + 1);
                }
            });
            let b = spawn(async move { reads.get() });
            let seen_by_b = b.await.unwrap();
            a.await.unwrap();
            seen_by_b
        })
        .unwrap()
}

#[test]
fn without_a_budget_a_busy_task_starves_the_others() {
    assert_eq!(reads_before_the_other_task_runs(None), 64 * 1024);
}

#[test]
fn the_budget_makes_a_busy_task_yield() {
    let reads = reads_before_the_other_task_runs(Some(128));
    assert!(reads <= 128, "{reads} reads before the other task ran");
}
// ANCHOR_END: starvation

#[test]
fn a_listener_accepts_and_sockets_deregister_when_dropped() {
    let runtime = Runtime::new().unwrap();
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        let mut client = net::TcpStream::connect(addr).unwrap();
        client.write_all(b"hi").unwrap();
    });
    runtime
        .block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 2];
            assert_eq!(stream.read(&mut buf).await.unwrap(), 2);
        })
        .unwrap();
    client.join().unwrap();
    assert_eq!(runtime.sources(), 0);
}
