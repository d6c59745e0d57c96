//! Offer/answer coverage and SIP INFO DTMF end to end, over real sockets:
//! a trunk's delayed offer (our offer in the 200, its answer in the ACK)
//! hears and is heard in a room in the codec its answer chose, a caller
//! with G.711 on a dynamic payload type (98) hears and is heard, and a `*`
//! sent as SIP INFO takes a `hangupOnStar` caller out of its room like an
//! RFC 4733 `*` does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::caller::{Caller, Line, hears};
use crate::common::rig::{App, Rig, add_number_for, param};
use model::HttpMethod;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_offer_caller_hears_and_is_heard_in_the_codec_its_ack_answered() {
    let rig = Rig::new((48000, 48049), true).await;
    let plain = Caller::dial(rig.sip, "trunk", "plain", 440).await.unwrap();
    // The phone records only packets of the codec it answered (PCMA), so
    // hearing anything proves the server sends what the ACK chose.
    let trunk = Caller::dial_on(Line::DELAYED_PCMA, rig.sip, "trunk", "trunk", 1100)
        .await
        .unwrap();
    rig.room_with("trunk", 2).await;
    trunk
        .until_heard(
            "the delayed-offer caller hears the other",
            hears(440.0, 1100.0),
        )
        .await;
    plain
        .until_heard(
            "the other hears the delayed-offer caller",
            hears(1100.0, 440.0),
        )
        .await;
    trunk.hang_up().await;
    plain.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_pcmu_on_payload_type_98_hears_and_is_heard() {
    let rig = Rig::new((48100, 48149), true).await;
    let plain = Caller::dial(rig.sip, "pt98", "plain", 440).await.unwrap();
    let pt98 = Caller::dial_on(Line::PCMU_98, rig.sip, "pt98", "pt98", 1100)
        .await
        .unwrap();
    rig.room_with("pt98", 2).await;
    // The phone places only packets on the payload types it negotiated
    // (98, and the static 0 and 8), and sends on 98 only.
    pt98.until_heard("the PT 98 caller hears the other", hears(440.0, 1100.0))
        .await;
    plain
        .until_heard("the other hears the PT 98 caller", hears(1100.0, 440.0))
        .await;
    let stats = pt98.call().rtp_stats();
    assert_eq!(stats.other_codec, 0, "{stats:?}");
    pt98.hang_up().await;
    plain.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_star_in_a_sip_info_takes_a_hangup_on_star_caller_out_of_its_room() {
    let rig = Rig::new((48050, 48099), false).await;
    let (base, hits) = App::new()
        .twiml(
            "/star",
            "<Response><Dial hangupOnStar=\"true\"><Conference beep=\"false\">\
             info-star</Conference></Dial></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550700",
        &format!("{base}/star"),
        HttpMethod::Post,
    )
    .await;
    let mut star = Caller::dial(rig.sip, "5550700", "star", 700).await.unwrap();
    let call = param(&hits.to("/star", "").await, "CallSid").to_owned();
    // One caller alone waits in an init (status 0) room.
    let (cf, calls) = rig.room_of(&account, "info-star", "0", 1).await;
    assert_eq!(calls, [call]);

    // Another key is taken (the hub's unit tests show it changes nothing);
    // a body we do not read is refused.
    assert_eq!(
        star.info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
            .await,
        200
    );
    assert_eq!(
        star.info("application/media_control+xml", "<x/>").await,
        415
    );

    // `*` by INFO: out of the room (it completes), and with nothing after
    // the <Dial> the call hangs up.
    assert_eq!(
        star.info("application/dtmf-relay", "Signal=*\r\nDuration=160\r\n")
            .await,
        200
    );
    rig.until_status(&cf, "2").await;
    star.expect_bye().await;
    rig.server.stop().await;
}
