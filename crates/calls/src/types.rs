//! What goes into a [`Call`](crate::Call) and what comes out: plain data, no
//! sockets, no handles. The shell turns each [`CallCommand`] into I/O and
//! each result back into a [`CallInput`].

use std::time::Duration;

use conference::{JoinError, JoinRequest, LeaveReason};
use model::{CallStatus, ConferenceSid, ConferenceStatus, HttpMethod};
use twiml::{
    AppError, Document, FetchError, FetchedBody, HttpUrl, Verb, Voice, WaitWarning, Warning,
    WebhookRequest,
};

/// Names one piece of work the shell does for the call (a fetch, a clip
/// being made, a play). A result carrying an id the call no longer waits
/// for is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(pub u64);

/// Where a routed call's verbs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptSource {
    /// The number's voice URL: fetched first, asked again when the call ends.
    Webhook(HttpUrl, HttpMethod),
    /// Verbs that came with the route (an open room's built-in script).
    Verbs(Vec<Verb>),
}

/// The built-in TwiML of an open room, `<Dial><Conference>room</Conference></Dial>`,
/// for [`ScriptSource::Verbs`]: the room's name is the Request-URI user,
/// escaped, with control characters dropped.
pub fn open_room(room: &str) -> Option<Vec<Verb>> {
    let mut name = String::with_capacity(room.len());
    for c in room.chars() {
        match c {
            '&' => name.push_str("&amp;"),
            '<' => name.push_str("&lt;"),
            '>' => name.push_str("&gt;"),
            c if c.is_control() => {}
            c => name.push(c),
        }
    }
    let xml = format!("<Response><Dial><Conference>{name}</Conference></Dial></Response>");
    let base = url::Url::parse("http://confab.invalid/").ok()?;
    Document::parse(xml.as_bytes(), &base).ok().map(|d| d.verbs)
}

/// Something that happened to the call.
#[derive(Debug)]
pub enum CallInput {
    /// The shell's answer to [`CallCommand::BindRtp`]: the port, or `None`
    /// if none could be bound.
    RtpBound(Option<u16>),
    /// The answer to [`CallCommand::Answer`]: `false` if the call ended
    /// before it could be answered.
    Answered(bool),
    /// The SIP dialog.
    Sip(SipNotice),
    /// The hub put the call in a room ([`CallCommand::Join`]): the room's
    /// status right after, and whether it has a media task for wait audio.
    Joined {
        conference: ConferenceSid,
        status: ConferenceStatus,
        has_room: bool,
    },
    /// The join did not happen: the rules' refusal (the hub being away
    /// counts as [`JoinError::Full`]), its words for the log, and whether
    /// the call's media came back.
    JoinFailed {
        error: JoinError,
        reason: String,
        media_back: bool,
    },
    /// What the room tells a call in it.
    Room(RoomNotice),
    /// A [`CallCommand::Fetch`] finished.
    Fetched {
        id: ReqId,
        result: Result<FetchedBody, FetchError>,
    },
    /// A [`CallCommand::MakeClip`] finished: the clip is ready under `id`,
    /// or why not.
    ClipMade {
        id: ReqId,
        result: Result<(), String>,
    },
    /// A [`CallCommand::Play`] played to its end.
    PlayEnded { id: ReqId },
    /// The caller's latest RTP packet (from its latched source) arrived at
    /// this instant: the [`TimerKind::RtpInactivity`](crate::TimerKind)
    /// deadline moves to it plus the timeout. The shell reports it when it
    /// likes (before acting on that deadline is enough); an instant older
    /// than one reported before changes nothing. RTCP does not count.
    RtpSeen(std::time::Instant),
    /// The caller pressed a key (`0`–`9`, `*`, `#`, `A`–`D`) while out of a
    /// room: an RFC 4733 event or an in-band tone on the call's own media,
    /// or a SIP INFO. The shell reports every one; a `<Gather>` takes it,
    /// else it is dropped. (In a room the hub hears the keys.)
    Digit(char),
    /// The server is stopping.
    Shutdown,
}

/// SIP, as far as the call cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipNotice {
    /// The caller acknowledged the answer.
    Acked,
    /// A re-INVITE put the leg on hold or took it off.
    Hold(bool),
    /// A re-INVITE moved the media (the shell keeps the new SDP).
    MediaMoved,
    /// The dialog is over (the caller hung up, or the SIP side gave up).
    Ended,
}

/// What a room tells the call in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomNotice {
    /// The call is out of the room; `media_back` if its leg came back.
    Left {
        reason: LeaveReason,
        media_back: bool,
    },
    /// The wait source set for the call played to its end.
    WaitEnded,
    /// The room started: wait audio is over.
    Started,
    /// The room's channel closed without a `Left` (the server is going).
    Gone,
}

