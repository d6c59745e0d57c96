//! Calls confab places: `POST Calls` and `POST Conferences/{…}/Participants`
//! ([`api::CallControl::dial`]), and what the API may do to them while
//! they live ([`api::CallControl::update_call`]).
//!
//! [`Dialer::dial`] finds where `To` goes (a `sip:` URI dialled directly; a
//! number to the account's trunk, with its credentials), records the call
//! at once (`outbound-api`, `queued`) and answers its sid; a task of the
//! call's own, tracked like every call task, then binds RTP, has the SIP
//! task send the INVITE ([`crate::sip_task::SipHandle::dial`]) and waits:
//! the first 180 or 183 records it `ringing`; answered, the call runs its
//! script through the same core as an incoming call
//! ([`crate::call::run_placed`]): a URL fetched (signed, with
//! `Direction=outbound-api`), a document, or the built-in
//! `<Dial><Conference>` a participant added by the API joins with; busy,
//! no answer or a failure end the record with that status, and the API's
//! hang-up before the answer (our CANCEL) with `canceled`.
//!
//! The call's `StatusCallback` (`initiated ringing answered completed`;
//! `completed` alone by default) is sent signed, with Twilio's parameters,
//! in order, by a delivery task of the call's own: nothing the call does
//! waits for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api::{CallControlError, CallScript, CallUpdate, ConferenceRef, DialError, DialRequest};
use calls::ScriptSource;
use model::{
    AccountSid, AuthToken, CallDirection, CallRecord, CallSid, CallStatus, HttpMethod,
    StatusCallback, Timestamp,
};
use sip::DialFailure;
use tokio::sync::mpsc;
use tracing::Instrument;
use twiml::{CallInfo, HttpUrl, Params, Verb, WebhookRequest};

use crate::call::{CallServices, Placed, run_placed};
use crate::live_calls::LiveCall;
use crate::sip_task::{CallEvent, SipHandle};
use crate::{fetch, ids};

/// A participant added by dialling out stays at most as long as a
/// `<Dial>` without `timeLimit` (4 hours).
const PARTICIPANT_TIME_LIMIT: Duration = Duration::from_secs(14_400);
/// How long one status callback may take.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Places calls, and updates live ones (placed or incoming: `live`).
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    svc: Arc<CallServices>,
    sip: SipHandle,
}

/// Where a call goes.
#[derive(Debug)]
struct Destination {
    target: sip::SipUri,
    next_hop: SocketAddr,
    credentials: Option<sip::Credentials>,
}

impl Dialer {
    pub fn new(svc: Arc<CallServices>, sip: SipHandle) -> Self {
        Self { svc, sip }
    }

    /// Records the call, starts placing it, and answers its sid.
    pub async fn dial(&self, request: DialRequest) -> Result<CallSid, DialError> {
        let unavailable = |e: store::StoreError| {
            tracing::error!(error = %e, "could not place a call");
            DialError::Control(CallControlError::Unavailable)
        };
        let destination = self.destination(&request).await?;
        let account = self
            .svc
            .store
            .account(&request.account)
            .await
            .map_err(unavailable)?
            .ok_or(DialError::Control(CallControlError::NotFound))?;
        let script = self.script(&request).await?;
        let sid = ids::call_sid();
        let now = self.svc.clock.now();
        let record = CallRecord {
            sid: sid.clone(),
            account_sid: request.account.clone(),
            phone_number_sid: None,
            caller: request.from.clone(),
            called: request.to.clone(),
            direction: CallDirection::OutboundApi,
            status: CallStatus::NotYetDialed,
            start_time: None,
            end_time: None,
            duration: None,
            failure: None,
            date_created: now,
            date_updated: now,
        };
        self.svc
            .store
            .insert_call(&record)
            .await
            .map_err(unavailable)?;
        let info = CallInfo {
            call_sid: sid.clone(),
            account_sid: request.account.clone(),
            caller: request.from.clone(),
            called: request.to.clone(),
        };
        let callbacks = Callbacks::start(
            &self.svc,
            &account.auth_token,
            &info,
            request.status_callback.clone(),
        );
        let placing = Placing {
            dialer: self.clone(),
            info,
            token: account.auth_token,
            script,
            destination,
            ring: Duration::from_secs(u64::from(request.timeout_secs)),
            callbacks,
        };
        let span = tracing::info_span!("call", call_sid = %sid, direction = "outbound-api");
        self.svc.tracker.spawn(placing.run().instrument(span));
        Ok(sid)
    }

