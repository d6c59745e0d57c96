//! What the serializer writes, the parser reads back to the same values:
//! requests and responses with generated headers (display names with
//! quotes, backslashes and control characters, escaped user parts, IPv6
//! hosts, quoted parameter values, unknown headers, binary bodies).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use sip::{
    CSeq, Headers, Host, MediaType, Message, Method, NameAddr, Param, RawHeader, Request, Response,
    SipCallId, SipUri, StatusCode, Uri, Via,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

fn param_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        token().prop_map(Some),
        "[ -!#-\\[\\]-~]{0,10}".prop_map(|s| Some(format!("\"{s}\""))),
    ]
}

fn params() -> impl Strategy<Value = Vec<Param>> {
    proptest::collection::vec((token(), param_value()), 0..3).prop_map(|ps| {
        ps.into_iter()
            .map(|(name, value)| Param { name, value })
            .collect()
    })
}

fn uri_params() -> impl Strategy<Value = Vec<Param>> {
    proptest::collection::vec((token(), proptest::option::of(token())), 0..3).prop_map(|ps| {
        ps.into_iter()
            .map(|(name, value)| Param { name, value })
            .collect()
    })
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6}){0,2}".prop_map(Host::Name),
        any::<std::net::Ipv4Addr>().prop_map(|ip| Host::Ip(IpAddr::V4(ip))),
        any::<std::net::Ipv6Addr>().prop_map(|ip| Host::Ip(IpAddr::V6(ip))),
    ]
}

fn sip_uri(with_headers: bool) -> impl Strategy<Value = SipUri> {
    (
        any::<bool>(),
        proptest::option::of("\\PC{1,12}"),
        host(),
        proptest::option::of(any::<u16>()),
        uri_params(),
        proptest::option::of("[A-Za-z0-9=%&-]{0,10}"),
    )
        .prop_map(move |(secure, user, host, port, params, headers)| SipUri {
            secure,
            user,
            password: None,
            host,
            port,
            params,
            headers: headers.filter(|_| with_headers),
        })
}

fn uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        4 => sip_uri(true).prop_map(Uri::Sip),
        1 => ("[a-z][a-z0-9+.-]{0,5}", "[A-Za-z0-9:/.+-]{1,12}")
            .prop_filter("not sip", |(scheme, _)| {
                !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips")
            })
            .prop_map(|(scheme, rest)| Uri::Other { scheme, rest }),
    ]
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (proptest::option::of("[^\r\n]{0,16}"), uri(), params()).prop_map(|(display, uri, params)| {
        NameAddr {
            display,
            uri,
            params,
        }
    })
}

fn via() -> impl Strategy<Value = Via> {
    (
        "[A-Z]{2,5}",
        host(),
        proptest::option::of(any::<u16>()),
        params(),
    )
        .prop_map(|(transport, host, port, params)| Via {
            protocol: "SIP/2.0".to_owned(),
            transport,
            host,
            port,
            params,
        })
}

fn media_type() -> impl Strategy<Value = MediaType> {
    (token(), token(), params()).prop_map(|(kind, subtype, params)| MediaType {
        kind,
        subtype,
        params,
    })
}

fn method() -> impl Strategy<Value = Method> {
    token().prop_map(|t| Method::from_token(&t))
}

fn headers() -> impl Strategy<Value = Headers> {
    let addresses = (
        proptest::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        proptest::collection::vec(name_addr(), 0..3),
        proptest::collection::vec(name_addr(), 0..3),
        proptest::collection::vec(name_addr(), 0..3),
    );
    let rest = (
        "[A-Za-z0-9.@_!%*+~-]{1,30}",
        (any::<u32>(), method()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(media_type()),
        proptest::collection::vec(token(), 0..3),
        proptest::option::of(proptest::collection::vec(media_type(), 0..3)),
        proptest::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[^\r\n]{0,30}"), 0..4),
    );
    (addresses, rest).prop_map(
        |(
            (via, from, to, contact, route, record_route),
            (call_id, (seq, cseq_method), max_forwards, content_type, require, accept, other),
        )| Headers {
            via,
            from,
            to,
            call_id: SipCallId(call_id),
            cseq: CSeq {
                seq,
                method: cseq_method,
            },
            max_forwards,
            contact,
            route,
            record_route,
            content_type,
            require,
            accept,
            other: other
                .into_iter()
                .map(|(name, value)| RawHeader {
                    name,
                    value: value.trim_matches([' ', '\t']).to_owned(),
                })
                .collect(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn requests_round_trip(
        method in method(),
        uri in sip_uri(false),
        headers in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let request = Request { method, uri: Uri::Sip(uri), headers, body };
        let bytes = request.to_bytes();
        prop_assert_eq!(Message::parse(&bytes), Ok(Message::Request(request)), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn responses_round_trip(
        code in 100u16..=699,
        reason in "[^\r\n]{0,20}",
        headers in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let response = Response { status: StatusCode::new(code).unwrap(), reason, headers, body };
        let bytes = response.to_bytes();
        prop_assert_eq!(Message::parse(&bytes), Ok(Message::Response(response)), "{}", String::from_utf8_lossy(&bytes));
    }
}
