//! Offer/answer where our 2xx carries the offer: the ACK's answer to a
//! delayed-offer INVITE or a body-less re-INVITE (RFC 3261 §13.2.1,
//! §14.2; RFC 3264 §4). The offer itself is written by
//! `MediaSession::answer` while `awaiting_answer` is set.

use std::time::Instant;

use crate::event::{EndedBy, SipEvent};
use crate::message::Request;
use crate::rejection::read_answer;
use crate::types::CallId;

use super::Engine;

impl Engine {
    /// Reads the answer an ACK brings, if the 2xx it acknowledges carried
    /// our offer, before the ACK itself is taken: the shell hears
    /// [`SipEvent::MediaChanged`] (always, for a delayed offer) or
    /// [`SipEvent::HoldChanged`] before [`SipEvent::AckReceived`]. An ACK
    /// without an answer, or with one that keeps no G.711, cannot start or
    /// go on with a session: the call ends with a BYE (RFC 3261 §13.3.1.4,
    /// RFC 3264 §6) and this returns `false`.
    pub(super) fn take_answer(&mut self, call: CallId, ack: &Request, now: Instant) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return true;
        };
        let Some(pending) = c
            .pending_2xx
            .as_ref()
            .filter(|p| p.seq == ack.headers.cseq.seq && c.media.awaiting_answer)
        else {
            return true;
        };
        let initial = pending.initial;
        c.media.awaiting_answer = false;
        if c.bye_after_ack {
            // The shell hung up: the ACK only starts our BYE.
            return true;
        }
        match read_answer(ack) {
            Ok(answer) => {
                let audio = answer.2.clone();
                let changes = c.media.take(call, answer);
                if initial {
                    self.events
                        .push_back(SipEvent::MediaChanged { call, audio });
                } else {
                    self.events.extend(changes);
                }
                true
            }
            Err(_) => {
                self.send_bye(call, now);
                self.events.push_back(SipEvent::CallEnded {
                    call,
                    by: EndedBy::BadAnswer,
                });
                false
            }
        }
    }
}