    /// `Url`/`Twiml` hand a live call a new script; `Status=completed`
    /// hangs up an answered call (BYE) and, like `canceled`, cancels one
    /// that still rings (CANCEL). `canceled` leaves an answered call be,
    /// as Twilio does. A call that is not up is `NotFound`.
    pub async fn update(
        &self,
        account: &AccountSid,
        call: &CallSid,
        update: CallUpdate,
    ) -> Result<(), CallControlError> {
        let Some(live) = self.svc.live.get(call).filter(|l| l.account == *account) else {
            return Err(CallControlError::NotFound);
        };
        match update {
            CallUpdate::End { canceled: true } if live.answered => Ok(()),
            CallUpdate::End { .. } => {
                self.sip.hangup(live.sip).await;
                Ok(())
            }
            CallUpdate::Redirect(script) => {
                let request = DialRequest {
                    account: account.clone(),
                    from: String::new(),
                    to: String::new(),
                    timeout_secs: 0,
                    script,
                    status_callback: None,
                };
                let script = self
                    .script(&request)
                    .await
                    .map_err(|_| CallControlError::Unavailable)?;
                // A call that still rings runs nothing yet: Twilio refuses
                // to redirect it too (the API answers 21220 for it).
                let redirect = live.redirect.ok_or(CallControlError::NotFound)?;
                redirect
                    .send(script)
                    .await
                    .map_err(|_| CallControlError::NotFound)
            }
        }
    }

    /// `To`: a `sip:` URI (its host resolved here: the engine does no DNS),
    /// or a number for the account's trunk.
    async fn destination(&self, request: &DialRequest) -> Result<Destination, DialError> {
        let to = request.to.trim();
        if to.len() > 4 && to[..4].eq_ignore_ascii_case("sip:") {
            let uri = sip::Uri::parse(to).map_err(|_| DialError::BadTo)?;
            let target = uri.as_sip().ok_or(DialError::BadTo)?.clone();
            let next_hop = resolve(&target).await.ok_or(DialError::BadTo)?;
            return Ok(Destination {
                target,
                next_hop,
                credentials: None,
            });
        }
        if is_number(to) {
            return self.trunk_destination(&request.account, to).await;
        }
        Err(DialError::BadTo)
    }

    /// A number through the account's trunk: `sip:NUMBER@trunk-host:port`,
    /// with the trunk's credentials.
    async fn trunk_destination(
        &self,
        account: &AccountSid,
        number: &str,
    ) -> Result<Destination, DialError> {
        let trunk = self
            .svc
            .store
            .trunk_of(account)
            .await
            .map_err(|_| DialError::Control(CallControlError::Unavailable))?
            .ok_or_else(|| DialError::NoTrunk(number.to_owned()))?;
        let uri = sip::Uri::parse(&trunk.uri).map_err(|_| DialError::NoTrunk(number.to_owned()))?;
        let mut target = uri
            .as_sip()
            .ok_or_else(|| DialError::NoTrunk(number.to_owned()))?
            .clone();
        target.user = Some(number.to_owned());
        let next_hop = resolve(&target)
            .await
            .ok_or_else(|| DialError::NoTrunk(number.to_owned()))?;
        let credentials = trunk.username.map(|username| sip::Credentials {
            username,
            password: trunk.password.unwrap_or_default(),
        });
        Ok(Destination {
            target,
            next_hop,
            credentials,
        })
    }

    /// What the call runs once answered.
    async fn script(&self, request: &DialRequest) -> Result<ScriptSource, DialError> {
        Ok(match &request.script {
            CallScript::Url(fetchable) => {
                let url = HttpUrl::parse(&fetchable.url).map_err(|_| DialError::BadTo)?;
                ScriptSource::Webhook(url, fetchable.method)
            }
            CallScript::Twiml(document) => {
                // Relative URLs in it resolve against nothing of ours.
                let base = url::Url::parse("http://confab.invalid/")
                    .map_err(|_| DialError::Control(CallControlError::Unavailable))?;
                match twiml::Document::parse(document.as_bytes(), &base) {
                    Ok(document) => ScriptSource::Verbs(document.verbs),
                    Err(e) => {
                        tracing::info!(error = %e, "the call's Twiml does not parse: it hangs up");
                        ScriptSource::Verbs(Vec::new())
                    }
                }
            }
            CallScript::Conference {
                conference,
                options,
                label,
                coach,
                wait,
                status_callback,
            } => {
                let name = match conference {
                    ConferenceRef::Name(name) => name.clone(),
                    ConferenceRef::Sid(sid) => {
                        self.svc
                            .store
                            .conference(&request.account, sid)
                            .await
                            .map_err(|_| DialError::Control(CallControlError::Unavailable))?
                            .ok_or(DialError::NoConference)?
                            .friendly_name
                    }
                };
                let wait = match wait {
                    None => twiml::WaitAudio::BuiltIn,
                    Some(w) if w.url.trim().is_empty() => twiml::WaitAudio::Silence,
                    Some(w) => twiml::WaitAudio::Url {
                        url: HttpUrl::parse(&w.url).map_err(|_| DialError::BadTo)?,
                        method: w.method,
                    },
                };
                let dial = twiml::Dial {
                    action: None,
                    method: HttpMethod::Post,
                    hangup_on_star: false,
                    time_limit: PARTICIPANT_TIME_LIMIT,
                    conference: twiml::Conference {
                        name,
                        options: *options,
                        wait,
                        label: label.clone(),
                        coach: coach.clone(),
                        status_callback: status_callback.clone(),
                    },
                };
                ScriptSource::Verbs(vec![Verb::Dial(Box::new(dial))])
            }
        })
    }
}