/// Something the shell should do for the call.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum CallCommand {
    /// Bind an RTP port; report [`CallInput::RtpBound`].
    BindRtp,
    /// Answer (200 OK with that port); report [`CallInput::Answered`].
    Answer { rtp_port: u16 },
    /// Refuse the call with 503 (no RTP port): the call failed.
    RejectUnavailable,
    /// Send BYE.
    Hangup,
    /// Request a TwiML document (or wait audio), signed; report
    /// [`CallInput::Fetched`].
    Fetch { id: ReqId, request: WebhookRequest },
    /// Drop the work under `id` (a fetch or a clip being made),
    /// unfinished; or stop the [`CallCommand::Play`] under `id` (a key
    /// barged in on a `<Gather>`'s prompt). Nothing is reported for it.
    Cancel { id: ReqId },
    /// Make a clip; report [`CallInput::ClipMade`] and keep it under `id`
    /// until [`CallCommand::ForgetClip`].
    MakeClip { id: ReqId, source: ClipSource },
    /// The clip under `id` is no longer needed.
    ForgetClip { id: ReqId },
    /// Play `clip` to the caller through the call's own media, to its end;
    /// report [`CallInput::PlayEnded`].
    Play { id: ReqId, clip: Clip },
    /// Hand the leg to the hub for this room, with `wait` as its first wait
    /// source; report [`CallInput::Joined`] or [`CallInput::JoinFailed`],
    /// then the room's notices as [`CallInput::Room`].
    Join {
        request: JoinRequest,
        wait: Option<Clip>,
        hangup_on_star: bool,
    },
    /// Ask the hub to take the call out of its room; its `Left` follows
    /// (except at shutdown and hang-up, when the call does not wait).
    Leave(LeaveReason),
    /// The leg is in a room: tell the hub.
    UpdateLeg(LegChange),
    /// The leg is the call's own: tell its player.
    UpdatePlayer(LegChange),
    /// The call's wait audio in its room (`None`: silence).
    SetWaitSource(Option<Clip>),
    /// The call record.
    Record(RecordChange),
    /// Send the end-of-call request (`CallStatus=completed`); nothing waits
    /// for it.
    Notify(WebhookRequest),
    /// A line for the call's log.
    Log(LogLine),
}

/// A change SIP made to the leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegChange {
    Hold(bool),
    /// Where the media goes now (the shell has the new SDP).
    Moved,
}

/// Audio the shell makes (slow: TTS, HTTP, decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipSource {
    /// `<Say>`: espeak-ng.
    Say { text: String, voice: Voice },
    /// `<Play>`: fetch and decode a WAV or MP3.
    Url(HttpUrl),
    /// A wait URL's audio response, to decode.
    Audio { body: Vec<u8>, content_type: String },
}

/// Audio to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clip {
    /// A clip made by [`CallCommand::MakeClip`], played once.
    Made(ReqId),
    /// `<Pause>`: this much silence, sent as 20 ms frames.
    Silence(Duration),
    /// The short application-error tone.
    ErrorTone,
    /// confab's hold music, once.
    HoldMusicOnce,
    /// confab's hold music, looping (the built-in wait audio).
    HoldMusicForever,
}

/// A change to the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// The call was answered: insert its record (in progress, started now).
    Start,
    /// The call is over: its final status, and why it failed if it did.
    Finish {
        status: CallStatus,
        failure: Option<String>,
    },
}

/// How a call ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The SIP call is over (the caller hung up, or never acknowledged).
    Gone,
    /// The script hung up; the BYE is on its way.
    HungUp,
    /// The server is stopping.
    Shutdown,
}

/// A line for the log, with the level the shell writes it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// info: a tolerated oddity in a document.
    Tolerated(Warning),
    /// info: a TwiML request failed (the script decides what follows).
    FetchFailed(FetchError),
    /// warn: audio for the caller could not be made; the verb is skipped.
    AudioFailed(String),
    /// warn: the application failed the call.
    AppFailed(AppError),
    /// info: the call could not join the conference.
    JoinFailed(String),
    /// info: joined the conference.
    Joined(ConferenceSid),
    /// info: left the conference.
    Left(LeaveReason),
    /// info: the `<Dial>` time limit is up.
    TimeLimitUp,
    /// info: no RTP from the caller for the `--rtp-timeout`: hung up.
    RtpTimeout(Duration),
    /// info: wait audio tolerated or fell back.
    Wait(WaitWarning),
    /// info: wait audio could not be played.
    WaitAudioFailed(String),
    /// info: the call ended.
    Ended { end: CallEnd, status: CallStatus },
}
