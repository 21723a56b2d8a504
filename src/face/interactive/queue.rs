//! The render loop's bounded queue: runner events (put there by the runner's log writer) and
//! input messages in one channel, and the render loop's end of it, which gives each runner
//! event's output credit back as it is taken.

use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::event::RunEvent;
use crate::runner::CreditReturn;
use crate::tui::app::Msg;

/// Messages queued between the threads and the render loop; bounded so runner output
/// backpressures instead of piling up (an output event holds up to 256 KiB, so this also
/// bounds the queue's memory to a few MiB).
pub(super) const QUEUE: usize = 32;

/// What the render loop receives.
pub(super) enum UiMsg {
    Run(RunEvent),
    /// Input arrived on the input channel.
    Wake,
    /// A message for the app from a helper thread (the report watcher's live test counts).
    App(Msg),
}

/// The render loop's end of the queue. Every runner event taken off it gives its output credit
/// back to the runner, whichever way it is taken, so no path can stall the pipes.
pub(super) struct Queue {
    pub(super) rx: Receiver<UiMsg>,
    pub(super) credits: CreditReturn,
}

impl Queue {
    fn taken(&self, msg: UiMsg) -> UiMsg {
        if let UiMsg::Run(event) = &msg {
            self.credits.received(event);
        }
        msg
    }

    pub(super) fn recv(&self) -> Result<UiMsg, RecvError> {
        self.rx.recv().map(|msg| self.taken(msg))
    }

    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<UiMsg, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|msg| self.taken(msg))
    }

    pub(super) fn try_recv(&self) -> Result<UiMsg, TryRecvError> {
        self.rx.try_recv().map(|msg| self.taken(msg))
    }
}