/// One placed call, from the INVITE to its end.
struct Placing {
    dialer: Dialer,
    info: CallInfo,
    token: AuthToken,
    script: ScriptSource,
    destination: Destination,
    ring: Duration,
    callbacks: Option<Callbacks>,
}

/// How a placed call that never ran its script ended (its callback says
/// the status's 2010 word).
struct Unanswered {
    status: CallStatus,
    why: String,
}

impl Placing {
    async fn run(self) {
        let svc = self.dialer.svc.clone();
        let sid = self.info.call_sid.clone();
        let callbacks = self.callbacks.clone();
        let end = match self.place().await {
            Ok(()) => {
                let duration = svc
                    .store
                    .call(&sid)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| r.duration);
                if let Some(cb) = &callbacks {
                    cb.send("completed", CallStatus::Complete.as_2010_str(), duration);
                }
                return;
            }
            Err(end) => end,
        };
        let status = end.status.as_2010_str();
        tracing::info!(status, why = %end.why, "placed call not answered");
        let now = svc.clock.now();
        if let Err(e) = svc
            .store
            .finish_call(&sid, end.status, now, Some(&end.why))
            .await
        {
            tracing::error!(error = %e, "could not record the end of a placed call");
        }
        if let Some(cb) = &callbacks {
            cb.send("completed", end.status.as_2010_str(), None);
        }
    }

    /// Binds RTP, sends the INVITE, waits for the answer and runs the call.
    async fn place(self) -> Result<(), Unanswered> {
        let failed = |why: &str| Unanswered {
            status: CallStatus::FailedApplicationError,
            why: why.to_owned(),
        };
        let svc = self.dialer.svc.clone();
        let (socket, rtcp) = svc
            .ports
            .bind_pair(None)
            .map_err(|_| failed("no RTP port"))?;
        let rtp_port = socket
            .local_addr()
            .map_err(|_| failed("no RTP port"))?
            .port();
        let dial = sip::Dial {
            target: self.destination.target.clone(),
            next_hop: self.destination.next_hop,
            from_user: self.info.caller.clone(),
            from_display: None,
            local: None,
            rtp_port,
            ring_timeout: self.ring,
            credentials: self.destination.credentials.clone(),
        };
        let (call, mut events) = self
            .dialer
            .sip
            .dial(dial)
            .await
            .ok_or_else(|| failed("SIP is stopping"))?;
        // The INVITE is out: Twilio's `initiated` (a callback word only:
        // the call's own status is `queued` until it rings).
        if let Some(cb) = &self.callbacks {
            cb.send("initiated", "initiated", None);
        }
        let sid = self.info.call_sid.clone();
        svc.live.insert(
            sid.clone(),
            LiveCall {
                account: self.info.account_sid.clone(),
                sip: call,
                answered: false,
                redirect: None,
            },
        );
        let mut rang = false;
        let stop = svc.stop.token();
        let answered = loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = stop.cancelled() => {
                    self.dialer.sip.hangup(call).await;
                    svc.live.remove(&sid);
                    return Err(failed("the server stopped"));
                }
            };
            match event {
                Some(CallEvent::Ringing) if !rang => {
                    rang = true;
                    // Recorded before the callback goes, so an app that
                    // fetches the call on `ringing` reads it ringing.
                    match svc.store.ring_call(&sid, svc.clock.now()).await {
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "could not record a ringing call"),
                    }
                    if let Some(cb) = &self.callbacks {
                        cb.send("ringing", CallStatus::Ringing.as_2010_str(), None);
                    }
                }
                Some(CallEvent::Answered(audio)) => break audio,
                Some(CallEvent::DialFailed(failure)) => {
                    svc.live.remove(&sid);
                    return Err(unanswered(failure));
                }
                // Only our CANCEL ends a call before its answer: the API's
                // `Status=canceled` or `completed` (`Dialer::update`).
                Some(CallEvent::Ended(_)) | None => {
                    svc.live.remove(&sid);
                    return Err(Unanswered {
                        status: CallStatus::Canceled,
                        why: "canceled".to_owned(),
                    });
                }
                Some(_) => {}
            }
        };
        if let Some(cb) = &self.callbacks {
            cb.send("answered", CallStatus::InProgress.as_2010_str(), None);
        }
        let placed = Placed {
            info: self.info,
            token: self.token,
            script: self.script,
            call,
            sip: self.dialer.sip.clone(),
            events,
            audio: answered,
            socket,
            rtcp,
        };
        // `run_placed` files the call as answered, with its redirects.
        run_placed(svc.clone(), placed).await;
        svc.live.remove(&sid);
        Ok(())
    }
}

