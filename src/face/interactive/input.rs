//! The `runall-input` thread: crossterm events turned into the app's messages on a channel of
//! their own, which the render loop reads before any runner event (a wake-up goes into the
//! shared queue, so a loop waiting there sees the key at once); Ctrl-C (and a terminal that
//! is gone) straight to the shutdown path.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender, TrySendError};
use std::thread;

use crossterm::event::{self as ct, Event as CtEvent, MouseEventKind};

use super::queue::UiMsg;
use crate::face::signals;
use crate::runner::Handle;
use crate::tui::app::Msg;
use crate::tui::keymap::{self, Key, KeyCode};

/// Read terminal input on its own thread. Ctrl-C goes straight to the shutdown path, except
/// while `typing` (input mode), when it is a key for the env like any other.
pub(super) fn spawn_input_thread(
    input: Sender<Msg>,
    wake: SyncSender<UiMsg>,
    runner: Handle,
    typing: Arc<AtomicBool>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("runall-input".into())
        .spawn(move || {
            loop {
                let Ok(event) = ct::read() else {
                    // The terminal is gone (EIO after a hang-up): treat it like SIGHUP.
                    signals::request_shutdown(&runner, libc::SIGHUP);
                    return;
                };
                let msg = match event {
                    CtEvent::Key(key) => {
                        super::trace::step("key-read", std::time::Duration::ZERO);
                        let Some(key) = keymap::translate(&key) else {
                            continue;
                        };
                        if is_ctrl_c(key) && !typing.load(Ordering::Acquire) {
                            signals::request_shutdown(&runner, libc::SIGINT);
                            continue;
                        }
                        Msg::Key(key)
                    }
                    CtEvent::Mouse(mouse) => match mouse.kind {
                        MouseEventKind::ScrollUp => Msg::MouseScroll { up: true },
                        MouseEventKind::ScrollDown => Msg::MouseScroll { up: false },
                        _ => continue,
                    },
                    CtEvent::Resize(width, height) => Msg::Resize { width, height },
                    CtEvent::Paste(text) => Msg::Paste(text),
                    _ => continue,
                };
                if input.send(msg).is_err() {
                    return;
                }
                // A full queue means the render loop is busy with runner events: it looks at
                // the input channel between them anyway.
                if let Err(TrySendError::Disconnected(_)) = wake.try_send(UiMsg::Wake) {
                    return;
                }
            }
        })?;
    Ok(())
}

fn is_ctrl_c(key: Key) -> bool {
    key.ctrl && matches!(key.code, KeyCode::Char('c' | 'C'))
}