/// The record and the callback's status for a call that did not connect.
fn unanswered(failure: DialFailure) -> Unanswered {
    let status = match failure {
        DialFailure::Busy(_) => CallStatus::FailedBusy,
        DialFailure::NoAnswer | DialFailure::Timeout => CallStatus::FailedNoAnswer,
        DialFailure::Rejected(_) | DialFailure::BadAnswer => CallStatus::FailedApplicationError,
    };
    Unanswered {
        status,
        why: format!("{failure:?}"),
    }
}

/// A number `To`: digits, optionally after a `+` (E.164 at most 15).
fn is_number(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The address a SIP URI's host and port (5060 by default) name.
async fn resolve(uri: &sip::SipUri) -> Option<SocketAddr> {
    let port = uri.port.unwrap_or(5060);
    match &uri.host {
        sip::Host::Ip(ip) => Some(SocketAddr::new(*ip, port)),
        sip::Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .ok()?
            .next(),
        sip::Host::Ipv6Ref(_) => None,
    }
}

/// A call's StatusCallback: the events it wants, and the task that sends
/// them in order.
#[derive(Debug, Clone)]
struct Callbacks {
    callback: StatusCallback,
    info: CallInfo,
    queue: mpsc::UnboundedSender<WebhookRequest>,
    sequence: Arc<std::sync::atomic::AtomicU32>,
    clock: Arc<dyn crate::Clock>,
}

impl Callbacks {
    /// Starts the delivery task; `None` without a callback or with a URL
    /// that is not http(s).
    fn start(
        svc: &Arc<CallServices>,
        token: &AuthToken,
        info: &CallInfo,
        callback: Option<StatusCallback>,
    ) -> Option<Self> {
        let callback = callback?;
        HttpUrl::parse(&callback.url).ok()?;
        let (queue, mut rx) = mpsc::unbounded_channel::<WebhookRequest>();
        let client = svc.http.clone();
        let token = token.clone();
        let metrics = svc.metrics.clone();
        let span = tracing::Span::current();
        svc.tracker.spawn(
            async move {
                while let Some(request) = rx.recv().await {
                    let sent = tokio::time::timeout(
                        CALLBACK_TIMEOUT,
                        fetch::webhook(&client, &request, &token, &metrics),
                    )
                    .await;
                    match sent {
                        Ok(Ok(_)) => tracing::debug!("call status callback sent"),
                        Ok(Err(e)) => tracing::info!(error = %e, "call status callback failed"),
                        Err(_) => tracing::info!("call status callback timed out"),
                    }
                }
            }
            .instrument(span),
        );
        Some(Self {
            callback,
            info: info.clone(),
            queue,
            sequence: Arc::default(),
            clock: svc.clock.clone(),
        })
    }

    /// Queues `event` (if the callback asked for it) with the call's
    /// `status` as Twilio words it, and `CallDuration` on completion.
    fn send(&self, event: &str, status: &str, duration: Option<i64>) {
        let wanted = if self.callback.events.is_empty() {
            event == "completed"
        } else {
            self.callback.events.iter().any(|e| e == event)
        };
        if !wanted {
            return;
        }
        let Ok(url) = HttpUrl::parse(&self.callback.url) else {
            return;
        };
        let sequence = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let info = &self.info;
        let mut params = Params::new();
        params.push("AccountSid", info.account_sid.as_str());
        params.push("ApiVersion", "2010-04-01");
        params.push("CallSid", info.call_sid.as_str());
        params.push("CallStatus", status);
        params.push("Called", info.called.as_str());
        params.push("Caller", info.caller.as_str());
        params.push("Direction", "outbound-api");
        params.push("From", info.caller.as_str());
        params.push("To", info.called.as_str());
        params.push("CallbackSource", "call-progress-events");
        params.push("SequenceNumber", sequence.to_string());
        params.push("Timestamp", Timestamp::rfc2822(self.clock.now()));
        if let Some(duration) = duration {
            params.push("CallDuration", duration.to_string());
        }
        let _ = self.queue.send(WebhookRequest {
            url,
            method: self.callback.method,
            params,
        });
    }
}
